// Structured logs (pino) to stderr: stdout of a node is reserved for its ready line.
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(
  node: string,
  level = process.env.SWAPNET_LOG_LEVEL ?? 'info',
): Logger {
  return pino(
    { name: 'swapnet', level, base: { node, pid: process.pid } },
    pino.destination({ fd: 2, sync: true }),
  );
}
