// The real Prometheus in tests: Debian's `prometheus` package provides the server and
// `promtool` (test/setup/ensure-prometheus.sh installs it). A missing binary fails the
// test that needs it with a message saying how to install it: the suite never skips.
// The server listens on 127.0.0.1 port 0; the port is read from its "Listening on" log
// line, and every server started here is stopped by stopAllPrometheus() in teardown.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** The absolute path of `name` on PATH; throws, saying how to install it, when missing. */
export function requireBinary(name: 'prometheus' | 'promtool'): string {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const found = r.status === 0 ? r.stdout.trim() : '';
  if (found === '')
    throw new Error(
      `${name} is not on PATH: the integration set-up installs Debian's prometheus package ` +
        `(it needs root and apt-get); run \`sudo bash test/setup/ensure-prometheus.sh\` ` +
        `or \`apt-get install prometheus\``,
    );
  return found;
}

export interface ToolRun {
  readonly code: number | null;
  /** stdout and stderr, interleaved as they arrived. */
  readonly output: string;
}

/** Runs `promtool ...args` (stdin from `input` when given) to its end. */
export function promtool(args: readonly string[], input?: string, cwd?: string): Promise<ToolRun> {
  const bin = requireBinary('promtool');
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (output += s));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
    child.stdin.end(input ?? '');
  });
}

export interface PrometheusServer {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly child: ChildProcess;
  /** What the server logged (stderr), for failure messages. */
  log(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Starts `prometheus --config.file CONFIG --storage.tsdb.path DATA` on 127.0.0.1:0 and
 * resolves once it reports ready (/-/ready answers 200); rejects with its log when it
 * exits first or `timeoutMs` passes.
 */
export async function startPrometheus(opts: {
  readonly configFile: string;
  readonly dataDir: string;
  readonly timeoutMs?: number;
}): Promise<PrometheusServer> {
  const bin = requireBinary('prometheus');
  const child = spawn(
    bin,
    [
      `--config.file=${opts.configFile}`,
      `--storage.tsdb.path=${opts.dataDir}`,
      '--web.listen-address=127.0.0.1:0',
      '--log.level=info',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  running.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
  let log = '';
  let exitedWith: string | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once('close', (code, signal) => {
      running.delete(child);
      exitedWith = `code ${code}, signal ${signal}`;
      resolve();
    }),
  );
  const stop = async (graceMs = 5000): Promise<void> => {
    if (exitedWith !== undefined) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  child.stderr!.setEncoding('utf8');
  const address = new Promise<string>((resolve) => {
    createInterface({ input: child.stderr! }).on('line', (line) => {
      log += line + '\n';
      // level=info component=web msg="Listening on" address=127.0.0.1:42599
      const m = /msg="Listening on" address=(127\.0\.0\.1:\d+)/.exec(line);
      if (m && !m[1]!.endsWith(':0')) resolve(m[1]!);
    });
  });
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    const addr = await Promise.race([
      address,
      exited.then(() => {
        throw new Error(`prometheus exited (${exitedWith}) before listening:\n${log}`);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`prometheus did not listen within ${timeoutMs} ms:\n${log}`)),
          timeoutMs,
        );
      }),
    ]);
    const url = `http://${addr}`;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ok = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (exitedWith !== undefined || Date.now() > deadline)
        throw new Error(`prometheus at ${url} never reported ready:\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return { url, child, log: () => log, stop };
  } catch (err) {
    await stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Stops every server startPrometheus() started that is still running. */
export async function stopAllPrometheus(): Promise<void> {
  await Promise.all(
    [...running].map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('close', () => resolve());
          c.kill('SIGKILL');
        }),
    ),
  );
}

export interface PromSeries {
  readonly metric: Readonly<Record<string, string>>;
  /** [unix seconds, value as Prometheus prints it] */
  readonly values?: readonly (readonly [number, string])[];
  readonly value?: readonly [number, string];
}

interface ApiReply<T> {
  readonly status: 'success' | 'error';
  readonly data?: T;
  readonly error?: string;
  readonly errorType?: string;
}

/** GET `path` of the HTTP API (with query parameters); throws on an error reply. */
export async function promApi<T>(
  base: string,
  path: string,
  params: Readonly<Record<string, string>> = {},
): Promise<T> {
  const url = new URL(path, base);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as ApiReply<T>;
  if (body.status !== 'success' || body.data === undefined)
    throw new Error(`${url.pathname}?${url.searchParams}: ${body.errorType}: ${body.error}`);
  return body.data;
}

/** An instant query: the vector's series (throws when the result is not a vector). */
export async function promQuery(base: string, expr: string): Promise<PromSeries[]> {
  const data = await promApi<{ resultType: string; result: PromSeries[] }>(base, '/api/v1/query', {
    query: expr,
  });
  if (data.resultType !== 'vector') throw new Error(`${expr}: a ${data.resultType}, not a vector`);
  return data.result;
}

/** A range query from `start` to `end` (Unix seconds), one point every `step` seconds. */
export async function promQueryRange(
  base: string,
  expr: string,
  start: number,
  end: number,
  step = 1,
): Promise<PromSeries[]> {
  const data = await promApi<{ resultType: string; result: PromSeries[] }>(
    base,
    '/api/v1/query_range',
    { query: expr, start: String(start), end: String(end), step: String(step) },
  );
  return data.result;
}

export interface PromAlert {
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly state: 'pending' | 'firing';
  readonly activeAt: string;
  readonly value: string;
}

/** Alerts pending or firing now (GET /api/v1/alerts). */
export async function promAlerts(base: string): Promise<PromAlert[]> {
  return (await promApi<{ alerts: PromAlert[] }>(base, '/api/v1/alerts')).alerts;
}
