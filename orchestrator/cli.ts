// The `swapnet` CLI: dispatches to one command per subcommand. Every command takes
// --help; bad usage exits 2 with a message naming the flag or value.
import { SwapnetError } from '../reserve/errors.ts';
import { EXIT, UsageError, writeLine, type CliIo, type Command } from './cli-io.ts';
import { demoCommand } from './commands/demo.ts';
import { downCommand } from './commands/down.ts';
import { faultCommand } from './commands/fault.ts';
import { listCommand } from './commands/list.ts';
import { reportCommand } from './commands/report.ts';
import { compareCommand, runCommand } from './commands/run.ts';
import { sweepCommand } from './commands/sweep.ts';
import { sysctlCommand } from './commands/sysctl.ts';
import { upCommand } from './commands/up.ts';

const COMMANDS: readonly Command[] = [
  runCommand,
  compareCommand,
  sweepCommand,
  upCommand,
  faultCommand,
  downCommand,
  sysctlCommand,
  listCommand,
  demoCommand,
  reportCommand,
];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    'usage: swapnet <command> [options]',
    '',
    'Emulates the networked-swap memory deadlock: three processes over real TCP, a',
    "model of the kernel's memory reserves inside machine A.",
    '',
    'commands:',
    ...lines,
    '',
    'Run `swapnet <command> --help` for the options of a command.',
  ].join('\n');
}

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    writeLine(name === undefined ? io.stderr : io.stdout, usage());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    writeLine(io.stderr, `swapnet: unknown command "${name}"\n\n${usage()}`);
    return EXIT.usage;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      writeLine(io.stderr, `swapnet ${name}: ${err.message}\n\n${command.usage}`);
      return EXIT.usage;
    }
    if (err instanceof SwapnetError) {
      writeLine(io.stderr, `swapnet ${name}: ${err.message} (${err.code})`);
      return EXIT.usage;
    }
    throw err;
  }
}
