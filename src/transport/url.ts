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
    // Unparseable, but still printed so the user sees the typo: mask whatever
    // stands where a password would, between a colon and an @.
    return raw.replace(/:[^:@/]*@/, ':***@');
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
