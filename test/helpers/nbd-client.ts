// A small NBD client for tests: the fixed newstyle handshake, options one at a time,
// then pipelined requests matched to replies by handle. Built on nodes/nbd-protocol.ts's
// encoders, with its own reply parsing (so a server bug in the encoders does not hide
// behind a matching client bug in a decoder).
import net from 'node:net';
import {
  encodeClientFlags,
  encodeInfoRequest,
  encodeOption,
  encodeRequest,
  NBD_CMD,
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_IHAVEOPT,
  NBD_MAGIC,
  NBD_OPT,
  NBD_REP,
  NBD_REP_MAGIC,
  NBD_SIMPLE_REPLY_MAGIC,
} from '../../nodes/nbd-protocol.ts';

export interface OptionReply {
  readonly option: number;
  readonly type: number;
  readonly data: Uint8Array;
}

export interface NbdReply {
  readonly error: number;
  readonly data: Uint8Array | null;
}

/** A byte stream read in exact amounts; rejects once the socket closed short. */
class Reader {
  private buf = Buffer.alloc(0);
  private waiting: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | null =
    null;
  private ended: Error | null = null;

  constructor(socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      this.drain();
    });
    socket.on('close', () => {
      this.ended = new Error('nbd test client: connection closed');
      const w = this.waiting;
      this.waiting = null;
      w?.reject(this.ended);
    });
  }

  read(n: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.waiting = { n, resolve, reject };
      this.drain();
    });
  }

  private drain(): void {
    const w = this.waiting;
    if (!w) return;
    if (this.buf.length >= w.n) {
      this.waiting = null;
      const out = this.buf.subarray(0, w.n);
      this.buf = this.buf.subarray(w.n);
      w.resolve(Buffer.from(out));
    } else if (this.ended) {
      this.waiting = null;
      w.reject(this.ended);
    }
  }
}

export class NbdTestClient {
  readonly closed: Promise<void>;
  private readonly reader: Reader;
  private nextHandle = 1n;
  private readonly pending = new Map<
    bigint,
    { readonly length: number; readonly resolve: (r: NbdReply) => void; reject: (e: Error) => void }
  >();
  private replyLoop: Promise<void> | null = null;
  /** Export size and transmission flags from GO or EXPORT_NAME. */
  sizeBytes = 0n;
  transmissionFlags = 0;

  private constructor(readonly socket: net.Socket) {
    this.reader = new Reader(socket);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
  }

  /** Connects and reads the greeting (checks its magics); sends client flags. */
  static async connect(
    host: string,
    port: number,
    clientFlags = NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES,
  ): Promise<NbdTestClient> {
    const socket = net.connect({ host, port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const c = new NbdTestClient(socket);
    const g = await c.reader.read(18);
    if (g.readBigUInt64BE(0) !== NBD_MAGIC || g.readBigUInt64BE(8) !== NBD_IHAVEOPT) {
      throw new Error('nbd test client: bad greeting');
    }
    socket.write(encodeClientFlags(clientFlags));
    return c;
  }

  /** Sends an option and reads replies until one that is not NBD_REP_INFO/SERVER. */
  async option(option: number, data?: Uint8Array): Promise<OptionReply[]> {
    this.socket.write(encodeOption(option, data));
    const replies: OptionReply[] = [];
    for (;;) {
      const h = await this.reader.read(20);
      if (h.readBigUInt64BE(0) !== NBD_REP_MAGIC)
        throw new Error('nbd test client: bad reply magic');
      const len = h.readUInt32BE(16);
      const body = len > 0 ? await this.reader.read(len) : Buffer.alloc(0);
      const r = { option: h.readUInt32BE(8), type: h.readUInt32BE(12), data: body };
      replies.push(r);
      if (r.type !== NBD_REP.INFO && r.type !== NBD_REP.SERVER) return replies;
    }
  }

  /** NBD_OPT_GO: on ACK the connection is in transmission. */
  async go(name: string, infos: readonly number[] = []): Promise<OptionReply[]> {
    const replies = await this.option(NBD_OPT.GO, encodeInfoRequest(name, infos));
    const last = replies.at(-1);
    if (last?.type === NBD_REP.ACK) {
      for (const r of replies) {
        const v = Buffer.from(r.data);
        if (r.type === NBD_REP.INFO && v.readUInt16BE(0) === 0) {
          this.sizeBytes = v.readBigUInt64BE(2);
          this.transmissionFlags = v.readUInt16BE(10);
        }
      }
      this.startReplies();
    }
    return replies;
  }

  /** NBD_OPT_EXPORT_NAME (NO_ZEROES negotiated by connect's default flags). */
  async exportName(name: string): Promise<void> {
    this.socket.write(encodeOption(NBD_OPT.EXPORT_NAME, new TextEncoder().encode(name)));
    const r = await this.reader.read(10);
    this.sizeBytes = r.readBigUInt64BE(0);
    this.transmissionFlags = r.readUInt16BE(8);
    this.startReplies();
  }

  request(
    type: number,
    offset: bigint | number,
    length: number,
    data?: Uint8Array,
    flags = 0,
  ): Promise<NbdReply> {
    const handle = this.nextHandle++;
    return new Promise((resolve, reject) => {
      this.pending.set(handle, { length: type === NBD_CMD.READ ? length : 0, resolve, reject });
      this.socket.write(
        encodeRequest({ type, handle, offset, length, flags, ...(data ? { data } : {}) }),
      );
    });
  }

  read(offset: number, length: number): Promise<NbdReply> {
    return this.request(NBD_CMD.READ, offset, length);
  }

  write(offset: number, data: Uint8Array): Promise<NbdReply> {
    return this.request(NBD_CMD.WRITE, offset, data.length, data);
  }

  flush(): Promise<NbdReply> {
    return this.request(NBD_CMD.FLUSH, 0, 0);
  }

  trim(offset: number, length: number): Promise<NbdReply> {
    return this.request(NBD_CMD.TRIM, offset, length);
  }

  /** NBD_CMD_DISC (no reply); resolves when the server closed the connection. */
  async disconnect(): Promise<void> {
    this.socket.write(encodeRequest({ type: NBD_CMD.DISC, handle: 0n, offset: 0, length: 0 }));
    await this.closed;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private startReplies(): void {
    this.replyLoop ??= (async () => {
      try {
        for (;;) {
          const h = await this.reader.read(16);
          if (h.readUInt32BE(0) !== NBD_SIMPLE_REPLY_MAGIC) {
            throw new Error('nbd test client: bad simple reply magic');
          }
          const error = h.readUInt32BE(4);
          const handle = h.readBigUInt64BE(8);
          const p = this.pending.get(handle);
          if (!p) throw new Error(`nbd test client: reply for unknown handle ${handle}`);
          this.pending.delete(handle);
          const data = error === 0 && p.length > 0 ? await this.reader.read(p.length) : null;
          p.resolve({ error, data });
        }
      } catch (err) {
        for (const p of this.pending.values()) p.reject(err as Error);
        this.pending.clear();
      }
    })();
  }
}
