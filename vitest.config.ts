// Four projects, in order: `unit` (pure model code in virtual time, fast), `sim` (whole
// scenarios on the simulation engine: seconds of CPU each, deterministic), `integration`
// (real sockets and processes on 127.0.0.1), and `e2e` (whole scenarios through the CLI,
// one at a time: their outcomes depend on having the cores to themselves). `npm test`
// runs all four.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'sim',
          include: ['test/sim/**/*.test.ts'],
          // A whole simulated scenario is seconds of CPU; on a shared machine, more.
          testTimeout: 60_000,
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          // Installs Prometheus and promtool when missing (Debian's prometheus package).
          globalSetup: ['test/setup/global-integration.ts'],
          // Two cores on CI: process tests run one file at a time per core.
          maxWorkers: 2,
          sequence: { groupOrder: 2 },
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 60_000,
          // Installs Prometheus (test/e2e/prometheus-live.test.ts runs it) and Debian's
          // chromium (test/e2e/report.test.ts) when missing.
          globalSetup: ['test/setup/global-integration.ts', 'test/setup/global-e2e.ts'],
          maxWorkers: 1,
          fileParallelism: false,
          sequence: { groupOrder: 3 },
        },
      },
    ],
  },
});
