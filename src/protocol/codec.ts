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
