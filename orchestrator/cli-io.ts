// What a command may touch: its output streams and environment (injected, so commands
// are tested in-process), plus the exit codes of DESIGN.md section 9.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ERROR_CODES, SwapnetError } from '../reserve/errors.ts';

export interface CliIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly env: NodeJS.ProcessEnv;
  /** Aborted on Ctrl-C or SIGTERM: long-running commands stop their topology and return. */
  readonly signal?: AbortSignal;
  /** Whether stderr is a terminal (the progress view redraws one line). */
  readonly stderrIsTTY?: boolean;
  /**
   * `swapnet sweep`'s job runner: the URL of a module exporting `runJob`, loaded in
   * worker threads (tests give a fake engine; unset: the real one).
   */
  readonly sweepRunner?: string;
}

/** Exit codes: done, verdict differs from --expect, bad usage, a node failed. */
export const EXIT = { ok: 0, verdictMismatch: 1, usage: 2, nodeFailed: 3 } as const;

/** A usage error: exits 2 with its message. */
export class UsageError extends SwapnetError {
  constructor(message: string) {
    super(ERROR_CODES.usage, message);
  }
}

export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  run(argv: readonly string[], io: CliIo): Promise<number>;
}

/**
 * parseArgs with strict checking, turning its errors into UsageErrors that name the
 * flag. `--help` is always accepted.
 */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: readonly string[],
  options: T,
  allowPositionals = false,
) {
  try {
    return parseArgs({
      args: [...argv],
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals,
    });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new UsageError(message.replace(/^TypeError \[[A-Z_]+\]: /, ''));
  }
}

export function writeLine(stream: NodeJS.WritableStream, text: string): void {
  stream.write(`${text}\n`);
}
