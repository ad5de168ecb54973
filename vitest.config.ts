// Two projects: `unit` (pure model code in virtual time, fast) and `integration`
// (real sockets and processes on 127.0.0.1). `npm test` runs both.
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
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          // Installs promtool when missing (test/integration/promtool.test.ts needs it).
          globalSetup: ['test/setup/global-integration.ts'],
          // Two cores on CI: process tests run one file at a time per core.
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
