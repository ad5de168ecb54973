// C's swap store: one file, one fixed-size record per swap slot at slot * RECORD_SIZE.
// A write resolves only once its record is in the file (pwrite; the OS page cache keeps
// it if the process is killed), so a confirmed page survives a restart; every read is
// checked (magic, slot, CRC-32) and a damaged record is reported, never served.
import { constants, promises as fsp } from 'node:fs';
import { crc32 } from 'node:zlib';
import { ERROR_CODES, invariant, SwapnetError } from '../reserve/errors.ts';
import { PAGE_SIZE } from '../reserve/units.ts';
import type { PageStore, StoreReadResult, StoreWriteResult } from './machines/page-store.ts';
import { SWAP_STATUS } from './machines/swap-protocol.ts';

/**
 * Record header (big-endian):
 *   0  u32 magic ("SWPN")
 *   4  u32 format (1)
 *   8  u32 slot
 *  12  u32 page      (A's page number, for logs)
 *  16  u32 version   (the page's content version, for logs)
 *  20  u32 CRC-32 of bytes 8..20 and the page data
 *  24  8 bytes reserved (zero)
 * An all-zero header is a slot never written (a hole in a sparse file reads as zeros).
 */
export const RECORD_HEADER_BYTES = 32;
export const RECORD_SIZE = RECORD_HEADER_BYTES + PAGE_SIZE;
export const RECORD_MAGIC = 0x5357504e;
export const RECORD_FORMAT = 1;
/** Slots are u32 on the wire. */
export const MAX_SLOTS = 2 ** 32;

/** Records read at a time when the store is scanned on open (about 1 MiB). */
const SCAN_CHUNK_RECORDS = 256;
/** log2 of the slots one presence-bitmap chunk covers (4 KiB of bits). */
const PRESENT_CHUNK_SHIFT = 15;

export type { StoreReadResult, StoreWriteResult };

export interface SwapStoreOptions {
  /**
   * fdatasync before a write resolves (concurrent writes share one sync). Off by
   * default: a killed process keeps what it wrote; only a machine crash loses it.
   */
  readonly durable?: boolean;
}

/** What open() found in an existing file. */
export interface StoreOpenInfo {
  /** Slots holding a record that failed its check (they read as IO_ERROR until rewritten). */
  readonly corrupt: number;
  /** Record-sized regions of the file beyond the device (a store reopened smaller): ignored. */
  readonly beyondDevice: number;
}

type RecordCheck = 'empty' | 'valid' | 'truncated' | 'bad-magic' | 'wrong-slot' | 'bad-checksum';

function recordCrc(record: Uint8Array): number {
  return crc32(record.subarray(RECORD_HEADER_BYTES), crc32(record.subarray(8, 20)));
}

function allZero(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0) return false;
  return true;
}

/** Classifies the bytes found at `slot`'s offset (fewer than RECORD_SIZE at end of file). */
function checkRecord(bytes: Buffer, slot: number): RecordCheck {
  const head = bytes.subarray(0, RECORD_HEADER_BYTES);
  if (allZero(head)) return 'empty';
  if (bytes.length < RECORD_SIZE) return 'truncated';
  if (bytes.readUInt32BE(0) !== RECORD_MAGIC || bytes.readUInt32BE(4) !== RECORD_FORMAT)
    return 'bad-magic';
  if (bytes.readUInt32BE(8) !== slot) return 'wrong-slot';
  if (bytes.readUInt32BE(20) !== recordCrc(bytes)) return 'bad-checksum';
  return 'valid';
}

function errnoCode(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : 'EIO';
}

/**
 * A file-backed swap store of `slots` records. Operations on one slot run in the order
 * they were called (a read issued after a write sees it); different slots proceed
 * concurrently. Expected outcomes (out of range, never written, damaged) are values.
 */
export class SwapStore implements PageStore {
  private pageCount = 0;
  /**
   * One bit per slot: a record (valid or not) is in the file. Chunks are allocated as
   * slots are used, so a huge device costs memory only where it holds pages.
   */
  private readonly present = new Map<number, Uint8Array>();
  /** Present slots whose record failed its check. */
  private readonly corruptSlots = new Set<number>();
  /** The last operation queued per slot. */
  private readonly tails = new Map<number, Promise<unknown>>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private closing: Promise<void> | undefined;
  private syncRunning: Promise<void> | undefined;
  private syncQueued: Promise<void> | undefined;

  private constructor(
    readonly path: string,
    /** Device size in slots (pages). */
    readonly slots: number,
    private readonly fh: fsp.FileHandle,
    private readonly durable: boolean,
  ) {}

  /**
   * Opens the store at `path` with a device of `slots` pages, creating the file (mode
   * 0600) when missing; an existing file is scanned, so every record written before is
   * served again. Throws SwapnetError SWAPNET_ERR_STORE_SLOT for a bad `slots`,
   * SWAPNET_ERR_STORE_CORRUPT when the path is not a regular file or holds data with no
   * store record in it (a foreign file, which C must not overwrite), and the fs error
   * (with its errno code) when the file cannot be opened or read.
   */
  static async open(
    path: string,
    slots: number,
    options: SwapStoreOptions = {},
  ): Promise<{ store: SwapStore; info: StoreOpenInfo }> {
    if (!Number.isSafeInteger(slots) || slots < 1 || slots > MAX_SLOTS) {
      throw new SwapnetError(
        ERROR_CODES.slotOutOfRange,
        `slots: expected an integer from 1 to ${MAX_SLOTS}, got ${String(slots)}`,
      );
    }
    const fh = await fsp.open(path, constants.O_RDWR | constants.O_CREAT, 0o600);
    try {
      const stat = await fh.stat();
      if (!stat.isFile()) {
        throw new SwapnetError(ERROR_CODES.storeCorrupt, `${path} is not a regular file`);
      }
      const store = new SwapStore(path, slots, fh, options.durable ?? false);
      const fileRecords = Math.ceil(stat.size / RECORD_SIZE);
      await store.scan(Math.min(fileRecords, slots));
      return {
        store,
        info: {
          corrupt: store.corruptSlots.size,
          beyondDevice: Math.max(0, fileRecords - slots),
        },
      };
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
  }

  /** Records stored and valid (the swapnet_store_pages gauge). */
  get pages(): number {
    return this.pageCount;
  }

  /** Present records that failed their check. */
  get corrupt(): number {
    return this.corruptSlots.size;
  }

  /** True until close() is called. */
  get isOpen(): boolean {
    return this.closing === undefined;
  }

  /**
   * Stores PAGE_SIZE bytes of `data` in `slot`; resolves once the record is in the file
   * (and synced with `durable`). OUT_OF_RANGE for a slot beyond the device, IO_ERROR
   * (reason: the errno code) when the file refuses the write. Throws
   * SWAPNET_ERR_STORE_SLOT for a slot that is not a u32 and InvariantError for a wrong
   * data length or a closed store (caller bugs).
   */
  write(slot: number, page: number, version: number, data: Uint8Array): Promise<StoreWriteResult> {
    this.checkCall(slot);
    invariant(
      data.length === PAGE_SIZE,
      `swap store write: ${data.length} bytes, expected ${PAGE_SIZE}`,
    );
    if (slot >= this.slots) return Promise.resolve({ status: SWAP_STATUS.OUT_OF_RANGE });
    const record = Buffer.alloc(RECORD_SIZE);
    record.writeUInt32BE(RECORD_MAGIC, 0);
    record.writeUInt32BE(RECORD_FORMAT, 4);
    record.writeUInt32BE(slot, 8);
    record.writeUInt32BE(page >>> 0, 12);
    record.writeUInt32BE(version >>> 0, 16);
    record.set(data, RECORD_HEADER_BYTES);
    record.writeUInt32BE(recordCrc(record), 20);
    return this.onSlot(slot, async (): Promise<StoreWriteResult> => {
      try {
        await this.writeAll(record, slot * RECORD_SIZE);
        if (this.durable) await this.sync();
      } catch (err) {
        // The record may be half written: it reads as IO_ERROR until rewritten.
        this.markCorrupt(slot);
        return { status: SWAP_STATUS.IO_ERROR, reason: errnoCode(err), cause: err };
      }
      if (!this.isPresent(slot)) {
        this.setPresent(slot);
        this.pageCount++;
      } else if (this.corruptSlots.delete(slot)) {
        this.pageCount++;
      }
      return { status: SWAP_STATUS.OK };
    });
  }

  /**
   * Reads `slot` back: OK with the data when the record checks out, NOT_FOUND for a slot
   * never written, OUT_OF_RANGE beyond the device, IO_ERROR (reason: bad-magic,
   * wrong-slot, bad-checksum, truncated, or the errno code) otherwise. Throws as write().
   */
  read(slot: number): Promise<StoreReadResult> {
    this.checkCall(slot);
    if (slot >= this.slots) return Promise.resolve({ status: SWAP_STATUS.OUT_OF_RANGE });
    return this.onSlot(slot, async (): Promise<StoreReadResult> => {
      if (!this.isPresent(slot)) return { status: SWAP_STATUS.NOT_FOUND };
      const buf = Buffer.alloc(RECORD_SIZE);
      let got: number;
      try {
        got = await this.readAll(buf, slot * RECORD_SIZE);
      } catch (err) {
        return { status: SWAP_STATUS.IO_ERROR, reason: errnoCode(err), cause: err };
      }
      const check = checkRecord(buf.subarray(0, got), slot);
      if (check === 'valid') {
        return {
          status: SWAP_STATUS.OK,
          data: new Uint8Array(buf.buffer, buf.byteOffset + RECORD_HEADER_BYTES, PAGE_SIZE),
          page: buf.readUInt32BE(12),
          version: buf.readUInt32BE(16),
        };
      }
      // Present but now empty or damaged (the file was changed under us).
      this.markCorrupt(slot);
      return { status: SWAP_STATUS.IO_ERROR, reason: check === 'empty' ? 'truncated' : check };
    });
  }

  /**
   * Waits for every operation already called, then closes the file. Idempotent; no
   * operation may be called afterwards.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled([...this.inFlight]);
      await this.fh.close();
    })();
    return this.closing;
  }

  private checkCall(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= MAX_SLOTS) {
      throw new SwapnetError(
        ERROR_CODES.slotOutOfRange,
        `slot: expected a u32, got ${String(slot)}`,
      );
    }
    invariant(this.isOpen, () => `swap store ${this.path} used after close`);
  }

  /** Runs `op` after every earlier operation on `slot`. */
  private onSlot<T>(slot: number, op: () => Promise<T>): Promise<T> {
    const before = this.tails.get(slot);
    const run = before ? before.then(op, op) : op();
    this.tails.set(slot, run);
    this.inFlight.add(run);
    const done = (): void => {
      this.inFlight.delete(run);
      if (this.tails.get(slot) === run) this.tails.delete(slot);
    };
    run.then(done, done);
    return run;
  }

  private isPresent(slot: number): boolean {
    const chunk = this.present.get(slot >>> PRESENT_CHUNK_SHIFT);
    if (!chunk) return false;
    const bit = slot & ((1 << PRESENT_CHUNK_SHIFT) - 1);
    return (((chunk[bit >>> 3] as number) >>> (bit & 7)) & 1) === 1;
  }

  private setPresent(slot: number): void {
    const key = slot >>> PRESENT_CHUNK_SHIFT;
    let chunk = this.present.get(key);
    if (!chunk) {
      chunk = new Uint8Array(1 << (PRESENT_CHUNK_SHIFT - 3));
      this.present.set(key, chunk);
    }
    const bit = slot & ((1 << PRESENT_CHUNK_SHIFT) - 1);
    chunk[bit >>> 3] = (chunk[bit >>> 3] as number) | (1 << (bit & 7));
  }

  private markCorrupt(slot: number): void {
    if (!this.isPresent(slot)) this.setPresent(slot);
    else if (!this.corruptSlots.has(slot)) this.pageCount--;
    this.corruptSlots.add(slot);
  }

  private async scan(records: number): Promise<void> {
    const chunk = Buffer.alloc(SCAN_CHUNK_RECORDS * RECORD_SIZE);
    let nonEmpty = 0;
    let withMagic = 0;
    for (let first = 0; first < records; first += SCAN_CHUNK_RECORDS) {
      const count = Math.min(SCAN_CHUNK_RECORDS, records - first);
      const got = await this.readAll(chunk.subarray(0, count * RECORD_SIZE), first * RECORD_SIZE);
      for (let i = 0; i < count; i++) {
        const start = i * RECORD_SIZE;
        if (start >= got) break;
        const bytes = chunk.subarray(start, Math.min(start + RECORD_SIZE, got));
        const slot = first + i;
        const check = checkRecord(bytes, slot);
        if (check === 'empty') continue;
        nonEmpty++;
        if (bytes.length >= 4 && bytes.readUInt32BE(0) === RECORD_MAGIC) withMagic++;
        this.setPresent(slot);
        if (check === 'valid') this.pageCount++;
        else this.corruptSlots.add(slot);
      }
    }
    if (nonEmpty > 0 && withMagic === 0) {
      throw new SwapnetError(
        ERROR_CODES.storeCorrupt,
        `${this.path} is not a swapnet swap store: it holds data but no record with the store's magic`,
      );
    }
  }

  private async writeAll(bytes: Buffer, position: number): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await this.fh.write(
        bytes,
        done,
        bytes.length - done,
        position + done,
      );
      invariant(bytesWritten > 0, 'pwrite wrote nothing');
      done += bytesWritten;
    }
  }

  /** Reads up to bytes.length bytes at `position`; returns how many (fewer at end of file). */
  private async readAll(bytes: Buffer, position: number): Promise<number> {
    let done = 0;
    while (done < bytes.length) {
      const { bytesRead } = await this.fh.read(bytes, done, bytes.length - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done;
  }

  /**
   * fdatasync covering every write completed before the call. A sync already running
   * may have started before our write, so at most one more is queued behind it and
   * shared by every caller that arrives meanwhile (group commit).
   */
  private sync(): Promise<void> {
    if (this.syncQueued) return this.syncQueued;
    if (!this.syncRunning) {
      const run = this.fh.datasync().finally(() => {
        if (this.syncRunning === run) this.syncRunning = undefined;
      });
      this.syncRunning = run;
      return run;
    }
    const queued = this.syncRunning
      .catch(() => {})
      .then(() => {
        this.syncQueued = undefined;
        return this.sync();
      });
    this.syncQueued = queued;
    return queued;
  }
}
