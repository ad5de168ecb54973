// A node's HTTP side: GET /metrics (Prometheus text), /healthz, /status (JSON), /sockets
// (JSON, machine A: every emulated socket), and
// POST /control/<action> guarded by the topology token (x-swapnet-token header). Bad
// requests get a 4xx and a counter; garbage on the port never crashes the node.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tokensEqual } from '../netstack/hello.ts';
import type { Logger } from './logger.ts';
import type { HostPort } from './node-args.ts';
import { ControlError } from './machines/control-error.ts';
import type { ShellCounters } from './shell-counters.ts';

export interface HttpHandlers {
  metrics(): Promise<{ body: string; contentType: string }>;
  healthz(): { ok: boolean; [k: string]: unknown };
  status(): unknown;
  /** Every socket of the node's emulated stack (GET /sockets; 404 without). */
  sockets?(): unknown;
  /** A control action (fault injection); throws ControlError for a bad request. */
  control?(action: string, body: unknown): Promise<unknown>;
}

export { ControlError };

const MAX_BODY = 64 * 1024;

export interface HttpService {
  readonly address: HostPort;
  close(): Promise<void>;
}

export function startHttp(
  listen: HostPort,
  token: string,
  handlers: HttpHandlers,
  log: Logger,
  counters: ShellCounters,
): Promise<HttpService> {
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      log.error({ err }, 'http handler failed');
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const refused = new WeakSet<object>();
  server.on('clientError', (err, socket) => {
    // The parser stays failed: every later chunk on this socket raises clientError again.
    if (refused.has(socket)) {
      socket.destroy();
      return;
    }
    refused.add(socket);
    counters.httpBadRequests++;
    log.debug({ err: (err as NodeJS.ErrnoException).code }, 'bad http request');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://node');
    if (req.method === 'GET' && url.pathname === '/metrics') {
      const m = await handlers.metrics();
      res.writeHead(200, { 'content-type': m.contentType });
      res.end(m.body);
      return;
    }
    if (req.method === 'GET' && url.pathname === '/healthz') {
      const h = handlers.healthz();
      send(res, h.ok ? 200 : 503, h);
      return;
    }
    if (req.method === 'GET' && url.pathname === '/status') {
      send(res, 200, handlers.status());
      return;
    }
    if (req.method === 'GET' && url.pathname === '/sockets' && handlers.sockets) {
      send(res, 200, handlers.sockets());
      return;
    }
    if (req.method === 'POST' && url.pathname.startsWith('/control/') && handlers.control) {
      const given = req.headers['x-swapnet-token'];
      if (typeof given !== 'string' || !tokensEqual(given, token)) {
        counters.controlRefused++;
        req.resume();
        send(res, 403, { error: 'a valid x-swapnet-token header is required' });
        return;
      }
      const body = await readBody(req);
      if (body === undefined) {
        counters.httpBadRequests++;
        send(res, 400, { error: `body must be JSON of at most ${MAX_BODY} bytes` });
        return;
      }
      try {
        send(res, 200, await handlers.control(url.pathname.slice('/control/'.length), body));
      } catch (err) {
        if (err instanceof ControlError) {
          counters.httpBadRequests++;
          send(res, err.status, { error: err.message });
          return;
        }
        throw err;
      }
      return;
    }
    counters.httpBadRequests++;
    req.resume();
    send(res, 404, { error: `no ${req.method} ${url.pathname}` });
  }

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: listen.host, port: listen.port }, () => {
      server.removeListener('error', reject);
      const a = server.address() as AddressInfo;
      resolve({
        address: { host: a.address, port: a.port },
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(text);
}

function readBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        req.destroy();
        resolve(undefined);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve({});
      try {
        resolve(JSON.parse(text));
      } catch {
        resolve(undefined);
      }
    });
    req.on('error', () => resolve(undefined));
  });
}
