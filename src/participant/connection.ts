/**
 * From participant options to the transport's connection options.
 */
import { readFileSync } from 'node:fs';
import { InvalidOptionError, errorMessage } from '../errors';
import type { TlsOptions, TransportOptions } from '../transport/options';
import type { ParticipantOptions } from './options';

/** The connection options a participant's transport needs; reads the TLS files. */
export function transportOptions(options: ParticipantOptions): TransportOptions {
  const result: TransportOptions = {
    connectTimeoutMs: options.connectTimeout,
    clientId: `${options.clientId}-pub`,
  };
  if (options.mqttQos === 0) {
    result.mqttQos = 0;
  }
  const tls = readTls(options.tls);
  if (tls) {
    result.tls = tls;
  }
  return result;
}

/** Read TLS files (PEM) named by `--tls-ca`, `--tls-cert`, `--tls-key`; undefined when none is named. */
export function readTls(files: { readonly ca?: string | undefined; readonly cert?: string | undefined; readonly key?: string | undefined }): TlsOptions | undefined {
  const tls: TlsOptions = {};
  for (const key of ['ca', 'cert', 'key'] as const) {
    const file = files[key];
    if (file) {
      try {
        tls[key] = readFileSync(file);
      } catch (cause) {
        throw new InvalidOptionError(`invalid --tls-${key} "${file}": ${errorMessage(cause)}`, { cause });
      }
    }
  }
  return Object.keys(tls).length > 0 ? tls : undefined;
}
