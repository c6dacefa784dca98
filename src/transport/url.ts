/**
 * Broker URL parsing: which transport a URL selects, and how to print it
 * without its credentials.
 */
import { BrokerUrlError } from '../errors';

/** Schemes we support, by transport protocol. */
export const SUPPORTED_SCHEMES = {
  amqp: ['amqp:', 'amqps:'],
  mqtt: ['mqtt:', 'mqtts:'],
  memory: ['memory:'],
} as const;

/** A transport protocol family. */
export type BrokerProtocol = keyof typeof SUPPORTED_SCHEMES;

const schemeList = Object.values(SUPPORTED_SCHEMES)
  .flat()
  .map((s) => `${s}//`)
  .join(', ');

/** The URL without its password (and without a username, if it had a password). */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) {
      url.password = '***';
    }
    return url.toString().replace(/\/$/, '');
  } catch {
    // Unparseable: print only what cannot carry credentials.
    const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(raw);
    return scheme ? `${scheme[0]}//…` : '(malformed URL)';
  }
}

/** Parse a broker URL and tell which transport it selects; throws {@link BrokerUrlError}. */
export function parseBrokerUrl(raw: string): { url: URL; protocol: BrokerProtocol } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch (cause) {
    throw new BrokerUrlError(`invalid broker URL "${redactUrl(raw)}": not a URL; supported schemes: ${schemeList}`, { cause });
  }
  for (const [protocol, schemes] of Object.entries(SUPPORTED_SCHEMES) as Array<[BrokerProtocol, readonly string[]]>) {
    if (schemes.includes(url.protocol)) {
      if (protocol !== 'memory' && !url.hostname) {
        throw new BrokerUrlError(`invalid broker URL "${redactUrl(raw)}": no host; supported schemes: ${schemeList}`);
      }
      return { url, protocol };
    }
  }
  throw new BrokerUrlError(`unsupported broker URL scheme "${url.protocol}" in "${redactUrl(raw)}"; supported schemes: ${schemeList}`);
}
