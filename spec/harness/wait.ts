/**
 * Waiting for asynchronous outcomes in tests, with a deadline.
 */

/** Resolve once `condition()` holds; reject with `what` after `timeoutMs`. */
export async function eventually(condition: () => boolean, what: string | (() => string), timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
