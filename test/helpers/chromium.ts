/** Debian's Chromium for the browser tests and scripts/task-image.ts (playwright-core drives it; .ci/run installs it). */
import { existsSync } from 'node:fs';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = process.env.DSRL_CHROMIUM ?? '/usr/bin/chromium';

// The machine notes' flags: no sandbox as root, software GL, and no background traffic to a closed network.
export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export const haveChromium = existsSync(CHROMIUM);

/** What a browser test throws where CI is set but Chromium is missing (elsewhere the tests skip). */
export const MISSING_IN_CI = `CI is set but ${CHROMIUM} is missing: .ci/run installs Debian's chromium`;

/** Debian's Chromium, headless with CHROMIUM_FLAGS, its profile in `profileDir`; `viewport` as playwright's option. */
export function launchChromium(profileDir: string, viewport?: { width: number; height: number }): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    ...(viewport ? { viewport } : {}),
  });
}
