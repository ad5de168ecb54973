// The package's bin as a real process: the tsx loader, stdout for the result, exit codes.
import { describe, expect, it } from 'vitest';
import { runBin } from '../helpers/cli.ts';

describe('swapnet bin', () => {
  it('`swapnet sysctl --mem 8G --json` prints the kernel defaults and exits 0', async () => {
    const r = await runBin(['sysctl', '--mem', '8G', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      minFreeKbytes: 11585,
      watermarks: { min: 2896, low: 4993, high: 7090 },
    });
  });

  it('exits 2 on bad usage with the message on stderr and nothing on stdout', async () => {
    const r = await runBin(['sysctl', '--mem', '0']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/--mem/);
  });

  it('`up --engine sim` exits 2 before starting anything, saying up is real processes', async () => {
    const r = await runBin(['up', '--engine', 'sim', '--json']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/--engine: "sim" is not available for up: .*real processes/);
  });

  it('`run --engine bogus` exits 2 naming --engine and the engines there are', async () => {
    const r = await runBin(['run', '--engine', 'bogus', '--json']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/--engine: "bogus" is not an engine \(real, sim, uml\)/);
  });
});
