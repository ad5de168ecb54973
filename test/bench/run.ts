// `npm run bench -- [--only NAME] [--json]`: benchmarks outside the test suite. Each
// prints figures measured in one run (ratios, never a pass/fail on wall-clock time).
import { parseArgs } from 'node:util';
import { benchAllocator } from './allocator.ts';
import { benchConnections } from './connections.ts';
import { benchIngest } from './ingest.ts';
import { benchScenario } from './scenario.ts';
import { benchSim } from './sim.ts';
import { benchSweep } from './sweep.ts';

type Bench = () => Promise<Record<string, unknown>> | Record<string, unknown>;

/** Progress and detail go to stderr; stdout carries only the figures. */
const note = (line: string): void => void process.stderr.write(`bench: ${line}\n`);

const BENCHES: Readonly<Record<string, Bench>> = {
  ingest: async () => ({ ...(await benchIngest(1024, 50_000, 12, note)) }),
  allocator: () => ({ ...benchAllocator() }),
  connections: async () => ({ ...(await benchConnections(1000, 10, note)) }),
  scenario: async () => ({ ...(await benchScenario('partition-c', 'vanilla', note)) }),
  sim: async () => ({ ...(await benchSim(['partition-c', 'long-partition'], 'vanilla', note)) }),
  sweep: async () => ({ ...(await benchSweep(note)) }),
};

const USAGE = `usage: npm run bench -- [--only NAME[,NAME]] [--json]

benchmarks: ${Object.keys(BENCHES).join(', ')}`;

async function main(): Promise<number> {
  let values: { only?: string; json?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: {
        only: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const names = values.only ? values.only.split(',') : Object.keys(BENCHES);
  for (const n of names) {
    if (!BENCHES[n]) {
      process.stderr.write(`bench: --only: unknown benchmark "${n}"\n${USAGE}\n`);
      return 2;
    }
  }
  const results: Record<string, unknown> = {};
  for (const n of names) {
    process.stderr.write(`bench: ${n}...\n`);
    results[n] = await (BENCHES[n] as Bench)();
    if (!values.json) process.stdout.write(`${n}: ${JSON.stringify(results[n])}\n`);
  }
  if (values.json) process.stdout.write(`${JSON.stringify(results)}\n`);
  return 0;
}

process.exitCode = await main();
