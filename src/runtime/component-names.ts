/**
 * Component and graph names as NoFlo's ComponentLoader resolves them: pure
 * data, no I/O. `load(name)` takes the exact name; failing that, a name
 * without a library (`IIPKickTest`) stands for `*\/IIPKickTest`, the first
 * registered component or graph of that name in any library. The first is a
 * matter of listing order, so where we choose (the graph to run) a name that
 * fits several is refused instead, naming them.
 */

/** What a name stands for among the registered ones. */
export type NameLookup =
  /** One registered name; `alias` when it was found through its library-less form. */
  | { readonly kind: 'found'; readonly name: string; readonly alias: boolean }
  /** A library-less name that fits several libraries; NoFlo would load the first. */
  | { readonly kind: 'ambiguous'; readonly candidates: readonly string[] }
  | { readonly kind: 'missing' };

/**
 * Look `name` up among `registered` (in the loader's order) as NoFlo's
 * ComponentLoader does: the exact name, else every `library/name`.
 */
export function lookupComponent(name: string, registered: readonly string[]): NameLookup {
  if (registered.includes(name)) {
    return { kind: 'found', name, alias: false };
  }
  // NoFlo compares the part after the first slash, so only a name without one can match.
  const candidates = registered.filter((known) => known.split('/')[1] === name);
  const [first] = candidates;
  if (first === undefined) {
    return { kind: 'missing' };
  }
  if (candidates.length === 1) {
    return { kind: 'found', name: first, alias: true };
  }
  return { kind: 'ambiguous', candidates };
}

/** The name NoFlo itself loads for `name`: the exact one, else the first alias; undefined when none. */
export function nofloChoice(lookup: NameLookup): string | undefined {
  switch (lookup.kind) {
    case 'found':
      return lookup.name;
    case 'ambiguous':
      return lookup.candidates[0];
    case 'missing':
      return undefined;
  }
}

/** "a, b and c", for messages. */
export function listNames(names: readonly string[]): string {
  if (names.length <= 1) {
    return names.join('');
  }
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1] as string}`;
}
