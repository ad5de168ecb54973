// Global setup of the e2e project: makes sure Debian's Chromium is installed before
// test/e2e/report.test.ts opens a report in it. The script never fails by itself; when
// it cannot install, that test fails and says how to install Chromium.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./ensure-chromium.sh', import.meta.url));

export default function setup(): void {
  const r = spawnSync('bash', [SCRIPT], { stdio: 'inherit' });
  if (r.error) console.warn(`ensure-chromium.sh could not be run: ${r.error.message}`);
}
