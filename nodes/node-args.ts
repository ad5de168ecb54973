// The command line of a node process: parsed once with a schema (flags and environment),
// unknown flags refused, errors naming the flag. The token comes from the environment
// (SWAPNET_TOKEN), never argv, so `ps` does not show it.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ConfigError } from '../reserve/errors.ts';
import { applySets, defaultKnobs, validateKnobs, type Knobs } from './knobs.ts';

export const NODE_ROLES = ['a', 'b', 'c'] as const;
export type NodeRole = (typeof NODE_ROLES)[number];

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface NodeArgs {
  readonly role: NodeRole;
  /** Where this node listens for frames (A: the service; C: swap). */
  readonly listen: HostPort;
  /** Where /metrics, /healthz, /status and /control listen. */
  readonly http: HostPort;
  /** A's address for B, C's address for A. */
  readonly peer: HostPort | null;
  /** C's swap store file. */
  readonly store: string | null;
  /** C: where to serve the store over NBD (nbd-server.ts), or null for no NBD listener. */
  readonly nbdListen: HostPort | null;
  /** A: start the hog and reader at once ('auto'), or when told ('manual'). */
  readonly workloads: 'auto' | 'manual';
  readonly knobs: Knobs;
  readonly token: string;
  readonly seed: number;
}

export const NODE_USAGE = `usage: node nodes/main.ts --role a|b|c [options]   (SWAPNET_TOKEN in the environment)

  --role a|b|c          which machine this process plays
  --listen HOST:PORT    where to accept frames (A: service, C: swap); default 127.0.0.1:0
  --http HOST:PORT      /metrics /healthz /status /control; default 127.0.0.1:0
  --peer HOST:PORT      B: A's service address; A: C's swap address
  --store FILE          C: the swap store file (required for C)
  --nbd-listen HOST:PORT  C: also serve the store over NBD (kernel nbd-client); no token
                        protects it: bind 127.0.0.1 or a namespace's own address
  --knobs JSON          a full or partial knob object (as printed by swapnet list)
  --set KEY=VALUE       one knob (repeatable)
  --seed N              seed for every random choice (default 1)
  --workloads auto|manual  A: start the hog and reader at once (auto, the default) or
                        when the orchestrator says so (POST /control/start)`;

const hostPort = z
  .string()
  .regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:.]+\]:\d{1,5}$/, 'expected HOST:PORT (e.g. 127.0.0.1:0)')
  .transform((s): HostPort => {
    const i = s.lastIndexOf(':');
    return { host: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) };
  })
  .refine((hp) => hp.port <= 65535, 'port must be at most 65535');

const Flags = z.strictObject({
  role: z.enum(NODE_ROLES),
  listen: hostPort.default({ host: '127.0.0.1', port: 0 }),
  http: hostPort.default({ host: '127.0.0.1', port: 0 }),
  peer: hostPort.optional(),
  store: z.string().min(1).optional(),
  'nbd-listen': hostPort.optional(),
  knobs: z.string().optional(),
  set: z.array(z.string()).default([]),
  seed: z.coerce.number().int().min(0).max(0xffffffff).default(1),
  workloads: z.enum(['auto', 'manual']).default('auto'),
});

/** Parses argv and env; throws ConfigError naming the flag. */
export function parseNodeArgs(argv: readonly string[], env: NodeJS.ProcessEnv): NodeArgs | 'help' {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        role: { type: 'string' },
        listen: { type: 'string' },
        http: { type: 'string' },
        peer: { type: 'string' },
        store: { type: 'string' },
        'nbd-listen': { type: 'string' },
        knobs: { type: 'string' },
        set: { type: 'string', multiple: true },
        seed: { type: 'string' },
        workloads: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    throw new ConfigError('argv', (err as Error).message);
  }
  if (values.help) return 'help';
  delete values.help;
  const r = Flags.safeParse(values);
  if (!r.success) {
    const issue = r.error.issues[0];
    const field = `--${issue?.path.join('.') ?? '?'}`;
    throw new ConfigError(field, issue?.message ?? 'invalid');
  }
  const f = r.data;
  const token = env.SWAPNET_TOKEN;
  if (!token)
    throw new ConfigError(
      'SWAPNET_TOKEN',
      'required in the environment (the shared token of the topology)',
    );
  let knobs = defaultKnobs();
  if (f.knobs !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(f.knobs);
    } catch {
      throw new ConfigError('--knobs', 'is not valid JSON');
    }
    knobs = validateKnobs({ ...knobs, ...(parsed as object) });
  }
  knobs = applySets(knobs, f.set);
  if (f.role !== 'c' && !f.peer) throw new ConfigError('--peer', `required for node ${f.role}`);
  if (f.role === 'c' && !f.store) throw new ConfigError('--store', 'required for node c');
  if (f.role !== 'c' && f['nbd-listen'])
    throw new ConfigError('--nbd-listen', `only node c serves NBD, not node ${f.role}`);
  return {
    role: f.role,
    listen: f.listen,
    http: f.http,
    peer: f.peer ?? null,
    store: f.store ?? null,
    nbdListen: f['nbd-listen'] ?? null,
    workloads: f.workloads,
    knobs,
    token,
    seed: f.seed,
  };
}

export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
