/**
 * Strict validation of FBP runtime protocol messages against the schemas of
 * the fbp-protocol package: `/<protocol>/output/<command>`, with unknown keys
 * rejected anywhere the schema describes the object. Only packet contents,
 * which the protocol leaves free (`network:data` data, `runtime:packet`
 * payloads, IIP data, port defaults), may hold any keys.
 */
import assert from 'node:assert/strict';

interface SchemaError {
  code: number;
  message: string;
  dataPath: string;
}

interface Tv4 {
  freshApi(): Tv4;
  addSchema(uri: string, schema: unknown): void;
  getSchema(uri: string): unknown;
  validateMultiple(data: unknown, schema: unknown, checkRecursive: boolean, banUnknownProperties: boolean): { valid: boolean; errors: SchemaError[] };
  errorCodes: Record<string, number>;
}

/**
 * A validator of its own, on a copy of the schemas: registering them changes
 * them in place, and FBP clients in the same process (fbp-client) register
 * the same objects with a validator of theirs.
 */
const tv4 = (require('tv4') as Tv4).freshApi();
const schemas = structuredClone(require('fbp-protocol/schema/schemas') as Record<string, unknown>);
for (const name of ['shared', 'graph', 'network', 'runtime', 'component', 'trace']) {
  tv4.addSchema(`/${name}/`, schemas[name]);
}
(require('fbp-protocol/schema/format') as (validator: Tv4) => void)(tv4);

/** Paths of values the protocol leaves free-form: any keys are fine below them. */
const FREE_FORM = [/^\/payload\/data\//, /^\/payload\/payload\//, /^\/payload\/src\/data\//, /^\/payload\/(in|out)Ports\/\d+\/(default|values|schema)\//];

/** What is wrong with `message` by the protocol's output schemas; empty when valid. */
export function fbpSchemaErrors(message: unknown): string[] {
  const m = message as { protocol?: unknown; command?: unknown } | null;
  if (!m || typeof m.protocol !== 'string' || typeof m.command !== 'string') {
    return ['not an FBP protocol message: expected {protocol, command, payload}'];
  }
  const uri = `/${m.protocol}/output/${m.command}`;
  const schema = tv4.getSchema(uri);
  if (!schema) {
    return [`no schema ${uri}: the protocol has no such message`];
  }
  const result = tv4.validateMultiple(message, schema, false, true);
  return result.errors
    .filter((e) => !(e.code === tv4.errorCodes.UNKNOWN_PROPERTY && FREE_FORM.some((path) => path.test(e.dataPath))))
    .map((e) => `${uri} ${e.dataPath || '/'}: ${e.message}`);
}

/** Fail unless every message is valid by the protocol's schemas, strictly. */
export function assertFbpMessages(messages: readonly unknown[]): void {
  for (const message of messages) {
    const errors = fbpSchemaErrors(message);
    assert.deepEqual(errors, [], `invalid FBP protocol message ${JSON.stringify(message)}:\n${errors.join('\n')}`);
  }
}
