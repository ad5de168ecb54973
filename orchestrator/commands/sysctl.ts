// `swapnet sysctl --mem SIZE [--era ERA] [--json]`: the kernel defaults derived for a RAM
// size (min_free_kbytes, watermarks, tcp_mem, tcp_rmem, tcp_wmem), with the formulas of
// the era's kernel.
import { ERA_KNOBS, ERAS, isEraName } from '../../netstack/era.ts';
import { effectiveMark, gfpToAllocFlags } from '../../reserve/alloc-flags.ts';
import { ConfigError } from '../../reserve/errors.ts';
import { GFP } from '../../reserve/gfp.ts';
import { parseSize } from '../../reserve/size.ts';
import { deriveSysctls } from '../../reserve/sysctl-defaults.ts';
import { EXIT, parseFlags, UsageError, writeLine, type CliIo, type Command } from '../cli-io.ts';

const USAGE = `usage: swapnet sysctl --mem SIZE [--era ERA] [--min-free-kbytes N] [--watermark-scale-factor N] [--json]

Prints the kernel defaults a machine with SIZE of RAM gets (one lowmem zone):
min_free_kbytes, the min/low/high watermarks in pages, tcp_mem in pages, and
tcp_rmem/tcp_wmem in bytes. SIZE takes binary units: 256M, 8G, 24684096K.

  --mem SIZE                    RAM size (required)
  --era ERA                     2.6, 3.6 or modern (default modern): tcp_mem and the
                                per-socket limits follow that kernel's tcp_init
  --min-free-kbytes N           use N instead of the computed min_free_kbytes
  --watermark-scale-factor N    vm.watermark_scale_factor (default 10)
  --json                        one JSON object on stdout`;

function positiveInt(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new UsageError(`${flag}: "${text}" is not a positive whole number`);
  return n;
}

export const sysctlCommand: Command = {
  name: 'sysctl',
  summary: 'derived kernel defaults for a RAM size',
  usage: USAGE,
  async run(argv: readonly string[], io: CliIo): Promise<number> {
    const { values } = parseFlags(argv, {
      mem: { type: 'string' },
      era: { type: 'string' },
      'min-free-kbytes': { type: 'string' },
      'watermark-scale-factor': { type: 'string' },
      json: { type: 'boolean' },
    });
    if (values.help) {
      writeLine(io.stdout, USAGE);
      return EXIT.ok;
    }
    if (values.mem === undefined) throw new UsageError('--mem: required (e.g. --mem 256M)');
    let bytes: number;
    try {
      bytes = parseSize(values.mem, '--mem');
    } catch (err) {
      if (err instanceof ConfigError) throw new UsageError(err.message);
      throw err;
    }
    const era = values.era ?? 'modern';
    if (!isEraName(era)) throw new UsageError(`--era: "${era}" is not an era (${ERAS.join(', ')})`);
    const minFreeKbytes = positiveInt(values['min-free-kbytes'], '--min-free-kbytes');
    const watermarkScaleFactor = positiveInt(
      values['watermark-scale-factor'],
      '--watermark-scale-factor',
    );
    const s = deriveSysctls(bytes, {
      caps: ERA_KNOBS[era].socketCaps,
      ...(minFreeKbytes !== undefined ? { minFreeKbytes } : {}),
      ...(watermarkScaleFactor !== undefined ? { watermarkScaleFactor } : {}),
    });
    if (values.json) {
      const out = {
        memKb: s.memKb,
        minFreeKbytes: s.minFreeKbytes,
        watermarks: s.watermarks,
        tcpMem: s.tcpMem,
        tcpRmem: s.tcpRmem,
        tcpWmem: s.tcpWmem,
      };
      writeLine(io.stdout, JSON.stringify(out));
      return EXIT.ok;
    }
    const w = s.watermarks;
    writeLine(
      io.stdout,
      [
        `era                 ${era}`,
        `memory              ${s.memKb} kB (${s.managedPages} pages)`,
        `vm.min_free_kbytes  ${s.minFreeKbytes}`,
        `watermarks (pages)  min ${w.min}  low ${w.low}  high ${w.high}`,
        `  GFP_ATOMIC floor  ${effectiveMark(w.min, gfpToAllocFlags(GFP.ATOMIC, 0))} pages (3/8 of min)`,
        `net.ipv4.tcp_mem    ${s.tcpMem.join(' ')}  (pages)`,
        `net.ipv4.tcp_rmem   ${s.tcpRmem.join(' ')}  (bytes)`,
        `net.ipv4.tcp_wmem   ${s.tcpWmem.join(' ')}  (bytes)`,
      ].join('\n'),
    );
    return EXIT.ok;
  },
};
