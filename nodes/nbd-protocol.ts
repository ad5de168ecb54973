// The NBD wire protocol (https://github.com/NetworkBlockDevice/nbd, doc/proto.md), as
// much of it as C serves: the fixed newstyle handshake, its options, and the simple
// replies of the transmission phase. Pure encoding and decoding, no I/O: a decoder is fed
// bytes in any split and hands out one whole message at a time, so the server can switch
// it from the handshake to transmission between two messages. A message the decoder
// cannot trust (wrong magic, absurd length) ends the stream: it reports why, once.

/** "NBDMAGIC": the first 8 bytes the server sends. */
export const NBD_MAGIC = 0x4e42444d41474943n;
/** "IHAVEOPT": follows NBD_MAGIC in the newstyle greeting and starts every option. */
export const NBD_IHAVEOPT = 0x49484156454f5054n;
/** Starts every option reply. */
export const NBD_REP_MAGIC = 0x3e889045565a9n;
export const NBD_REQUEST_MAGIC = 0x25609513;
export const NBD_SIMPLE_REPLY_MAGIC = 0x67446698;

/** Handshake flags (server -> client, u16). */
export const NBD_FLAG_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_NO_ZEROES = 1 << 1;
/** Client flags (client -> server, u32). */
export const NBD_FLAG_C_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_C_NO_ZEROES = 1 << 1;
const KNOWN_CLIENT_FLAGS = NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES;

/** Transmission flags (u16), sent with the export's size. */
export const NBD_FLAG_HAS_FLAGS = 1 << 0;
export const NBD_FLAG_READ_ONLY = 1 << 1;
export const NBD_FLAG_SEND_FLUSH = 1 << 2;
export const NBD_FLAG_SEND_FUA = 1 << 3;
export const NBD_FLAG_SEND_TRIM = 1 << 5;

export const NBD_OPT = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
} as const;

export const NBD_REP = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  ERR_UNSUP: 2 ** 31 + 1,
  ERR_POLICY: 2 ** 31 + 2,
  ERR_INVALID: 2 ** 31 + 3,
  ERR_UNKNOWN: 2 ** 31 + 6,
} as const;

export const NBD_INFO = { EXPORT: 0, NAME: 1, DESCRIPTION: 2, BLOCK_SIZE: 3 } as const;

export const NBD_CMD = {
  READ: 0,
  WRITE: 1,
  DISC: 2,
  FLUSH: 3,
  TRIM: 4,
  CACHE: 5,
  WRITE_ZEROES: 6,
  BLOCK_STATUS: 7,
} as const;

/** Command flags (u16 of a request). FUA: the write must be on stable storage when answered. */
export const NBD_CMD_FLAG_FUA = 1 << 0;

/** The errno values NBD puts in a reply (fixed by the protocol, not the host's). */
export const NBD_ERR = {
  OK: 0,
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
} as const;

/** Longest option data accepted (names are at most 4096 bytes): longer ends the stream. */
export const NBD_MAX_OPTION_BYTES = 8192;
/** Longest READ or WRITE payload (the kernel's nbd sends at most 32 MiB). */
export const NBD_MAX_PAYLOAD_BYTES = 32 * 1024 * 1024;

const GREETING_BYTES = 18;
const OPTION_HEADER_BYTES = 16;
const REQUEST_HEADER_BYTES = 28;
const SIMPLE_REPLY_HEADER_BYTES = 16;

/** Why a decoder gave up on its stream (the reason a connection is closed and counted). */
export const NBD_DECODE_ERRORS = [
  'nbd-bad-client-flags',
  'nbd-bad-option-magic',
  'nbd-option-too-long',
  'nbd-bad-request-magic',
  'nbd-write-too-long',
] as const;
export type NbdDecodeError = (typeof NBD_DECODE_ERRORS)[number];

export type NbdClientMessage =
  | { readonly kind: 'client-flags'; readonly flags: number }
  | { readonly kind: 'option'; readonly option: number; readonly data: Uint8Array }
  | {
      readonly kind: 'request';
      readonly flags: number;
      readonly type: number;
      /** The client's cookie, echoed in the reply. */
      readonly handle: bigint;
      /** Above Number.MAX_SAFE_INTEGER it is kept exact here and refused by range checks. */
      readonly offset: bigint;
      readonly length: number;
      /** WRITE only: `length` bytes (a copy, owned by the caller). */
      readonly data: Uint8Array | null;
    }
  | { readonly kind: 'error'; readonly reason: NbdDecodeError };

type Phase = 'client-flags' | 'options' | 'transmission' | 'failed';

/**
 * Decodes what a client sends a server. Starts in the handshake (client flags, then
 * options); the server calls startTransmission() once an option moved to transmission.
 * next() returns the next whole message, null until more bytes arrive, and after an
 * `error` message null for ever.
 */
export class NbdServerDecoder {
  private phase: Phase = 'client-flags';
  private buf = new Uint8Array(0);
  private pos = 0;

  push(chunk: Uint8Array): void {
    if (this.phase === 'failed' || chunk.length === 0) return;
    const left = this.buf.length - this.pos;
    if (left === 0) {
      this.buf = new Uint8Array(chunk); // a copy (Buffer.slice would share memory)
    } else {
      const merged = new Uint8Array(left + chunk.length);
      merged.set(this.buf.subarray(this.pos));
      merged.set(chunk, left);
      this.buf = merged;
    }
    this.pos = 0;
  }

  /** Bytes received and not yet decoded. */
  get buffered(): number {
    return this.buf.length - this.pos;
  }

  get inTransmission(): boolean {
    return this.phase === 'transmission';
  }

  startTransmission(): void {
    if (this.phase === 'options') this.phase = 'transmission';
  }

  next(): NbdClientMessage | null {
    const avail = this.buf.length - this.pos;
    const view = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, avail);
    switch (this.phase) {
      case 'failed':
        return null;
      case 'client-flags': {
        if (avail < 4) return null;
        const flags = view.getUint32(0);
        this.pos += 4;
        if ((flags & ~KNOWN_CLIENT_FLAGS) !== 0 || (flags & NBD_FLAG_C_FIXED_NEWSTYLE) === 0) {
          return this.fail('nbd-bad-client-flags');
        }
        this.phase = 'options';
        return { kind: 'client-flags', flags };
      }
      case 'options': {
        if (avail < OPTION_HEADER_BYTES) return null;
        if (view.getBigUint64(0) !== NBD_IHAVEOPT) return this.fail('nbd-bad-option-magic');
        const option = view.getUint32(8);
        const length = view.getUint32(12);
        if (length > NBD_MAX_OPTION_BYTES) return this.fail('nbd-option-too-long');
        if (avail < OPTION_HEADER_BYTES + length) return null;
        const start = this.pos + OPTION_HEADER_BYTES;
        const data = this.buf.slice(start, start + length);
        this.pos = start + length;
        return { kind: 'option', option, data };
      }
      case 'transmission': {
        if (avail < REQUEST_HEADER_BYTES) return null;
        if (view.getUint32(0) !== NBD_REQUEST_MAGIC) return this.fail('nbd-bad-request-magic');
        const flags = view.getUint16(4);
        const type = view.getUint16(6);
        const handle = view.getBigUint64(8);
        const offset = view.getBigUint64(16);
        const length = view.getUint32(24);
        let data: Uint8Array | null = null;
        const start = this.pos + REQUEST_HEADER_BYTES;
        if (type === NBD_CMD.WRITE) {
          // The payload's length is only known from the header: past this bound the
          // stream cannot be trusted to resynchronise, so it ends here.
          if (length > NBD_MAX_PAYLOAD_BYTES) return this.fail('nbd-write-too-long');
          if (avail < REQUEST_HEADER_BYTES + length) return null;
          data = this.buf.slice(start, start + length);
          this.pos = start + length;
        } else {
          this.pos = start;
        }
        return { kind: 'request', flags, type, handle, offset, length, data };
      }
    }
  }

  private fail(reason: NbdDecodeError): NbdClientMessage {
    this.phase = 'failed';
    this.buf = new Uint8Array(0);
    this.pos = 0;
    return { kind: 'error', reason };
  }
}

// ---- Encoders (server side) ----

/** The fixed newstyle greeting: NBDMAGIC, IHAVEOPT, handshake flags. */
export function encodeGreeting(handshakeFlags: number): Uint8Array {
  const out = new Uint8Array(GREETING_BYTES);
  const v = new DataView(out.buffer);
  v.setBigUint64(0, NBD_MAGIC);
  v.setBigUint64(8, NBD_IHAVEOPT);
  v.setUint16(16, handshakeFlags);
  return out;
}

export function encodeOptionReply(
  option: number,
  type: number,
  data: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const out = new Uint8Array(20 + data.length);
  const v = new DataView(out.buffer);
  v.setBigUint64(0, NBD_REP_MAGIC);
  v.setUint32(8, option);
  v.setUint32(12, type);
  v.setUint32(16, data.length);
  out.set(data, 20);
  return out;
}

/** NBD_REP_INFO's payload for NBD_INFO_EXPORT: size and transmission flags. */
export function encodeInfoExport(sizeBytes: number, transmissionFlags: number): Uint8Array {
  const out = new Uint8Array(12);
  const v = new DataView(out.buffer);
  v.setUint16(0, NBD_INFO.EXPORT);
  v.setBigUint64(2, BigInt(sizeBytes));
  v.setUint16(10, transmissionFlags);
  return out;
}

/** NBD_REP_INFO's payload for NBD_INFO_BLOCK_SIZE. */
export function encodeInfoBlockSize(min: number, preferred: number, max: number): Uint8Array {
  const out = new Uint8Array(14);
  const v = new DataView(out.buffer);
  v.setUint16(0, NBD_INFO.BLOCK_SIZE);
  v.setUint32(2, min);
  v.setUint32(6, preferred);
  v.setUint32(10, max);
  return out;
}

/** NBD_REP_SERVER's payload (NBD_OPT_LIST): one export name. */
export function encodeServerName(name: string): Uint8Array {
  const bytes = new TextEncoder().encode(name);
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length);
  out.set(bytes, 4);
  return out;
}

/** The answer to NBD_OPT_EXPORT_NAME (no option-reply header): size, flags, 124 zeroes unless NO_ZEROES. */
export function encodeExportNameReply(
  sizeBytes: number,
  transmissionFlags: number,
  noZeroes: boolean,
): Uint8Array {
  const out = new Uint8Array(10 + (noZeroes ? 0 : 124));
  const v = new DataView(out.buffer);
  v.setBigUint64(0, BigInt(sizeBytes));
  v.setUint16(8, transmissionFlags);
  return out;
}

/** A simple reply: magic, error, handle, then `data` (READ's, only when error is 0). */
export function encodeSimpleReply(handle: bigint, error: number, data?: Uint8Array): Uint8Array {
  const len = error === 0 && data ? data.length : 0;
  const out = new Uint8Array(SIMPLE_REPLY_HEADER_BYTES + len);
  const v = new DataView(out.buffer);
  v.setUint32(0, NBD_SIMPLE_REPLY_MAGIC);
  v.setUint32(4, error);
  v.setBigUint64(8, handle);
  if (len > 0 && data) out.set(data, SIMPLE_REPLY_HEADER_BYTES);
  return out;
}

// ---- Parsing option payloads (server side) ----

/** NBD_OPT_INFO / NBD_OPT_GO payload: export name and the info types asked for. */
export interface InfoRequest {
  readonly name: string;
  readonly infos: readonly number[];
}

/** Parses an INFO/GO payload; null when its lengths do not add up (answer NBD_REP_ERR_INVALID). */
export function parseInfoRequest(data: Uint8Array): InfoRequest | null {
  if (data.length < 6) return null;
  const v = new DataView(data.buffer, data.byteOffset, data.length);
  const nameLen = v.getUint32(0);
  if (4 + nameLen + 2 > data.length) return null;
  const name = decodeName(data.subarray(4, 4 + nameLen));
  if (name === null) return null;
  const count = v.getUint16(4 + nameLen);
  if (4 + nameLen + 2 + count * 2 !== data.length) return null;
  const infos: number[] = [];
  for (let i = 0; i < count; i++) infos.push(v.getUint16(4 + nameLen + 2 + i * 2));
  return { name, infos };
}

/** An export name as UTF-8; null when it is not valid UTF-8. */
export function decodeName(bytes: Uint8Array): string | null {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

// ---- Encoders (client side: test clients and the guest's relay) ----

export function encodeClientFlags(flags: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, flags);
  return out;
}

export function encodeOption(option: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(OPTION_HEADER_BYTES + data.length);
  const v = new DataView(out.buffer);
  v.setBigUint64(0, NBD_IHAVEOPT);
  v.setUint32(8, option);
  v.setUint32(12, data.length);
  out.set(data, OPTION_HEADER_BYTES);
  return out;
}

/** The payload of NBD_OPT_INFO / NBD_OPT_GO. */
export function encodeInfoRequest(name: string, infos: readonly number[] = []): Uint8Array {
  const n = new TextEncoder().encode(name);
  const out = new Uint8Array(4 + n.length + 2 + infos.length * 2);
  const v = new DataView(out.buffer);
  v.setUint32(0, n.length);
  out.set(n, 4);
  v.setUint16(4 + n.length, infos.length);
  infos.forEach((t, i) => v.setUint16(4 + n.length + 2 + i * 2, t));
  return out;
}

export function encodeRequest(r: {
  readonly flags?: number;
  readonly type: number;
  readonly handle: bigint;
  readonly offset: bigint | number;
  readonly length: number;
  readonly data?: Uint8Array;
}): Uint8Array {
  const payload = r.data ?? new Uint8Array(0);
  const out = new Uint8Array(REQUEST_HEADER_BYTES + payload.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, NBD_REQUEST_MAGIC);
  v.setUint16(4, r.flags ?? 0);
  v.setUint16(6, r.type);
  v.setBigUint64(8, r.handle);
  v.setBigUint64(16, BigInt(r.offset));
  v.setUint32(24, r.length);
  out.set(payload, REQUEST_HEADER_BYTES);
  return out;
}
