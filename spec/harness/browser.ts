/**
 * Headless Chromium for tests that look at a page: Debian's `chromium`
 * package, driven by playwright-core. A missing browser fails the test with
 * the package to install; it is never a reason to skip.
 */
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import path from 'node:path';
import { REPO_ROOT } from './participants';

const CANDIDATES = ['/usr/bin/chromium', '/usr/lib/chromium/chromium'];

/** Where screenshots and other artifacts of a test run go (git ignores it). */
export const TEST_OUTPUT = path.join(REPO_ROOT, '.test-output');

/** Launch headless Chromium; closed after the test. */
export async function launchChromium(t: TestContext): Promise<Browser> {
  const executablePath = process.env.CHROMIUM_PATH ?? CANDIDATES.find((file) => existsSync(file));
  if (!executablePath || !existsSync(executablePath)) {
    throw new Error('Chromium is not installed: install the Debian package `chromium` (apt-get install -y chromium), or set CHROMIUM_PATH');
  }
  const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  t.after(() => browser.close());
  return browser;
}
