/**
 * Loading a module at its first use rather than at start: what a plain
 * participant does not use (the other protocol's client library, metrics,
 * the WebSocket server, the full FBP runtime, Flowtrace, ...) costs it no
 * start-up time and no memory. See docs/performance.md, "What a participant
 * loads at start".
 */

/**
 * A function that calls `load` the first time it is called and returns its
 * result then and after, e.g. a module's `require()`:
 * `const loadAmqp = once(() => require('./amqp') as typeof import('./amqp'))`.
 * An error `load` throws is thrown again by the next call, which retries.
 */
export function once<T>(load: () => T): () => T {
  let loaded: { readonly value: T } | undefined;
  return () => {
    loaded ??= { value: load() };
    return loaded.value;
  };
}
