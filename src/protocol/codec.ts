/**
 * Message bodies on the wire: the JSON encoding of the packet. A body that is
 * not valid JSON is delivered as a string (WIRE: "Messages").
 */

/**
 * Encode a packet as a message body. `undefined` travels as `null`; an Error
 * (what NoFlo sends on `error` ports) as `{ name, message }`, since its own
 * JSON encoding is an empty object.
 */
export function encode(data: unknown): Buffer {
  if (data === undefined) {
    return Buffer.from('null');
  }
  if (data instanceof Error) {
    return Buffer.from(JSON.stringify({ name: data.name, message: data.message }));
  }
  return Buffer.from(JSON.stringify(data));
}

/** Decode a message body: parsed JSON, or the text itself when it is not JSON. */
export function decode(body: Buffer | string): unknown {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    // Not JSON: by contract the receiver gets the text as it is.
    return text;
  }
}

/** Limits on incoming message bodies. */
export interface BodyLimits {
  /** Largest body accepted, in bytes. */
  readonly maxBytes: number;
  /** Deepest nesting of JSON arrays and objects accepted. */
  readonly maxDepth: number;
}

/** A decoded body, or why it was refused. */
export type Decoded = { readonly ok: true; readonly data: unknown } | { readonly ok: false; readonly reason: string };

/**
 * Decode a body within `limits`. Over-deep JSON is refused before parsing:
 * it parses, but every recursive step after it (NoFlo's, JSON.stringify of
 * the outputs) overflows the stack.
 */
export function decodeWithin(body: Buffer, limits: BodyLimits): Decoded {
  if (body.length > limits.maxBytes) {
    return { ok: false, reason: `message too large: ${body.length} bytes, the limit is ${limits.maxBytes}` };
  }
  // A body can only nest deeper than the limit if it has twice as many bytes.
  if (body.length > 2 * limits.maxDepth && nestsDeeperThan(body, limits.maxDepth)) {
    return { ok: false, reason: `message nested too deeply: more than ${limits.maxDepth} levels of JSON arrays and objects` };
  }
  return { ok: true, data: decode(body) };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPENERS = new Set([0x5b, 0x7b]);
const CLOSERS = new Set([0x5d, 0x7d]);

/** Whether JSON text nests arrays and objects deeper than `limit`, strings skipped. */
function nestsDeeperThan(body: Buffer, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i += 1) {
    const byte = body[i] as number;
    if (inString) {
      if (byte === BACKSLASH) {
        i += 1;
      } else if (byte === QUOTE) {
        inString = false;
      }
    } else if (byte === QUOTE) {
      inString = true;
    } else if (OPENERS.has(byte)) {
      depth += 1;
      if (depth > limit) {
        return true;
      }
    } else if (CLOSERS.has(byte)) {
      depth -= 1;
    }
  }
  return false;
}
