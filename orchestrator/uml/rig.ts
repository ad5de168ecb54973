// The real-kernel rig (DESIGN.md section 12, ../shared/real-kernel-rig.md): a network
// namespace made for the run with a tap device in it (192.0.2.1/24), swapnet's C inside
// it (NBD on 192.0.2.1), and a User-Mode Linux guest (Debian's linux.uml, the host's /
// read-only through hostfs, guest/init.sh as PID 1) whose vec0 is that tap. The guest
// swaps on /dev/nbd0 to C and prints "SWAPNET {json}" lines on its console. Linux and
// root only. Everything it starts is gone after close(), an error, or the process
// exiting (a synchronous exit hook kills the guest's process group and deletes the
// namespace, whose tap goes with it).
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../reserve/errors.ts';
import { stateDir, type StateFile } from '../topology.ts';

export const UML_HOST_IP = '192.0.2.1';
export const UML_GUEST_IP = '192.0.2.2';
export const UML_NBD_PORT = 10809;
const MAIN = fileURLToPath(new URL('../../nodes/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const INIT = fileURLToPath(new URL('./guest/init.sh', import.meta.url));
const MCONSOLE = fileURLToPath(new URL('./mconsole.pl', import.meta.url));

export const UML_NICS = ['vector', 'legacy'] as const;
export type UmlNic = (typeof UML_NICS)[number];

/** The kernel command line's NIC on tap0, and the interface the guest then has. */
function nicArgs(nic: UmlNic): { arg: string; iface: string } {
  return nic === 'legacy'
    ? { arg: 'eth0=tuntap,tap0', iface: 'eth0' }
    : { arg: 'vec0:transport=tap,ifname=tap0,gro=1', iface: 'vec0' };
}

/** A line the guest printed as "SWAPNET {json}". */
export type GuestEvent = { readonly event: string; readonly [k: string]: unknown };

export interface UmlRigOptions {
  /** Short and unique per run (names the namespace). */
  readonly id: string;
  /** The guest's RAM (mem=). */
  readonly memMiB: number;
  /** C's device size. */
  readonly swapMiB: number;
  /** tcp: the kernel's NBD socket goes to C (SOCK_MEMALLOC); relay: through a userspace relay. */
  readonly transport: 'tcp' | 'relay';
  /**
   * The guest's NIC on the tap (default vector). `vector` (vec0, vector_kern.c) allocates
   * receive skbs with plain GFP_ATOMIC (prep_skb): never from the reserve, never
   * pfmemalloc. `legacy` (eth0, the older net_kern.c driver, `eth0=tuntap,tap0`) uses
   * dev_alloc_skb, i.e. __netdev_alloc_skb, which adds __GFP_MEMALLOC while
   * sk_memalloc_socks() and tags what came from the reserve: the NIC kind the kernel's
   * swap-over-network protection assumes.
   */
  readonly nic?: UmlNic | undefined;
  readonly minFreeKbytes?: number | undefined;
  /**
   * The guest program (guest/init.sh's SWAPNET_PROGRAM): `pattern` writes and checks
   * hogMiB of pages and halts; `service` runs the hog and the service at once; `engine`
   * runs the service and hands the console to the agent, which starts the hog when told
   * (command()).
   */
  readonly program: 'pattern' | 'service' | 'engine';
  readonly hogMiB: number;
  /** The agent's sampling period; 0: no agent. */
  readonly agentMs: number;
  /** More SWAPNET_* variables for the guest (the engine's service and sysctls). */
  readonly guestEnv?: Readonly<Record<string, string>>;
  readonly onEvent: (e: GuestEvent) => void;
  /** Every other console line (kernel messages, the init's output). */
  readonly onConsole?: (line: string) => void;
}

export interface UmlRig {
  readonly namespace: string;
  /** C's process (inside the namespace). */
  readonly c: ChildProcess;
  /** Resolves when the guest's first process exits (it halts itself at the end). */
  readonly guestExited: Promise<number | null>;
  /** POST /control/<action> to C (fault, heal), from inside the namespace. */
  control(action: 'fault' | 'heal', body: unknown): Promise<unknown>;
  /** C's /status. */
  cStatus(): Promise<unknown>;
  /** The guest's umid (its mconsole socket is under the rig's HOME). */
  readonly mconsole: string;
  /** Writes one line to the guest's console (the agent reads it with program `engine`). */
  command(line: string): void;
  /** Sends a command to the guest kernel's management console (sysrq w ...); its reply. */
  mconsoleCommand(command: string): Promise<string>;
  /** Starts a process inside the namespace (stdout piped, killed by close()). */
  spawnInNamespace(args: readonly string[]): ChildProcess;
  /** Kills the guest's process group and C, deletes the namespace. Idempotent. */
  close(): Promise<void>;
}

/** Why the uml engine cannot run here, or undefined when it can. */
export function umlUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'the uml engine needs Linux';
  if (process.getuid?.() !== 0)
    return 'the uml engine needs root (a network namespace and a tap device)';
  const need: [string, string][] = [
    ['/usr/bin/linux.uml', 'user-mode-linux'],
    ['/usr/sbin/nbd-client', 'nbd-client'],
    ['/usr/sbin/insmod', 'kmod'],
  ];
  const missing = need.filter(([p]) => !existsSync(p)).map(([, pkg]) => pkg);
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    missing.push('iproute2');
  }
  if (missing.length > 0)
    return `the uml engine needs Debian's ${missing.join(', ')}: run test/setup/ensure-uml.sh as root`;
  return undefined;
}

function ip(args: readonly string[]): void {
  execFileSync('ip', [...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Process ids whose process group is `pgid` (the guest's host processes). */
function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Fields after the command (which may hold spaces): state ppid pgrp ...
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[2]) === pgid) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function removeNamespace(ns: string): void {
  try {
    ip(['netns', 'del', ns]);
  } catch {
    // not there
  }
}

/** Starts the namespace, C and the guest. Throws ConfigError('engine') when it cannot. */
export async function startUmlRig(o: UmlRigOptions): Promise<UmlRig> {
  const why = umlUnavailable();
  if (why) throw new ConfigError('--engine', why);
  const namespace = `swapnet-uml-${o.id}`;
  const dir = mkdtempSync(join(tmpdir(), 'swapnet-uml-'));
  const token = `uml-${o.id}-${process.pid}`;
  let c: ChildProcess | undefined;
  let guest: ChildProcess | undefined;
  const helpers: ChildProcess[] = [];
  // Recorded for `swapnet down` (a CLI killed with SIGKILL runs no exit hook).
  mkdirSync(stateDir(), { recursive: true, mode: 0o700 });
  const statePath = join(stateDir(), `uml-${o.id}.json`);
  const state: StateFile = {
    id: `uml-${o.id}`,
    token: '',
    cliPid: process.pid,
    startedAt: new Date().toISOString(),
    workDir: dir,
    nodes: [],
    uml: { namespace, groups: [] },
  };
  const record = (child: ChildProcess): void => {
    if (child.pid) state.uml?.groups.push(child.pid);
    writeFileSync(statePath, JSON.stringify(state));
  };
  writeFileSync(statePath, JSON.stringify(state));
  let closed = false;

  const teardownSync = (): void => {
    if (closed) return;
    closed = true;
    if (guest?.pid) killGroup(guest.pid);
    for (const h of helpers) if (h.pid) killGroup(h.pid);
    if (c?.pid) {
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    // A guest process still alive keeps the tap busy: wait for the whole group to go.
    const deadline = Date.now() + 5000;
    while (guest?.pid && groupMembers(guest.pid).length > 0 && Date.now() < deadline) {
      killGroup(guest.pid);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
    removeNamespace(namespace);
    rmSync(dir, { recursive: true, force: true });
    rmSync(statePath, { force: true });
  };
  const onExit = (): void => teardownSync();
  process.once('exit', onExit);

  try {
    removeNamespace(namespace);
    ip(['netns', 'add', namespace]);
    ip(['-n', namespace, 'link', 'set', 'lo', 'up']);
    ip(['-n', namespace, 'tuntap', 'add', 'dev', 'tap0', 'mode', 'tap']);
    ip(['-n', namespace, 'addr', 'add', `${UML_HOST_IP}/24`, 'dev', 'tap0']);
    ip(['-n', namespace, 'link', 'set', 'tap0', 'up']);

    c = spawn(
      'ip',
      [
        'netns',
        'exec',
        namespace,
        process.execPath,
        '--import',
        TSX,
        MAIN,
        '--role',
        'c',
        '--store',
        join(dir, 'store'),
        '--listen',
        `${UML_HOST_IP}:0`,
        '--nbd-listen',
        `${UML_HOST_IP}:${UML_NBD_PORT}`,
        '--http',
        '127.0.0.1:0',
        '--set',
        `swap.sizeMiB=${o.swapMiB}`,
      ],
      {
        env: { ...process.env, SWAPNET_TOKEN: token },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      },
    );
    record(c);
    let cErr = '';
    c.stderr?.setEncoding('utf8');
    c.stderr?.on('data', (s: string) => (cErr = (cErr + s).slice(-8192)));
    const ready = await new Promise<{ listen: Record<string, string> }>((resolve, reject) => {
      const lines = createInterface({ input: c?.stdout as NodeJS.ReadableStream });
      lines.once('line', (l) => {
        try {
          resolve(JSON.parse(l) as { listen: Record<string, string> });
        } catch {
          reject(new Error(`C printed ${l}`));
        }
      });
      c?.once('exit', (code) => reject(new Error(`C exited (${code}) before ready: ${cErr}`)));
    });
    const http = ready.listen.http as string;

    const env: Record<string, string> = {
      SWAPNET_NBD_HOST: UML_HOST_IP,
      SWAPNET_NBD_PORT: String(UML_NBD_PORT),
      SWAPNET_GUEST_IP: UML_GUEST_IP,
      SWAPNET_NIC_IF: nicArgs(o.nic ?? 'vector').iface,
      SWAPNET_TRANSPORT: o.transport,
      SWAPNET_PROGRAM: o.program,
      SWAPNET_HOG_MIB: String(o.hogMiB),
      SWAPNET_AGENT_MS: String(o.agentMs),
      ...(o.minFreeKbytes !== undefined
        ? { SWAPNET_MIN_FREE_KBYTES: String(o.minFreeKbytes) }
        : {}),
      ...o.guestEnv,
    };
    guest = spawn(
      'ip',
      [
        'netns',
        'exec',
        namespace,
        'linux.uml',
        `mem=${o.memMiB}M`,
        'rootfstype=hostfs',
        'rootflags=/',
        'ro',
        `init=${INIT}`,
        'con=null',
        'con0=fd:0,fd:1',
        nicArgs(o.nic ?? 'vector').arg,
        `umid=swapnet-${o.id}`,
        ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      ],
      // Its own process group: the guest is many host processes, killed together.
      {
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
        cwd: dir,
        env: { PATH: process.env.PATH ?? '', TMPDIR: dir, HOME: dir },
      },
    );
    record(guest);
    const consoleLines = createInterface({ input: guest.stdout as NodeJS.ReadableStream });
    consoleLines.on('line', (raw) => {
      const line = raw.replace(/\r$/, '');
      const at = line.indexOf('SWAPNET {');
      if (at >= 0) {
        try {
          o.onEvent(JSON.parse(line.slice(at + 'SWAPNET '.length)) as GuestEvent);
          return;
        } catch {
          // a line cut by kernel output: keep it as console text
        }
      }
      o.onConsole?.(line);
    });
    guest.stderr?.setEncoding('utf8');
    guest.stderr?.on('data', (s: string) => o.onConsole?.(s.trimEnd()));
    const g = guest;
    const guestExited = new Promise<number | null>((resolve) =>
      g.once('exit', (code) => resolve(code)),
    );

    const inNamespace = (script: string, args: string[]): Promise<string> =>
      new Promise((resolve, reject) => {
        execFile(
          'ip',
          ['netns', 'exec', namespace, process.execPath, '-e', script, ...args],
          { timeout: 20_000 },
          (err, stdout, stderr) =>
            err ? reject(new Error(`${err.message} ${stderr}`)) : resolve(stdout),
        );
      });
    const httpScript = `const [u, t, b] = process.argv.slice(1); fetch(u, b === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json', 'x-swapnet-token': t }, body: b }).then(async (r) => { process.stdout.write(await r.text()); process.exitCode = r.ok ? 0 : 1; });`;

    const umid = `swapnet-${o.id}`;
    const mconsole = join(dir, '.uml', umid, 'mconsole');
    return {
      namespace,
      c,
      guestExited,
      mconsole,
      command(line) {
        if (g.stdin?.writable) g.stdin.write(`${line}\n`);
      },
      mconsoleCommand: (command) =>
        new Promise((resolve, reject) => {
          execFile(
            'perl',
            [MCONSOLE, mconsole, command],
            { timeout: 10_000 },
            (err, stdout, stderr) =>
              err
                ? reject(new Error(`mconsole ${command}: ${stderr || err.message}`))
                : resolve(stdout),
          );
        }),
      spawnInNamespace(args) {
        const child = spawn('ip', ['netns', 'exec', namespace, ...args], {
          detached: true,
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        helpers.push(child);
        record(child);
        return child;
      },
      control: async (action, body) =>
        JSON.parse(
          await inNamespace(httpScript, [
            `http://${http}/control/${action}`,
            token,
            JSON.stringify(body),
          ]),
        ) as unknown,
      cStatus: async () =>
        JSON.parse(await inNamespace(httpScript, [`http://${http}/status`, token])) as unknown,
      close: async () => {
        teardownSync();
        process.removeListener('exit', onExit);
        // SIGKILL is sent; C is gone once its exit is seen (not before close resolves).
        const child = c;
        if (child && child.exitCode === null && child.signalCode === null)
          await new Promise<void>((done) => {
            const timer = setTimeout(done, 5000);
            child.once('exit', () => {
              clearTimeout(timer);
              done();
            });
          });
      },
    };
  } catch (err) {
    teardownSync();
    process.removeListener('exit', onExit);
    throw err;
  }
}

/** What is left of rig `id` (for tests and `swapnet down`): guest processes, the namespace. */
export function umlLeftovers(id: string): { namespace: boolean; guests: number } {
  let namespace = false;
  try {
    namespace = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(
      `swapnet-uml-${id}`,
    );
  } catch {
    namespace = false;
  }
  let guests = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmd.includes('linux.uml') && cmd.includes(`umid=swapnet-${id}`)) guests++;
    } catch {
      // gone
    }
  }
  return { namespace, guests };
}
