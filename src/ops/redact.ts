/**
 * Keeping credentials out of what is logged and served: a broker URL in an
 * error message keeps its user name, never its password.
 */

const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/[^:@/\s]*):[^@/\s]*@/gi;

/** `text` with the password of every `scheme://user:password@` in it masked. */
export function scrubCredentials(text: string): string {
  return text.replace(URL_CREDENTIALS, '$1:***@');
}
