/**
 * Reading a process's operations endpoint in tests.
 */

/** The value of one sample of a Prometheus text exposition, 0 when absent. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) {
      continue;
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) {
      continue;
    }
    const have = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => have[key] === value)) {
      total += Number(match[3]);
      found = true;
    }
  }
  return found ? total : 0;
}

/** GET a URL; resolves with the status and body. */
export async function get(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: response.status, body: await response.text() };
}

/** The endpoint URL a command printed (`metrics on http://...:port/metrics`). */
export function endpointFrom(stdout: string): string {
  const match = /metrics on (http:\/\/\S+)\/metrics/.exec(stdout);
  if (!match?.[1]) {
    throw new Error(`no metrics address in output: ${stdout}`);
  }
  return match[1];
}

/** Poll `url` until `accept` holds for the response; rejects with the last one after `timeoutMs`. */
export async function pollUntil(url: string, accept: (response: { status: number; body: string }) => boolean, timeoutMs = 15_000): Promise<{ status: number; body: string }> {
  const deadline = Date.now() + timeoutMs;
  let last = { status: 0, body: '' };
  while (Date.now() < deadline) {
    last = await get(url).catch((err: unknown) => ({ status: 0, body: String(err) }));
    if (accept(last)) {
      return last;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url}: timed out after ${timeoutMs} ms; last answer ${last.status}: ${last.body.slice(0, 500)}`);
}
