// Global setup of the integration and e2e projects: makes sure Debian's prometheus
// package is installed (the `prometheus` server and `promtool`) before the tests that
// run them. The script never fails; when it cannot install, those tests fail and say why.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./ensure-prometheus.sh', import.meta.url));

export default function setup(): void {
  const r = spawnSync('bash', [SCRIPT], { stdio: 'inherit' });
  if (r.error) console.warn(`ensure-prometheus.sh could not be run: ${r.error.message}`);
}
