#!/usr/bin/env node
// The `swapnet` command: loads the TypeScript sources through tsx (no build step). Ctrl-C
// or SIGTERM aborts the running command, which stops every process it started; a second
// Ctrl-C exits at once.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./cli.ts');
const controller = new AbortController();
let signals = 0;
const onSignal = (sig) => {
  signals++;
  if (signals > 1) process.exit(130);
  process.stderr.write(`\nswapnet: ${sig}, stopping...\n`);
  controller.abort();
};
process.on('SIGINT', () => onSignal('SIGINT'));
process.on('SIGTERM', () => onSignal('SIGTERM'));
process.on('SIGHUP', () => onSignal('SIGHUP'));
process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signal: controller.signal,
  stderrIsTTY: Boolean(process.stderr.isTTY),
});
