// Global setup of the integration and e2e projects: makes sure Debian's prometheus
// package is installed (the `prometheus` server and `promtool`) before the tests that
// run them, and, on Linux as root, the real-kernel rig's packages (user-mode-linux,
// nbd-client, kmod, iproute2) for test/integration/uml-nbd.test.ts. Never fails here:
// when a package cannot be installed, the tests that need it fail and say why.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const PROMETHEUS = fileURLToPath(new URL('./ensure-prometheus.sh', import.meta.url));
const UML = fileURLToPath(new URL('./ensure-uml.sh', import.meta.url));

export default function setup(): void {
  const r = spawnSync('bash', [PROMETHEUS], { stdio: 'inherit' });
  if (r.error) console.warn(`ensure-prometheus.sh could not be run: ${r.error.message}`);
  if (process.platform === 'linux' && process.getuid?.() === 0) {
    const u = spawnSync('bash', [UML], { stdio: 'inherit' });
    if (u.error) console.warn(`ensure-uml.sh could not be run: ${u.error.message}`);
  }
}
