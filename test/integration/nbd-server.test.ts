// C's NBD listener against a real C process (`--nbd-listen 127.0.0.1:0`) over real TCP:
// the handshake (GO, INFO, EXPORT_NAME, LIST, ABORT, unsupported options), writes read
// back (aligned, unaligned, never written), FLUSH, TRIM, DISC, the protocol's errors, the
// fault gate (stall, blackhole, reset) on NBD connections, and hostile clients (fuzzed
// with fixed seeds): every malformed stream is closed and counted by reason, C stays
// healthy, and a client afterwards is served as before.
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  encodeClientFlags,
  encodeInfoRequest,
  encodeOption,
  encodeRequest,
  NBD_CMD,
  NBD_CMD_FLAG_FUA,
  NBD_ERR,
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_SEND_FLUSH,
  NBD_FLAG_SEND_TRIM,
  NBD_INFO,
  NBD_IHAVEOPT,
  NBD_OPT,
  NBD_REP,
  NBD_REQUEST_MAGIC,
} from '../../nodes/nbd-protocol.ts';
import { hostPort, httpGet, WAIT_MS } from '../helpers/light-topology.ts';
import { NbdTestClient } from '../helpers/nbd-client.ts';
import { spawnNode, type NodeProcess } from '../helpers/node-process.ts';
import { parsePromText } from '../helpers/prom-text.ts';

const TOKEN = 'nbd-server-token';
const SEED = 0x0bd5;
const PAGE = 4096;
/** swap.sizeMiB=16: the device C serves. */
const DEVICE_BYTES = 16 * 1024 * 1024;

let dir: string;
let c: NodeProcess | undefined;
const node = (): NodeProcess => {
  if (!c) throw new Error('C did not start');
  return c;
};
const clients = new Set<NbdTestClient>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'swapnet-nbd-'));
  c = await spawnNode(
    'c',
    ['--store', join(dir, 'store'), '--nbd-listen', '127.0.0.1:0', '--set', 'swap.sizeMiB=16'],
    { PATH: process.env.PATH, SWAPNET_TOKEN: TOKEN },
  );
}, 60_000);

afterAll(async () => {
  for (const cl of clients) cl.destroy();
  await c?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function connect(): Promise<NbdTestClient> {
  const { host, port } = hostPort(node().ready.listen.nbd);
  const cl = await NbdTestClient.connect(host, port);
  clients.add(cl);
  return cl;
}

async function transmitting(): Promise<NbdTestClient> {
  const cl = await connect();
  const replies = await cl.go('swapnet');
  expect(replies.at(-1)?.type).toBe(NBD_REP.ACK);
  return cl;
}

function pattern(bytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < bytes; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function post(pathname: string, body: unknown): Promise<number> {
  const { host, port } = hostPort(node().ready.listen.http);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host,
        port,
        path: pathname,
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'x-swapnet-token': TOKEN },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const same = (a: Uint8Array | null, b: Uint8Array): boolean =>
  a !== null && Buffer.from(a).equals(Buffer.from(b));

async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  return parsePromText((await httpGet(node(), '/metrics')).body).value(name, labels) ?? 0;
}

async function expectHealthy(): Promise<void> {
  const h = await httpGet(node(), '/healthz');
  expect(h.status, h.body).toBe(200);
  expect(node().child.exitCode).toBeNull();
}

describe('the handshake', () => {
  it('shows the nbd listener in the ready line, bound where asked', () => {
    expect(hostPort(node().ready.listen.nbd).host).toBe('127.0.0.1');
  });

  it('NBD_OPT_GO answers the export (size, FLUSH and TRIM), the block sizes asked for, then ACK', async () => {
    const cl = await connect();
    const replies = await cl.go('swapnet', [NBD_INFO.BLOCK_SIZE]);
    expect(replies.map((r) => r.type)).toEqual([NBD_REP.INFO, NBD_REP.INFO, NBD_REP.ACK]);
    expect(cl.sizeBytes).toBe(BigInt(DEVICE_BYTES));
    expect(cl.transmissionFlags & NBD_FLAG_SEND_FLUSH).not.toBe(0);
    expect(cl.transmissionFlags & NBD_FLAG_SEND_TRIM).not.toBe(0);
    const bs = Buffer.from(replies[1]?.data ?? []);
    expect([bs.readUInt16BE(0), bs.readUInt32BE(2), bs.readUInt32BE(6)]).toEqual([
      NBD_INFO.BLOCK_SIZE,
      1,
      PAGE,
    ]);
    await cl.disconnect();
  });

  it('NBD_OPT_INFO answers without leaving the handshake; GO on the same connection then transmits', async () => {
    const cl = await connect();
    const info = await cl.option(NBD_OPT.INFO, encodeInfoRequest(''));
    expect(info.map((r) => r.type)).toEqual([NBD_REP.INFO, NBD_REP.ACK]);
    await cl.go('');
    expect((await cl.read(0, PAGE)).error).toBe(0);
    await cl.disconnect();
  });

  it('answers unsupported options NBD_REP_ERR_UNSUP, an unknown export ERR_UNKNOWN, a bad GO payload ERR_INVALID, and stays in the handshake', async () => {
    const cl = await connect();
    expect((await cl.option(NBD_OPT.STARTTLS)).map((r) => r.type)).toEqual([NBD_REP.ERR_UNSUP]);
    expect((await cl.option(NBD_OPT.STRUCTURED_REPLY)).map((r) => r.type)).toEqual([
      NBD_REP.ERR_UNSUP,
    ]);
    expect((await cl.option(999)).map((r) => r.type)).toEqual([NBD_REP.ERR_UNSUP]);
    expect((await cl.option(NBD_OPT.GO, encodeInfoRequest('nope'))).map((r) => r.type)).toEqual([
      NBD_REP.ERR_UNKNOWN,
    ]);
    expect((await cl.option(NBD_OPT.GO, new Uint8Array([0, 0, 0, 9]))).map((r) => r.type)).toEqual([
      NBD_REP.ERR_INVALID,
    ]);
    const list = await cl.option(NBD_OPT.LIST);
    expect(list.map((r) => r.type)).toEqual([NBD_REP.SERVER, NBD_REP.ACK]);
    expect(
      Buffer.from(list[0]?.data ?? [])
        .subarray(4)
        .toString(),
    ).toBe('swapnet');
    expect((await cl.go('swapnet')).at(-1)?.type).toBe(NBD_REP.ACK);
    await cl.disconnect();
  });

  it('NBD_OPT_ABORT is acknowledged and the connection closed', async () => {
    const cl = await connect();
    expect((await cl.option(NBD_OPT.ABORT)).map((r) => r.type)).toEqual([NBD_REP.ACK]);
    await cl.closed;
  });

  it('NBD_OPT_EXPORT_NAME transmits; an unknown name is closed and counted as refused', async () => {
    const cl = await connect();
    await cl.exportName('swapnet');
    expect(cl.sizeBytes).toBe(BigInt(DEVICE_BYTES));
    expect((await cl.write(0, pattern(PAGE, 7))).error).toBe(0);
    await cl.disconnect();
    const before = await metric('swapnet_nbd_refused_total', { reason: 'unknown-export' });
    const bad = await connect();
    bad.socket.write(encodeOption(NBD_OPT.EXPORT_NAME, new TextEncoder().encode('other')));
    await bad.closed;
    expect(await metric('swapnet_nbd_refused_total', { reason: 'unknown-export' })).toBe(
      before + 1,
    );
  });
});

describe('transmission', () => {
  it('reads back what was written, aligned and unaligned; a block never written reads as zeros', async () => {
    const cl = await transmitting();
    const pages = pattern(3 * PAGE, 1);
    expect((await cl.write(PAGE, pages)).error).toBe(0);
    const back = await cl.read(PAGE, 3 * PAGE);
    expect(back.error).toBe(0);
    expect(Buffer.from(back.data ?? []).equals(Buffer.from(pages))).toBe(true);

    // Unaligned: 5000 bytes from offset PAGE + 100, read-modify-write of two slots.
    const patch = pattern(5000, 2);
    expect((await cl.write(PAGE + 100, patch)).error).toBe(0);
    const expected = Buffer.from(pages);
    expected.set(patch, 100);
    const after = await cl.read(PAGE, 3 * PAGE);
    expect(Buffer.from(after.data ?? []).equals(expected)).toBe(true);
    // Unaligned read inside one slot.
    const mid = await cl.read(PAGE + 50, 100);
    expect(Buffer.from(mid.data ?? []).equals(expected.subarray(50, 150))).toBe(true);

    const never = await cl.read(DEVICE_BYTES - 2 * PAGE, 2 * PAGE);
    expect(never.error).toBe(0);
    expect(never.data?.every((b) => b === 0)).toBe(true);
    await cl.disconnect();
  });

  it('pipelines: 64 writes then 64 reads in flight at once all come back intact', async () => {
    const cl = await transmitting();
    const n = 64;
    const writes = await Promise.all(
      Array.from({ length: n }, (_, i) => cl.write((100 + i) * PAGE, pattern(PAGE, 100 + i))),
    );
    expect(writes.every((r) => r.error === 0)).toBe(true);
    const reads = await Promise.all(
      Array.from({ length: n }, (_, i) => cl.read((100 + i) * PAGE, PAGE)),
    );
    for (const [i, r] of reads.entries()) {
      expect(Buffer.from(r.data ?? []).equals(Buffer.from(pattern(PAGE, 100 + i)))).toBe(true);
    }
    await cl.disconnect();
  });

  it('FLUSH and TRIM succeed; DISC answers what was in flight, then closes', async () => {
    const cl = await transmitting();
    const w = cl.write(300 * PAGE, pattern(PAGE, 300));
    expect((await cl.flush()).error).toBe(0);
    expect((await w).error).toBe(0);
    expect((await cl.trim(0, 16 * PAGE)).error).toBe(0);
    const inFlight = cl.write(301 * PAGE, pattern(PAGE, 301));
    await cl.disconnect();
    expect((await inFlight).error).toBe(0);
    const again = await transmitting();
    const r = await again.read(301 * PAGE, PAGE);
    expect(Buffer.from(r.data ?? []).equals(Buffer.from(pattern(PAGE, 301)))).toBe(true);
    await again.disconnect();
  });

  it("answers with the protocol's errors: EINVAL for a read past the end, unknown commands and flags; ENOSPC for a write past the end", async () => {
    const cl = await transmitting();
    expect((await cl.read(DEVICE_BYTES - PAGE, 2 * PAGE)).error).toBe(NBD_ERR.EINVAL);
    expect((await cl.read(0, 0)).error).toBe(NBD_ERR.EINVAL);
    expect((await cl.write(DEVICE_BYTES, pattern(PAGE, 3))).error).toBe(NBD_ERR.ENOSPC);
    expect((await cl.request(NBD_CMD.CACHE, 0, PAGE)).error).toBe(NBD_ERR.EINVAL);
    expect((await cl.request(NBD_CMD.WRITE_ZEROES, 0, PAGE)).error).toBe(NBD_ERR.EINVAL);
    expect((await cl.request(NBD_CMD.BLOCK_STATUS, 0, PAGE)).error).toBe(NBD_ERR.EINVAL);
    expect((await cl.request(NBD_CMD.READ, 0, PAGE, undefined, 0x80)).error).toBe(NBD_ERR.EINVAL);
    expect((await cl.request(NBD_CMD.READ, 2n ** 63n, PAGE)).error).toBe(NBD_ERR.EINVAL);
    expect(
      (await cl.request(NBD_CMD.WRITE, 0, PAGE, pattern(PAGE, 4), NBD_CMD_FLAG_FUA)).error,
    ).toBe(0);
    // The connection is still good.
    expect(same((await cl.read(0, PAGE)).data, pattern(PAGE, 4))).toBe(true);
    expect(await metric('swapnet_nbd_errors_total', { error: 'einval' })).toBeGreaterThanOrEqual(6);
    await cl.disconnect();
  });
});

describe("C's fault gate on NBD connections", () => {
  it('stall: requests are not read until heal, then answered', async () => {
    const cl = await transmitting();
    expect(await post('/control/fault', { mode: 'stall' })).toBe(200);
    let answered = false;
    const w = cl.write(400 * PAGE, pattern(PAGE, 400)).then((r) => {
      answered = true;
      return r;
    });
    // A round trip through C's event loop and its store: a write it had read would be answered by now.
    await httpGet(node(), '/status');
    await httpGet(node(), '/status');
    expect(answered).toBe(false);
    expect(await post('/control/heal', {})).toBe(200);
    expect((await w).error).toBe(0);
    expect(same((await cl.read(400 * PAGE, PAGE)).data, pattern(PAGE, 400))).toBe(true);
    await cl.disconnect();
  });

  it('blackhole: requests are read and discarded (counted); after heal the connection is served', async () => {
    const cl = await transmitting();
    const before = await metric('swapnet_fault_frames_dropped_total', {
      mode: 'blackhole',
      direction: 'in',
    });
    expect(await post('/control/fault', { mode: 'blackhole', direction: 'in' })).toBe(200);
    void cl.write(401 * PAGE, pattern(PAGE, 401)).catch(() => undefined);
    const deadline = Date.now() + WAIT_MS;
    while (
      (await metric('swapnet_fault_frames_dropped_total', { mode: 'blackhole', direction: 'in' })) <
        before + 1 &&
      Date.now() < deadline
    );
    expect(
      await metric('swapnet_fault_frames_dropped_total', { mode: 'blackhole', direction: 'in' }),
    ).toBe(before + 1);
    expect(await post('/control/heal', {})).toBe(200);
    // The discarded write never reached the store.
    const r = await cl.read(401 * PAGE, PAGE);
    expect(r.data?.every((b) => b === 0)).toBe(true);
    cl.destroy();
  });

  it('reset: open NBD connections are reset, new ones refused until heal', async () => {
    const cl = await transmitting();
    expect(await post('/control/fault', { mode: 'reset' })).toBe(200);
    await cl.closed;
    const { host, port } = hostPort(node().ready.listen.nbd);
    await expect(NbdTestClient.connect(host, port)).rejects.toThrow();
    expect(await post('/control/heal', {})).toBe(200);
    const ok = await transmitting();
    expect((await ok.read(0, PAGE)).error).toBe(0);
    await ok.disconnect();
  });
});

// ---- hostile clients ----

interface Raw {
  readonly socket: net.Socket;
  readonly closed: Promise<void>;
}

async function raw(): Promise<Raw> {
  const { host, port } = hostPort(node().ready.listen.nbd);
  const socket = net.connect({ host, port });
  socket.on('error', () => {});
  // Flowing: what C sends is read and dropped, so its FIN is seen (a paused socket never ends).
  socket.resume();
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, closed };
}

async function closedWithin(r: Raw, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new Error(`${what}: not closed within 5000 ms\n${node().stderr().slice(-3000)}`)),
      5000,
    );
  });
  try {
    await Promise.race([r.closed, late]);
  } finally {
    clearTimeout(timer);
  }
}

const FLAGS = encodeClientFlags(NBD_FLAG_C_FIXED_NEWSTYLE);
const GO = encodeOption(NBD_OPT.GO, encodeInfoRequest('swapnet'));
const concat = (...parts: Uint8Array[]): Uint8Array => Buffer.concat(parts);

async function malformedTotals(): Promise<Record<string, number>> {
  const prom = parsePromText((await httpGet(node(), '/metrics')).body);
  const out: Record<string, number> = {};
  for (const s of prom.samples) {
    if (s.name === 'swapnet_nbd_malformed_total') out[s.labels.reason ?? '?'] = s.value;
  }
  return out;
}

describe(`hostile NBD clients (seed ${SEED})`, () => {
  it('garbage in the handshake and in transmission: every stream closed and counted by reason, C healthy', async () => {
    const before = await malformedTotals();
    const expected: Record<string, number> = {};
    const notMagic = (magic: bigint) =>
      fc
        .uint8Array({ minLength: 16, maxLength: 200 })
        .filter((b) => Buffer.from(b).readBigUInt64BE(0) !== magic);
    const notReqMagic = fc
      .uint8Array({ minLength: 28, maxLength: 200 })
      .filter((b) => Buffer.from(b).readUInt32BE(0) !== NBD_REQUEST_MAGIC);
    const cases = fc.oneof(
      fc.uint8Array({ minLength: 4, maxLength: 64 }).map((b) => {
        const out = Buffer.from(b);
        out[0] = (out[0] as number) | 0x80; // an unknown client flag
        return { bytes: out as Uint8Array, reason: 'nbd-bad-client-flags', afterGo: false };
      }),
      notMagic(NBD_IHAVEOPT).map((b) => ({
        bytes: concat(FLAGS, b),
        reason: 'nbd-bad-option-magic',
        afterGo: false,
      })),
      fc.nat().map((n) => {
        const h = Buffer.from(encodeOption(7, new Uint8Array(0)));
        h.writeUInt32BE(8193 + (n % 1_000_000), 12);
        return {
          bytes: concat(FLAGS, h) as Uint8Array,
          reason: 'nbd-option-too-long',
          afterGo: false,
        };
      }),
      notReqMagic.map((b) => ({
        bytes: concat(FLAGS, GO, b),
        reason: 'nbd-bad-request-magic',
        afterGo: true,
      })),
      fc.nat().map((n) => ({
        bytes: concat(
          FLAGS,
          GO,
          encodeRequest({
            type: NBD_CMD.WRITE,
            handle: 1n,
            offset: 0,
            length: 32 * 1024 * 1024 + 1 + n,
          }),
        ),
        reason: 'nbd-write-too-long',
        afterGo: true,
      })),
    );
    const samples = fc.sample(cases, { seed: SEED, numRuns: 300 });
    for (const s of samples) {
      const r = await raw();
      r.socket.write(s.bytes);
      await closedWithin(r, `${s.reason} ${Buffer.from(s.bytes).toString('hex')}`);
      expected[s.reason] = (expected[s.reason] ?? 0) + 1;
    }
    const after = await malformedTotals();
    const moved = Object.fromEntries(
      Object.entries(after)
        .map(([k, v]) => [k, v - (before[k] ?? 0)] as const)
        .filter(([, v]) => v !== 0),
    );
    expect(moved).toEqual(expected);
    await expectHealthy();
  });

  it('well-formed requests with arbitrary fields are each answered with a protocol error or success, never a crash', async () => {
    const req = fc.record({
      type: fc.constantFrom(0, 1, 3, 4, 5, 6, 7, 8, 99, 0xffff),
      flags: fc.oneof(fc.constant(0), fc.constant(1), fc.nat(0xffff)),
      offset: fc.oneof(
        fc.nat(DEVICE_BYTES / PAGE - 1).map((p) => BigInt(p * PAGE)),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      ),
      length: fc.oneof(fc.constant(0), fc.constant(PAGE), fc.nat(3 * PAGE), fc.nat(0xffffffff)),
    });
    const batches = fc.sample(fc.array(req, { minLength: 1, maxLength: 20 }), {
      seed: SEED + 1,
      numRuns: 40,
    });
    const allowed = new Set<number>([0, NBD_ERR.EINVAL, NBD_ERR.ENOSPC]);
    for (const batch of batches) {
      const cl = await transmitting();
      const replies = await Promise.all(
        batch.map((r) => {
          // A WRITE carries its payload: only small ones are sent whole.
          if (r.type === NBD_CMD.WRITE && r.length > 3 * PAGE) return Promise.resolve(null);
          const data = r.type === NBD_CMD.WRITE ? pattern(r.length, r.length) : undefined;
          return cl.request(r.type, r.offset, r.length, data, r.flags);
        }),
      );
      for (const rep of replies)
        if (rep) expect(allowed.has(rep.error), String(rep.error)).toBe(true);
      await cl.disconnect();
    }
    await expectHealthy();
  });

  it('a handshake and a write sent one byte at a time are served; half a request then a close is survived', async () => {
    const r = await raw();
    const page = pattern(PAGE, 500);
    const bytes = concat(
      FLAGS,
      GO,
      encodeRequest({
        type: NBD_CMD.WRITE,
        handle: 7n,
        offset: 500 * PAGE,
        length: PAGE,
        data: page,
      }),
    );
    const got: Buffer[] = [];
    r.socket.on('data', (b: Buffer) => got.push(b));
    for (const b of bytes) {
      await new Promise<void>((resolve) => r.socket.write(Uint8Array.of(b), () => resolve()));
    }
    const deadline = Date.now() + WAIT_MS;
    // greeting 18 + INFO reply 32 + ACK 20 + simple reply 16
    while (Buffer.concat(got).length < 18 + 32 + 20 + 16 && Date.now() < deadline) {
      await new Promise((resolve) => r.socket.once('data', resolve));
    }
    const all = Buffer.concat(got);
    const reply = all.subarray(all.length - 16);
    expect(reply.readUInt32BE(4)).toBe(0);
    expect(reply.readBigUInt64BE(8)).toBe(7n);
    r.socket.destroy();

    const half = await raw();
    half.socket.write(
      concat(
        FLAGS,
        GO,
        encodeRequest({
          type: NBD_CMD.WRITE,
          handle: 8n,
          offset: 0,
          length: PAGE,
          data: page,
        }).subarray(0, 1000),
      ),
    );
    half.socket.destroy();
    await half.closed;

    const cl = await transmitting();
    expect(same((await cl.read(500 * PAGE, PAGE)).data, page)).toBe(true);
    await cl.disconnect();
    await expectHealthy();
  });
});
