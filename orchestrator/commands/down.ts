// `swapnet down`: stops every topology recorded in the state directory, including one
// whose CLI was killed, and removes its files. Safe when nothing runs.
import { EXIT, parseFlags, writeLine, type CliIo, type Command } from '../cli-io.ts';
import { downAll, stateDir } from '../topology.ts';

const USAGE = `usage: swapnet down [--json]

Stops every swapnet topology on this machine (\`swapnet up\`, or one left behind by a CLI
that was killed) and removes its files.`;

export const downCommand: Command = {
  name: 'down',
  summary: 'stop every running topology, even one whose CLI was killed',
  usage: USAGE,
  async run(argv: readonly string[], io: CliIo): Promise<number> {
    const { values } = parseFlags(argv, { json: { type: 'boolean' } });
    if (values.help) {
      writeLine(io.stdout, USAGE);
      return EXIT.ok;
    }
    const r = await downAll(stateDir(io.env));
    if (values.json) writeLine(io.stdout, JSON.stringify(r));
    else
      writeLine(
        io.stderr,
        r.topologies === 0
          ? 'nothing was running'
          : `stopped ${r.topologies} topology(s), ${r.killed} process(es)`,
      );
    return EXIT.ok;
  },
};
