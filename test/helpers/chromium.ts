// Headless Chromium for page tests: Debian's package (/usr/bin/chromium, installed by
// test/setup/ensure-chromium.sh) driven by playwright-core. A test that needs it fails
// with the set-up command when it is missing; it never skips.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Launches headless Chromium; throws naming the set-up script when it is not installed. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `Chromium is missing (${CHROMIUM}): this test opens a real report in it. Install Debian's ` +
        'chromium package: `sudo bash test/setup/ensure-chromium.sh` (npm test runs it as root).',
    );
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}
