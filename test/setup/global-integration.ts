// Global setup of the integration project: makes sure promtool is installed (Debian's
// prometheus package) before test/integration/promtool.test.ts decides whether it can run.
// The script never fails; when it cannot install, that test skips and says why.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./ensure-prometheus.sh', import.meta.url));

export default function setup(): void {
  const r = spawnSync('bash', [SCRIPT], { stdio: 'inherit' });
  if (r.error) console.warn(`ensure-prometheus.sh could not be run: ${r.error.message}`);
}
