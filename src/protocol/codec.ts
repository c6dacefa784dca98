/**
 * Message bodies on the wire: the JSON encoding of the packet. A body that is
 * not valid JSON is delivered as a string (WIRE: "Messages").
 */
import { isUtf8 } from 'node:buffer';

/** A packet as a body already encoded, which {@link encode} returns as it is. */
export class Encoded {
  constructor(readonly body: Buffer) {}
}

/**
 * Encode a packet as a message body. `undefined` travels as `null`; an Error
 * (what NoFlo sends on `error` ports) as `{ name, message }`, since its own
 * JSON encoding is an empty object.
 */
export function encode(data: unknown): Buffer {
  if (data instanceof Encoded) {
    return data.body;
  }
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
export type Decoded =
  | {
      readonly ok: true;
      readonly data: unknown;
      /** The body is JSON text of a string, `data` (see {@link reuseBody}). */
      readonly jsonString: boolean;
    }
  | { readonly ok: false; readonly reason: string };

/**
 * Decode a body within `limits`. Over-deep JSON is refused before parsing:
 * it parses, but every recursive step after it (NoFlo's, JSON.stringify of
 * the outputs) overflows the stack.
 */
export function decodeWithin(body: Buffer, limits: BodyLimits): Decoded {
  if (body.length > limits.maxBytes) {
    return { ok: false, reason: `message too large: ${body.length} bytes, the limit is ${limits.maxBytes}` };
  }
  // A body can only nest deeper than the limit if it has twice as many
  // bytes, and more opening brackets than the limit.
  if (body.length > 2 * limits.maxDepth && hasMoreOpenersThan(body, limits.maxDepth) && nestsDeeperThan(body, limits.maxDepth)) {
    return { ok: false, reason: `message nested too deeply: more than ${limits.maxDepth} levels of JSON arrays and objects` };
  }
  const text = body.toString('utf8');
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    // Not JSON: by contract the receiver gets the text as it is.
    return { ok: true, data: text, jsonString: false };
  }
  return { ok: true, data, jsonString: typeof data === 'string' };
}

/**
 * What to send for `output`, a packet of the job whose input came in as
 * `body`, JSON text of the string `input` (undefined when it was not): that
 * body itself when `output` is that same string, as every receiver decodes
 * it to the same string; encoding a large string again costs more than the
 * rest of the job. Otherwise `output`. Strings only: a component may have
 * changed an object in place, and a number's text may differ from
 * JSON.stringify's (`1.0`, which some languages decode as a float, not an
 * integer). A body that is not valid UTF-8 is encoded again, as before.
 */
export function reuseBody(output: unknown, input: string | undefined, body: Buffer): unknown {
  return input !== undefined && output === input && isUtf8(body) ? new Encoded(body) : output;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;

/**
 * Whether a body holds more than `limit` bytes `[` and `{`, counted with
 * native searches: most bodies have few, and skip the byte-by-byte scan.
 */
function hasMoreOpenersThan(body: Buffer, limit: number): boolean {
  let count = 0;
  for (const opener of [OPEN_ARRAY, OPEN_OBJECT]) {
    for (let i = body.indexOf(opener); i >= 0; i = body.indexOf(opener, i + 1)) {
      count += 1;
      if (count > limit) {
        return true;
      }
    }
  }
  return false;
}

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
    } else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
      depth += 1;
      if (depth > limit) {
        return true;
      }
    } else if (byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) {
      depth -= 1;
    }
  }
  return false;
}
