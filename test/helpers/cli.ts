// Runs the CLI in-process with captured streams, or as a real process through its bin.
import { execFile } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { main } from '../../orchestrator/cli.ts';
import type { CliIo } from '../../orchestrator/cli-io.ts';

export const BIN = fileURLToPath(new URL('../../orchestrator/bin.mjs', import.meta.url));

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

/** Runs `swapnet ...argv` in this process. */
export async function runCli(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = {},
  extra: Partial<Pick<CliIo, 'signal' | 'sweepRunner' | 'stderrIsTTY'>> = {},
): Promise<CliRun> {
  const out = capture();
  const err = capture();
  const code = await main(argv, { stdout: out.stream, stderr: err.stream, env, ...extra });
  return { code, stdout: out.text(), stderr: err.text() };
}

/** Runs `swapnet ...argv` as a child process through the package's bin. */
export function runBin(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...argv],
      { env, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
