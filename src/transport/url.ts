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

/**
 * The URL without its password (and without a username, if it had a password).
 * A comma-separated list is masked URL by URL.
 */
export function redactUrl(raw: string): string {
  if (raw.includes(',')) {
    return raw
      .split(',')
      .map((part) => redactOne(part.trim()))
      .join(',');
  }
  return redactOne(raw);
}

function redactOne(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) {
      url.password = '***';
    }
    return url.toString().replace(/\/$/, '');
  } catch {
    return redactUnparseable(raw);
  }
}

/**
 * Mask what may be a password in something that is not a URL, still printed
 * so the user sees the typo: the user info's part after its colon (up to the
 * last @, a password may hold `/` or `@`), everything before an @ when there
 * is no scheme (the tail of a password cut at a comma), and `user:secret`
 * with no @ at all (its head), unless what follows the colon is a port.
 */
function redactUnparseable(raw: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(raw)?.[0] ?? '';
  const rest = raw.slice(scheme.length);
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(':');
    if (colon >= 0) {
      return `${scheme}${userinfo.slice(0, colon)}:***${rest.slice(at)}`;
    }
    return `${scheme}${scheme ? userinfo : '***'}${rest.slice(at)}`;
  }
  const parts = /^([^:/?#]*):([^/?#]*)(.*)$/.exec(rest);
  if (parts && !/^\d*$/.test(parts[2] ?? '')) {
    return `${scheme}${parts[1] ?? ''}:***${parts[3] ?? ''}`;
  }
  return raw;
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

/**
 * Split a broker setting into its URLs: a comma-separated list
 * (`amqp://a:5672,amqp://b:5672`), as `--broker`, `MSGFLO_BROKER`,
 * `CLOUDAMQP_URL` and participant files accept it; blanks around commas are
 * ignored. A comma inside a password must be percent-encoded (`%2C`).
 *
 * Every URL is checked with {@link parseBrokerUrl}; all must select the same
 * transport. Throws {@link BrokerUrlError} for an empty list, for a URL that
 * is not valid (naming its position, e.g. "broker URL 2 of 3", with any
 * password masked), and for a list that mixes protocols.
 *
 * @returns the URLs in the order given (at least one), and their protocol
 */
export function parseBrokerList(raw: string): { urls: string[]; protocol: BrokerProtocol } {
  const urls = raw
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  if (urls.length === 0) {
    throw new BrokerUrlError(`invalid broker URL list "${redactUrl(raw)}": no URL in it`);
  }
  let first: BrokerProtocol | undefined;
  urls.forEach((url, index) => {
    let protocol: BrokerProtocol;
    try {
      ({ protocol } = parseBrokerUrl(url));
    } catch (err) {
      if (urls.length === 1 || !(err instanceof BrokerUrlError)) {
        throw err;
      }
      throw new BrokerUrlError(`broker URL ${index + 1} of ${urls.length}: ${err.message}`, { cause: err });
    }
    first ??= protocol;
    if (protocol !== first) {
      throw new BrokerUrlError(`broker URL ${index + 1} of ${urls.length} "${redactUrl(url)}" is ${protocol}, the first is ${first}: a list names nodes of one broker`);
    }
  });
  return { urls, protocol: first as BrokerProtocol };
}

/** Join broker settings given more than once (a repeated `--broker`, a JSON array) into one list. */
export function joinBrokerList(values: string | readonly string[]): string {
  return typeof values === 'string' ? values : values.join(',');
}
