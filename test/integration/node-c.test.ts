// Node C as a real process over real TCP, driven by a test client that plays A (HELLO,
// a PeerStack, flow 1): confirmed writes read back intact, also after SIGKILL and a
// restart on the same store; refusals, bad tokens and malformed messages are counted.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Connection, type CloseReason } from '../../netstack/connection.ts';
import type { Flow } from '../../netstack/flow.ts';
import type { Role } from '../../netstack/hello.ts';
import { PeerStack } from '../../netstack/peer-stack.ts';
import { connectTcp } from '../../netstack/tcp-link.ts';
import { realScheduler } from '../../nodes/real-scheduler.ts';
import {
  decodeSwapMessage,
  encodeRead,
  encodeWrite,
  SWAP_STATUS,
  type SwapStatus,
} from '../../nodes/machines/swap-protocol.ts';
import { pageContent, verifyPageContent } from '../../reserve/page-content.ts';
import { spawnNode, stopAllNodes, type NodeProcess } from '../helpers/node-process.ts';

const TOKEN = 'test';
/** mem.ramMiB=16 and swap.sizeMiB unset: the device is 2 x 16 MiB = 8192 pages. */
const RAM_MIB = 16;
const DEVICE_SLOTS = (2 * RAM_MIB * 1024 * 1024) / 4096;

let dir: string;
let storeFile: string;
const clients: SwapClient[] = [];

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'swapnet-node-c-'));
  storeFile = path.join(dir, 'c.swapstore');
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await stopAllNodes();
  await rm(dir, { recursive: true, force: true });
});

function startNodeC(): Promise<NodeProcess> {
  return spawnNode(
    'c',
    [
      '--listen',
      '127.0.0.1:0',
      '--http',
      '127.0.0.1:0',
      '--store',
      storeFile,
      '--set',
      `mem.ramMiB=${RAM_MIB}`,
    ],
    { ...process.env, SWAPNET_TOKEN: TOKEN },
  );
}

function hostPort(address: string | undefined): { host: string; port: number } {
  const m = /^(.+):(\d+)$/.exec(address ?? '');
  if (!m) throw new Error(`not a host:port: ${address}`);
  return { host: m[1] as string, port: Number(m[2]) };
}

interface Reply {
  readonly status: SwapStatus;
  readonly data: Uint8Array | null;
}

/** Plays A's swap driver: one connection, flow 1, requests matched to replies by handle. */
class SwapClient {
  private readonly scheduler = realScheduler();
  private readonly pending = new Map<number, { resolve(r: Reply): void; reject(e: Error): void }>();
  private nextHandle = 1;
  private readonly flow: Flow;
  readonly connection: Connection;
  /** Settles with the reason once the connection has ended. */
  readonly closed: Promise<CloseReason>;
  /** Messages on the flow that were not a well-formed reply to a pending request. */
  unexpected = 0;

  private constructor(link: Awaited<ReturnType<typeof connectTcp>>, role: Role, token: string) {
    const stack: PeerStack = new PeerStack({
      scheduler: this.scheduler,
      transmit: (f) => this.connection.send(f),
    });
    let ended: (reason: CloseReason) => void = () => {};
    this.closed = new Promise((resolve) => (ended = resolve));
    this.connection = new Connection(
      link,
      { self: { role, token } },
      {
        hello: () => {},
        frame: (f) => stack.handleFrame(f),
        batchEnd: () => stack.flushAcks(),
        closed: (reason) => {
          stack.closeAll();
          this.scheduler.stop();
          for (const p of this.pending.values())
            p.reject(new Error(`connection closed: ${reason}`));
          this.pending.clear();
          ended(reason);
        },
      },
    );
    link.onDrain = () => stack.pumpAll();
    this.flow = stack.openFlow(1, { message: (p) => this.onMessage(p) });
  }

  static async connect(address: string | undefined, role: Role = 'a', token = TOKEN) {
    const { host, port } = hostPort(address);
    const client = new SwapClient(await connectTcp(host, port), role, token);
    clients.push(client);
    return client;
  }

  write(slot: number, page: number, version: number): Promise<Reply> {
    const handle = this.nextHandle++;
    return this.request(
      handle,
      encodeWrite(handle, slot, page, version, pageContent(page, version)),
    );
  }

  read(slot: number, page: number): Promise<Reply> {
    const handle = this.nextHandle++;
    return this.request(handle, encodeRead(handle, slot, page));
  }

  /** Sends any payload on the swap flow (a malformed message). */
  sendRaw(payload: Uint8Array): void {
    this.flow.send(payload, undefined);
  }

  close(): void {
    this.connection.close('test-done');
  }

  private request(handle: number, payload: Uint8Array): Promise<Reply> {
    if (this.connection.closed) return Promise.reject(new Error('connection closed'));
    return new Promise((resolve, reject) => {
      this.pending.set(handle, { resolve, reject });
      this.flow.send(payload, undefined);
    });
  }

  private onMessage(payload: Uint8Array): void {
    const msg = decodeSwapMessage(payload);
    const waiter = msg?.op === 'reply' ? this.pending.get(msg.handle) : undefined;
    if (!msg || msg.op !== 'reply' || !waiter) {
      this.unexpected++;
      return;
    }
    this.pending.delete(msg.handle);
    waiter.resolve({ status: msg.status, data: msg.data });
  }
}

/** GET on a fresh connection (no keep-alive socket outlives the request). */
function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => (body += s));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** The value of one series in Prometheus text, matching every given label; undefined if absent. */
async function metric(
  node: NodeProcess,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const { body } = await httpGet(node.ready.metricsUrl);
  for (const line of body.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/**
 * C closed the connection: a FIN, or an RST when C's socket still held unread bytes (our
 * frames after a refused HELLO, or anything in flight when it was killed).
 */
function expectClosedByC(reason: CloseReason): void {
  expect(['peer-closed', 'ECONNRESET']).toContain(reason);
}

function expectPage(reply: Reply, page: number, version: number): void {
  expect(reply.status).toBe(SWAP_STATUS.OK);
  expect(reply.data !== null && verifyPageContent(reply.data, page, version)).toBe(true);
}

/** The pages this test writes: slots spread over the device, a page and version each. */
const pages = Array.from({ length: 64 }, (_, i) => ({
  slot: (i * 127) % DEVICE_SLOTS,
  page: 1000 + i,
  version: 1 + (i % 5),
}));

describe('node C (swap server) as a real process', () => {
  it('confirms writes, serves them back, and serves them again after SIGKILL and restart', async () => {
    const c1 = await startNodeC();
    expect(Object.keys(c1.ready.listen).sort()).toEqual(['http', 'swap']);
    const a1 = await SwapClient.connect(c1.ready.listen.swap);

    const written = await Promise.all(pages.map((p) => a1.write(p.slot, p.page, p.version)));
    expect(written.every((r) => r.status === SWAP_STATUS.OK && r.data === null)).toBe(true);
    for (const p of pages) expectPage(await a1.read(p.slot, p.page), p.page, p.version);
    expect(await metric(c1, 'swapnet_store_pages', { node: 'c' })).toBe(pages.length);
    expect(await metric(c1, 'swapnet_store_writes_total')).toBe(pages.length);
    expect(await metric(c1, 'swapnet_store_reads_total')).toBe(pages.length);

    const killed = await c1.stop('SIGKILL');
    expect(killed.signal).toBe('SIGKILL');
    expectClosedByC(await a1.closed);

    const c2 = await startNodeC();
    expect(await metric(c2, 'swapnet_store_pages')).toBe(pages.length);
    const a2 = await SwapClient.connect(c2.ready.listen.swap);
    const again = await Promise.all(pages.map((p) => a2.read(p.slot, p.page)));
    pages.forEach((p, i) => expectPage(again[i] as Reply, p.page, p.version));
    expect(a2.unexpected).toBe(0);
  });

  it('a page is confirmed only once stored: SIGKILL during a burst loses no confirmed page', async () => {
    const c1 = await startNodeC();
    const a1 = await SwapClient.connect(c1.ready.listen.swap);
    const burst = Array.from({ length: 400 }, (_, i) => ({
      slot: i * 3,
      page: 5000 + i,
      version: 7,
    }));
    const confirmed = new Set<number>();
    let reachedHalfway: () => void = () => {};
    const halfway = new Promise<void>((resolve) => (reachedHalfway = resolve));
    const done = burst.map((p) =>
      a1.write(p.slot, p.page, p.version).then(
        (r) => {
          if (r.status === SWAP_STATUS.OK) confirmed.add(p.slot);
          if (confirmed.size >= burst.length / 4) reachedHalfway();
        },
        () => {},
      ),
    );
    await halfway;
    await c1.stop('SIGKILL');
    await Promise.all(done);
    expect(confirmed.size).toBeGreaterThanOrEqual(burst.length / 4);

    const c2 = await startNodeC();
    const a2 = await SwapClient.connect(c2.ready.listen.swap);
    for (const p of burst) {
      const r = await a2.read(p.slot, p.page);
      if (confirmed.has(p.slot)) expectPage(r, p.page, p.version);
      // Unconfirmed: stored or not (or torn), but never served with the wrong content.
      else if (r.status === SWAP_STATUS.OK) expectPage(r, p.page, p.version);
      else expect([SWAP_STATUS.NOT_FOUND, SWAP_STATUS.IO_ERROR]).toContain(r.status);
    }
    expect(await metric(c2, 'swapnet_store_pages')).toBeGreaterThanOrEqual(confirmed.size);
  });

  it('refuses slots beyond the device and reports slots never written, counted by reason', async () => {
    const c = await startNodeC();
    const a = await SwapClient.connect(c.ready.listen.swap);
    expect((await a.write(DEVICE_SLOTS - 1, 1, 1)).status).toBe(SWAP_STATUS.OK);
    expect((await a.write(DEVICE_SLOTS, 2, 1)).status).toBe(SWAP_STATUS.OUT_OF_RANGE);
    expect((await a.read(DEVICE_SLOTS, 2)).status).toBe(SWAP_STATUS.OUT_OF_RANGE);
    expect((await a.read(0xffffffff, 2)).status).toBe(SWAP_STATUS.OUT_OF_RANGE);
    expect((await a.read(0, 3)).status).toBe(SWAP_STATUS.NOT_FOUND);

    expect(await metric(c, 'swapnet_store_refused_total', { reason: 'out_of_range' })).toBe(3);
    expect(await metric(c, 'swapnet_store_refused_total', { reason: 'not_found' })).toBe(1);
    expect(await metric(c, 'swapnet_store_refused_total', { reason: 'io_error' })).toBe(0);
    expect(await metric(c, 'swapnet_store_pages')).toBe(1);

    const status = await httpGet(c.ready.metricsUrl.replace(/\/metrics$/, '/status'));
    expect(JSON.parse(status.body)).toMatchObject({
      store: { path: storeFile, slots: DEVICE_SLOTS, pages: 1 },
      connections: 1,
    });
    const health = await httpGet(c.ready.metricsUrl.replace(/\/metrics$/, '/healthz'));
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ ok: true });
  });

  it('refuses a connection with the wrong token or role, and counts it', async () => {
    const c = await startNodeC();
    const badToken = await SwapClient.connect(c.ready.listen.swap, 'a', 'not-the-token');
    expectClosedByC(await badToken.closed);
    const badRole = await SwapClient.connect(c.ready.listen.swap, 'b');
    expectClosedByC(await badRole.closed);

    expect(await metric(c, 'swapnet_connections_total', { result: 'refused-bad-token' })).toBe(1);
    expect(await metric(c, 'swapnet_connections_total', { result: 'refused-bad-role' })).toBe(1);
    // C keeps serving the right peer.
    const a = await SwapClient.connect(c.ready.listen.swap);
    expect((await a.write(1, 1, 1)).status).toBe(SWAP_STATUS.OK);
    expect(await metric(c, 'swapnet_connections_total', { result: 'accepted' })).toBe(1);
  });

  it('counts malformed swap messages, answers nothing to them, and keeps serving the flow', async () => {
    const c = await startNodeC();
    const a = await SwapClient.connect(c.ready.listen.swap);
    a.sendRaw(Uint8Array.of(9, 1, 2, 3)); // unknown op
    a.sendRaw(encodeRead(77, 1, 1).subarray(0, 12)); // a READ one byte short
    a.sendRaw(Uint8Array.of(3, 0, 0, 0, 1, 0)); // a REPLY: C never takes one
    expectPage(await a.write(4, 44, 2).then(() => a.read(4, 44)), 44, 2);
    expect(await metric(c, 'swapnet_swap_messages_malformed_total')).toBe(3);
    expect(a.unexpected).toBe(0);
    expect(a.connection.closed).toBe(false);
  });

  it('refuses to start on a file that is not a swap store (exit 3), leaving it untouched', async () => {
    const foreign = "somebody else's data\n".repeat(500);
    await writeFile(storeFile, foreign);
    await expect(startNodeC()).rejects.toThrow(/code 3[\s\S]*SWAPNET_ERR_STORE_CORRUPT/);
    expect(await readFile(storeFile, 'utf8')).toBe(foreign);
  });

  it('exits 0 on SIGTERM, closing its connections, with confirmed pages kept', async () => {
    const c1 = await startNodeC();
    const a1 = await SwapClient.connect(c1.ready.listen.swap);
    expect((await a1.write(9, 90, 3)).status).toBe(SWAP_STATUS.OK);
    const exit = await c1.stop('SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
    // Stopped in order, not by the shell's forced exit after 5 s.
    expect(c1.stderr()).toMatch(/"msg":"stopped"/);
    expectClosedByC(await a1.closed);

    const c2 = await startNodeC();
    const a2 = await SwapClient.connect(c2.ready.listen.swap);
    expectPage(await a2.read(9, 90), 90, 3);
  });
});
