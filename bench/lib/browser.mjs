// Headless Chromium through playwright-core (the system Chromium; nothing is downloaded).

import { chromium } from 'playwright-core';

// One list of Chromium flags for tests and benchmarks (the harness loads playwright lazily, so
// importing it pulls in nothing else).
import { CHROMIUM_ARGS } from '../../tests/harness/index.mjs';

export { CHROMIUM_ARGS };

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Launch headless Chromium. */
export function launch() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}
