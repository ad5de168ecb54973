// Ingest benchmark: what one B-style frame costs A, in CPU time of the thread that reads
// it. Each round a writer process (ingest-writer.ts) sends the same pre-encoded stream
// over real loopback TCP twice: once to A's whole receive path (decode, checksum, skb
// allocation, demux, TCP, queue, the service reading, ACKs), once to a bare socket reader
// that only walks the length prefixes. Each reader's CPU time from its first read to its
// last frame, divided by the frames in the stream, is its cost a frame.
//
// Why CPU time and not frames per wall second: a wall rate is the slower of the writer's
// and the reader's, and on this shared 2-core machine the writer (then a thread of the
// same process) was often the slower, so both rates were the writer's and their ratio
// said nothing about A (0.75 to 1.04 over five runs). A reader's CPU time a frame does
// not depend on how fast the bytes come as long as it finds full 64 KiB reads waiting:
// the writer hands the kernel the whole stream in one write, from another process so
// that none of its work is counted here, and `*KiBPerRead` and `*Busy` (event-loop
// utilisation over the window) show that the readers found their reads full and never
// waited. The clock is the reading thread's own run time (/proc/thread-self/schedstat,
// ns), which off Linux falls back to the process's CPU time (`cpuClock` says which); the
// whole process's (with V8's GC and compiler threads, which do much of A's collection)
// is given beside it.
//
// What still moves the figures is not the writer but this machine: a page fault on a
// fresh page costs tens of µs here (a VM), and a round that faults in new read buffers
// or heap pages pays them (`*PageFaults`), as does a round that shares the cores with
// other work. Disturbances only add CPU time, so the headline is each reader's best
// round: framesPerSecond and rawFramesPerSecond are frames per CPU-second of the reading
// thread in it (1e6 / the least µs a frame), ratio the first over the second. Every
// figure is also given over the rounds as min / median / max, with the ratio of each
// round (both readers back to back, in alternating order).
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { AStack } from '../../netstack/a-stack.ts';
import { Connection } from '../../netstack/connection.ts';
import { ERA_KNOBS } from '../../netstack/era.ts';
import { readU32 } from '../../netstack/frame.ts';
import { DEFAULT_MEMORY_CONFIG, MemoryModel } from '../../reserve/memory-model.ts';
import type { Scheduler } from '../../reserve/clock.ts';
import {
  INGEST_TOKEN,
  type WriteRequest,
  type WriterReady,
  type WriterSpec,
} from './ingest-writer.ts';

export interface Spread {
  readonly min: number;
  readonly median: number;
  readonly max: number;
}

export interface IngestResult {
  readonly frameBytes: number;
  /** A: frames per CPU-second of its reading thread in its best round. */
  readonly framesPerSecond: number;
  /** The bare reader: frames per CPU-second of its reading thread in its best round. */
  readonly rawFramesPerSecond: number;
  /** framesPerSecond / rawFramesPerSecond. */
  readonly ratio: number;
  /** Measured rounds (after one warm-up round), and the frames each reader read in one. */
  readonly rounds: number;
  readonly framesPerRound: number;
  /** What `*CpuMicrosPerFrame` count: the reading thread alone, or (off Linux) its process. */
  readonly cpuClock: 'thread' | 'process';
  /** CPU µs a frame of the reading thread. */
  readonly aCpuMicrosPerFrame: Spread;
  readonly rawCpuMicrosPerFrame: Spread;
  /** rawCpuMicrosPerFrame / aCpuMicrosPerFrame of each round. */
  readonly ratioPerRound: Spread;
  /** CPU µs a frame of the whole reading process: the thread plus V8's GC and JIT threads. */
  readonly aProcessCpuMicrosPerFrame: Spread;
  readonly rawProcessCpuMicrosPerFrame: Spread;
  /** Event-loop utilisation over the measured window: near 1, the reader never waited. */
  readonly aBusy: Spread;
  readonly rawBusy: Spread;
  /** Mean bytes a socket read returned (64 KiB is the most libuv asks for). */
  readonly aKiBPerRead: Spread;
  readonly rawKiBPerRead: Spread;
  /** Page faults of the reading process in a round (tens of µs each here). */
  readonly aPageFaults: Spread;
  readonly rawPageFaults: Spread;
}

/** One reader's round. */
interface Sample {
  /** By `cpuClock`. */
  readonly cpuMicrosPerFrame: number;
  readonly processCpuMicrosPerFrame: number;
  readonly busy: number;
  readonly kibPerRead: number;
  readonly pageFaults: number;
}

const settleCell = new Int32Array(new SharedArrayBuffer(4));

/**
 * The calling thread's run time in ns, or undefined where /proc has no schedstat. The
 * kernel adds a running thread's time to that figure only at a tick (4 ms at HZ=250) or a
 * context switch; sleeping 50 µs first forces the switch, so it is exact to a few µs.
 */
function threadCpuNs(): number | undefined {
  try {
    Atomics.wait(settleCell, 0, 0, 0.05);
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
  } catch {
    return undefined;
  }
}

const cpuClock: 'thread' | 'process' = threadCpuNs() === undefined ? 'process' : 'thread';

/** CPU time of this process (every thread, user and system) in µs; exact (getrusage). */
function processCpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function pageFaults(): number {
  const r = process.resourceUsage();
  return r.minorPageFault + r.majorPageFault;
}

/** Counts one reader's reads and bytes; the window opens at its first read. */
class ReadMeter {
  private reads = 0;
  private bytes = 0;
  private thread0: number | undefined;
  private process0 = 0;
  private faults0 = 0;
  private elu0: EventLoopUtilization | undefined;

  read(bytes: number): void {
    if (this.elu0 === undefined) {
      this.elu0 = performance.eventLoopUtilization();
      this.thread0 = threadCpuNs();
      this.process0 = processCpuMicros();
      this.faults0 = pageFaults();
    }
    this.reads++;
    this.bytes += bytes;
  }

  finish(frames: number): Sample {
    const cpu = processCpuMicros() - this.process0;
    const thread1 = threadCpuNs();
    const elu = performance.eventLoopUtilization(this.elu0);
    return {
      cpuMicrosPerFrame:
        thread1 === undefined || this.thread0 === undefined
          ? cpu / frames
          : (thread1 - this.thread0) / 1000 / frames,
      processCpuMicrosPerFrame: cpu / frames,
      busy: elu.utilization,
      kibPerRead: this.bytes / this.reads / 1024,
      pageFaults: pageFaults() - this.faults0,
    };
  }
}

/** The real-time scheduler of a node (nodes/ has the full one; this is all the bench needs). */
const realTime: Scheduler = {
  now: () => performance.now(),
  schedule: (ms, fn) => {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
};

/** A server on port 0 that runs `reader` for its one connection; resolves its sample. */
function serveOnce(
  request: (port: number) => void,
  reader: (socket: net.Socket, done: (s: Sample) => void, fail: (e: Error) => void) => void,
): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => {
      server.close();
      socket.on('error', () => {});
      reader(
        socket,
        (s) => {
          socket.destroy();
          resolve(s);
        },
        (e) => {
          socket.destroy();
          reject(e);
        },
      );
    });
    server.listen(0, '127.0.0.1', () => request((server.address() as net.AddressInfo).port));
  });
}

/** A's whole receive path, then the service reading and A's ACKs, for `frames` frames. */
function readThroughA(frames: number, dataFrames: number) {
  return (socket: net.Socket, done: (s: Sample) => void, fail: (e: Error) => void): void => {
    const model = new MemoryModel(
      { ...DEFAULT_MEMORY_CONFIG, ramPages: 65536, swapPages: 1024 },
      realTime,
    );
    const stack = new AStack({ model, era: ERA_KNOBS.modern });
    const meter = new ReadMeter();
    let delivered = 0;
    let finished = false;
    socket.setNoDelay(true);
    const link = {
      label: 'bench',
      closed: false,
      get backedUp() {
        return socket.writableNeedDrain;
      },
      onData: (_c: Uint8Array) => {},
      onDrain: () => {},
      onClose: (_r: string) => {},
      write: (b: Uint8Array) => socket.write(b),
      close: () => socket.destroy(),
    };
    socket.on('data', (c: Buffer) => {
      meter.read(c.length);
      link.onData(new Uint8Array(c.buffer, c.byteOffset, c.length));
    });
    const aconn = stack.attach({ send: (f) => connection.send(f) });
    const connection = new Connection(
      link,
      {
        self: { role: 'a', token: INGEST_TOKEN },
        expect: { token: INGEST_TOKEN, roles: ['b'] },
        batchWrites: (run) => setImmediate(run),
      },
      {
        hello: () => {},
        frame: (f) => stack.receive(aconn, f),
        batchEnd: () => {
          // The service consumes what arrived, then A sends its ACKs.
          for (const s of aconn.sockets.values()) while (s.read()) delivered++;
          stack.flush(aconn);
          if (delivered >= dataFrames && !finished) {
            finished = true;
            done(meter.finish(frames));
          }
        },
        closed: (reason) => {
          if (!finished) fail(new Error(`A closed after ${delivered} frames: ${reason}`));
        },
      },
    );
  };
}

/** A reader that only walks the length prefixes of `frames` frames. */
function readBare(frames: number) {
  return (socket: net.Socket, done: (s: Sample) => void): void => {
    const meter = new ReadMeter();
    let seen = 0;
    let pending: Uint8Array = new Uint8Array(0);
    socket.on('data', (chunk: Buffer) => {
      meter.read(chunk.length);
      let buf: Uint8Array = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
      if (pending.length > 0) {
        buf = new Uint8Array(pending.length + chunk.length);
        buf.set(pending);
        buf.set(chunk, pending.length);
      }
      let at = 0;
      while (buf.length - at >= 4) {
        const len = readU32(buf, at);
        if (buf.length - at < 4 + len) break;
        at += 4 + len;
        seen++;
      }
      pending = buf.subarray(at);
      if (seen === frames) done(meter.finish(frames));
    });
  };
}

/** The writer process, once it has encoded the stream. */
async function startWriter(
  spec: WriterSpec,
): Promise<{ request: (port: number) => void; stop: () => void; ready: WriterReady }> {
  // The parent's tsx loader, without a --cpu-prof meant for the reader.
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--cpu-prof'));
  const child = fork(
    fileURLToPath(new URL('./ingest-writer.ts', import.meta.url)),
    [JSON.stringify(spec)],
    { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const ready = await new Promise<WriterReady>((resolve, reject) => {
    child.once('message', (m) => resolve(m as WriterReady));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`ingest writer exited with ${code}`)));
  });
  return {
    ready,
    request: (port) => child.send({ port } satisfies WriteRequest),
    stop: () => child.disconnect(),
  };
}

/** A full collection outside the measured windows, so no round pays for another's garbage. */
function collector(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

function spread(xs: readonly number[], digits: number): Spread {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median =
    s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
  const r = (x: number): number => Number(x.toFixed(digits));
  return { min: r(s[0] as number), median: r(median), max: r(s[s.length - 1] as number) };
}

const us = (x: number): string => x.toFixed(3);

/** One round: both readers back to back, in the order given. */
async function round(
  writer: { request: (port: number) => void },
  frames: number,
  dataFrames: number,
  bareFirst: boolean,
  gc: () => void,
): Promise<{ a: Sample; raw: Sample }> {
  const bare = async (): Promise<Sample> => {
    gc();
    return serveOnce(writer.request, readBare(frames));
  };
  const throughA = async (): Promise<Sample> => {
    gc();
    return serveOnce(writer.request, readThroughA(frames, dataFrames));
  };
  if (bareFirst) {
    const raw = await bare();
    return { raw, a: await throughA() };
  }
  const a = await throughA();
  return { a, raw: await bare() };
}

/**
 * `rounds` rounds of `count` DATA frames of `frameBytes` on 64 flows, after one warm-up
 * round (the JIT compiling both readers) that is not counted. The order of the two
 * readers alternates from round to round, so a drift in the machine's load favours
 * neither.
 */
export async function benchIngest(
  frameBytes = 1024,
  count = 50_000,
  rounds = 12,
  note: (line: string) => void = () => {},
): Promise<IngestResult> {
  const flows = 64;
  const writer = await startWriter({ count, payloadBytes: frameBytes, flows });
  const gc = collector();
  const frames = writer.ready.frames;
  const a: Sample[] = [];
  const raw: Sample[] = [];
  try {
    await round(writer, frames, count, true, gc);
    for (let i = 0; i < rounds; i++) {
      const r = await round(writer, frames, count, i % 2 === 1, gc);
      a.push(r.a);
      raw.push(r.raw);
      note(
        `ingest round ${i + 1}/${rounds}: µs/frame thread (process) A ${us(r.a.cpuMicrosPerFrame)} ` +
          `(${us(r.a.processCpuMicrosPerFrame)}), bare ${us(r.raw.cpuMicrosPerFrame)} ` +
          `(${us(r.raw.processCpuMicrosPerFrame)}), ratio ` +
          `${(r.raw.cpuMicrosPerFrame / r.a.cpuMicrosPerFrame).toFixed(3)}; busy ` +
          `${r.a.busy.toFixed(2)} / ${r.raw.busy.toFixed(2)}, KiB/read ` +
          `${r.a.kibPerRead.toFixed(1)} / ${r.raw.kibPerRead.toFixed(1)}, page faults ` +
          `${r.a.pageFaults} / ${r.raw.pageFaults}`,
      );
    }
  } finally {
    writer.stop();
  }
  const aUs = spread(
    a.map((s) => s.cpuMicrosPerFrame),
    3,
  );
  const rawUs = spread(
    raw.map((s) => s.cpuMicrosPerFrame),
    3,
  );
  const framesPerSecond = Math.round(1e6 / aUs.min);
  const rawFramesPerSecond = Math.round(1e6 / rawUs.min);
  return {
    frameBytes,
    framesPerSecond,
    rawFramesPerSecond,
    ratio: Number((framesPerSecond / rawFramesPerSecond).toFixed(3)),
    rounds,
    framesPerRound: frames,
    cpuClock,
    aCpuMicrosPerFrame: aUs,
    rawCpuMicrosPerFrame: rawUs,
    ratioPerRound: spread(
      a.map((s, i) => (raw[i] as Sample).cpuMicrosPerFrame / s.cpuMicrosPerFrame),
      3,
    ),
    aProcessCpuMicrosPerFrame: spread(
      a.map((s) => s.processCpuMicrosPerFrame),
      3,
    ),
    rawProcessCpuMicrosPerFrame: spread(
      raw.map((s) => s.processCpuMicrosPerFrame),
      3,
    ),
    aBusy: spread(
      a.map((s) => s.busy),
      2,
    ),
    rawBusy: spread(
      raw.map((s) => s.busy),
      2,
    ),
    aKiBPerRead: spread(
      a.map((s) => s.kibPerRead),
      1,
    ),
    rawKiBPerRead: spread(
      raw.map((s) => s.kibPerRead),
      1,
    ),
    aPageFaults: spread(
      a.map((s) => s.pageFaults),
      0,
    ),
    rawPageFaults: spread(
      raw.map((s) => s.pageFaults),
      0,
    ),
  };
}
