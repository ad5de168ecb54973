// `swapnet list [--json]`: scenarios, policies (with the knobs they set), eras, fault
// modes, and every knob with its default and meaning.
import { ERA_KNOBS, ERAS } from '../../netstack/era.ts';
import { defaultKnobs, KNOB_KEYS, KNOB_SPECS } from '../../nodes/knobs.ts';
import { BUILTIN_SCENARIOS } from '../builtin-scenarios.ts';
import { EXIT, parseFlags, writeLine, type CliIo, type Command } from '../cli-io.ts';
import { POLICIES } from '../policies.ts';

const USAGE = `usage: swapnet list [--json]

Lists the built-in scenarios, the policies and the knobs each sets, the kernel eras,
the fault modes, and every knob (--set key=value) with its default.`;

export const FAULT_MODES = [
  ['stall', "stop reading: the sender's socket buffers fill (real backpressure)"],
  ['blackhole', "read and discard whole frames: no backpressure (like Toxiproxy's timeout)"],
  ['reset', 'close connections with RST and refuse new ones until healed'],
  ['pause', 'SIGSTOP the process, SIGCONT to heal'],
  ['loss', 'drop whole frames with probability fault.lossRate (seeded)'],
  ['delay', 'add fault.delayMs of latency and up to fault.jitterMs of jitter per frame'],
  ['netns', 'real link down between network namespaces (Linux, root)'],
] as const;

export const listCommand: Command = {
  name: 'list',
  summary: 'scenarios, policies, eras, fault modes and knobs',
  usage: USAGE,
  async run(argv: readonly string[], io: CliIo): Promise<number> {
    const { values } = parseFlags(argv, { json: { type: 'boolean' } });
    if (values.help) {
      writeLine(io.stdout, USAGE);
      return EXIT.ok;
    }
    const defaults = defaultKnobs();
    const policies = POLICIES.map((p) => ({
      name: p.name,
      seed: p.seed,
      summary: p.summary,
      sets: p.apply(defaults),
    }));
    if (values.json) {
      writeLine(
        io.stdout,
        JSON.stringify({
          scenarios: BUILTIN_SCENARIOS.map((s) => ({ name: s.name, description: s.description })),
          policies,
          eras: ERAS.map((e) => ERA_KNOBS[e]),
          faultModes: FAULT_MODES.map(([name, description]) => ({ name, description })),
          knobs: KNOB_KEYS.map((k) => ({
            key: k,
            default: KNOB_SPECS[k][1],
            description: KNOB_SPECS[k][2],
          })),
        }),
      );
      return EXIT.ok;
    }
    const out: string[] = ['SCENARIOS'];
    for (const s of BUILTIN_SCENARIOS) out.push(`  ${s.name.padEnd(18)} ${s.description}`);
    out.push('', 'POLICIES (seed; the knobs each sets, shown for a 256 MiB machine)');
    for (const p of policies) {
      out.push(`  ${p.name.padEnd(26)} [${p.seed}] ${p.summary}`);
      out.push(
        `  ${''.padEnd(26)}      ${Object.entries(p.sets)
          .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
          .join(' ')}`,
      );
    }
    out.push('', 'ERAS (--era)');
    for (const e of ERAS) {
      const k = ERA_KNOBS[e];
      out.push(
        `  ${e.padEnd(8)} memalloc sockets: ${k.memallocSockets ? 'yes' : 'no'}; RX reserve: ${k.rxReserve}; forced first skb: ${k.forcedFirstSkb ? 'yes' : 'no'}; pfmemalloc throttle: ${k.pfmemallocThrottleAvailable ? 'available' : 'no'}`,
      );
    }
    out.push('', 'FAULT MODES (fault.mode, swapnet fault --mode)');
    for (const [name, d] of FAULT_MODES) out.push(`  ${name.padEnd(10)} ${d}`);
    out.push('', 'KNOBS (--set key=value)');
    for (const k of KNOB_KEYS)
      out.push(
        `  ${k.padEnd(30)} ${JSON.stringify(KNOB_SPECS[k][1]).padEnd(10)} ${KNOB_SPECS[k][2]}`,
      );
    writeLine(io.stdout, out.join('\n'));
    return EXIT.ok;
  },
};
