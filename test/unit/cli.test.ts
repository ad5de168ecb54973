import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';

describe('swapnet CLI', () => {
  it('prints usage and exits 2 with no command, 0 with --help', async () => {
    const none = await runCli([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/usage: swapnet <command>/);
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/sysctl/);
  });

  it('refuses an unknown command with exit 2, naming it', async () => {
    const r = await runCli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command "frobnicate"/);
  });
});

describe('swapnet sysctl', () => {
  it('prints the derived defaults for 8G and 256M in the JSON shape of DESIGN.md', async () => {
    const r8 = await runCli(['sysctl', '--mem', '8G', '--json']);
    expect(r8.code).toBe(0);
    const j8 = JSON.parse(r8.stdout);
    expect(Object.keys(j8)).toEqual([
      'memKb',
      'minFreeKbytes',
      'watermarks',
      'tcpMem',
      'tcpRmem',
      'tcpWmem',
    ]);
    expect(j8.minFreeKbytes).toBe(11585);
    expect(j8.watermarks).toEqual({ min: 2896, low: 4993, high: 7090 });
    // nr_free_buffer_pages = 2097152 - 7090; L = 130628.
    expect(j8.tcpMem).toEqual([97971, 130628, 195942]);
    const r256 = JSON.parse((await runCli(['sysctl', '--mem', '256M', '--json'])).stdout);
    expect(r256).toMatchObject({
      memKb: 262144,
      minFreeKbytes: 2048,
      watermarks: { min: 512, low: 640, high: 768 },
    });
    expect(r256.tcpMem).toEqual([3036, 4048, 6072]);
  });

  it('--era gives the tcp_mem of that era: 2.6 tcp_init, 3.x tcp_init_mem /8, modern /16', async () => {
    const tcpMem = async (era: string) =>
      JSON.parse((await runCli(['sysctl', '--mem', '256M', '--era', era, '--json'])).stdout).tcpMem;
    expect(await tcpMem('2.6')).toEqual([24576, 32768, 49152]);
    expect(await tcpMem('3.6')).toEqual([6072, 8096, 12144]);
    expect(await tcpMem('modern')).toEqual([3036, 4048, 6072]);
    const human = await runCli(['sysctl', '--mem', '256M', '--era', '3.6']);
    expect(human.stdout).toMatch(/era {17}3\.6/);
    expect(human.stdout).toMatch(/tcp_mem {4}6072 8096 12144/);
    const bad = await runCli(['sysctl', '--mem', '256M', '--era', '2.7']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--era: "2.7" is not an era/);
  });

  it('accepts kilobyte sizes and a user min_free_kbytes', async () => {
    const r = JSON.parse(
      (await runCli(['sysctl', '--mem', '24684096K', '--json', '--min-free-kbytes', '67584']))
        .stdout,
    );
    expect(r.memKb).toBe(24684096);
    expect(r.minFreeKbytes).toBe(67584);
    expect(r.watermarks.min).toBe(16896);
  });

  it('prints a human table without --json, with the GFP_ATOMIC floor', async () => {
    const r = await runCli(['sysctl', '--mem', '256M']);
    expect(r.stdout).toMatch(/min 512 {2}low 640 {2}high 768/);
    expect(r.stdout).toMatch(/GFP_ATOMIC floor {2}192 pages/);
  });

  it('exits 2 naming the flag for a bad size, a missing --mem, or an unknown flag', async () => {
    const bad = await runCli(['sysctl', '--mem', 'lots']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--mem: "lots" is not a size/);
    const missing = await runCli(['sysctl', '--json']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--mem: required/);
    const unknown = await runCli(['sysctl', '--mem', '1G', '--colour']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/--colour/);
    const badNumber = await runCli(['sysctl', '--mem', '1G', '--min-free-kbytes', '-3']);
    expect(badNumber.code).toBe(2);
    expect(badNumber.stderr).toMatch(/--min-free-kbytes/);
  });
});
