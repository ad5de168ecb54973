// Where C keeps A's pages, by swap slot. The process shell gives C a file
// (nodes/swap-store.ts: survives a restart); the simulation gives it memory. Both answer
// the same results: a write is confirmed only once the page is kept, a read returns
// exactly the bytes written or says why it cannot.
import { takeBytes } from '../../netstack/byte-slab.ts';
import { invariant } from '../../reserve/errors.ts';
import { fillPageContent, verifyPageContent } from '../../reserve/page-content.ts';
import { PAGE_SIZE } from '../../reserve/units.ts';
import { SWAP_STATUS } from './swap-protocol.ts';

type OutOfRange = { readonly status: typeof SWAP_STATUS.OUT_OF_RANGE };
type NotFound = { readonly status: typeof SWAP_STATUS.NOT_FOUND };
/** `reason`: what was wrong with the record, or the errno code of a failed system call. */
type IoError = {
  readonly status: typeof SWAP_STATUS.IO_ERROR;
  readonly reason: string;
  readonly cause?: unknown;
};

export type StoreWriteResult = { readonly status: typeof SWAP_STATUS.OK } | OutOfRange | IoError;

export type StoreReadResult =
  | {
      readonly status: typeof SWAP_STATUS.OK;
      /** PAGE_SIZE bytes, owned by the caller. */
      readonly data: Uint8Array;
      readonly page: number;
      readonly version: number;
    }
  | OutOfRange
  | NotFound
  | IoError;

export interface PageStore {
  /** Slots of the device. */
  readonly slots: number;
  /** Slots holding a page. */
  readonly pages: number;
  /** Slots holding a record that failed its check. */
  readonly corrupt: number;
  readonly isOpen: boolean;
  /** Where the pages live (a file path, or "memory"). */
  readonly path: string;
  write(slot: number, page: number, version: number, data: Uint8Array): Promise<StoreWriteResult>;
  read(slot: number): Promise<StoreReadResult>;
  close(): Promise<void>;
}

/**
 * C's store in a simulation. A page whose bytes are exactly the content of its (page,
 * version) (reserve/page-content.ts) is kept as those two numbers and rebuilt on read;
 * any other bytes are kept verbatim. So it returns exactly what was written, and a
 * simulated swap device of hundreds of MiB costs a few bytes a page.
 */
export class MemoryPageStore implements PageStore {
  readonly path = 'memory';
  private open = true;

  constructor(
    readonly slots: number,
    private readonly canonical = new Map<number, { page: number; version: number }>(),
    private readonly verbatim = new Map<
      number,
      { page: number; version: number; data: Uint8Array }
    >(),
  ) {}

  /** The same pages, open again (C restarted on its store). */
  reopen(): MemoryPageStore {
    return new MemoryPageStore(this.slots, this.canonical, this.verbatim);
  }

  get pages(): number {
    return this.canonical.size + this.verbatim.size;
  }

  get corrupt(): number {
    return 0;
  }

  get isOpen(): boolean {
    return this.open;
  }

  write(slot: number, page: number, version: number, data: Uint8Array): Promise<StoreWriteResult> {
    invariant(this.open, 'memory page store: write after close');
    invariant(data.length === PAGE_SIZE, `memory page store write: ${data.length} bytes`);
    if (slot >= this.slots) return Promise.resolve({ status: SWAP_STATUS.OUT_OF_RANGE });
    if (verifyPageContent(data, page, version)) {
      this.verbatim.delete(slot);
      this.canonical.set(slot, { page, version });
    } else {
      this.canonical.delete(slot);
      this.verbatim.set(slot, { page, version, data: data.slice() });
    }
    return Promise.resolve({ status: SWAP_STATUS.OK });
  }

  read(slot: number): Promise<StoreReadResult> {
    invariant(this.open, 'memory page store: read after close');
    if (slot >= this.slots) return Promise.resolve({ status: SWAP_STATUS.OUT_OF_RANGE });
    const c = this.canonical.get(slot);
    if (c) {
      const data = takeBytes(PAGE_SIZE);
      fillPageContent(data, c.page, c.version);
      return Promise.resolve({ status: SWAP_STATUS.OK, data, ...c });
    }
    const v = this.verbatim.get(slot);
    if (v) {
      const data = takeBytes(PAGE_SIZE);
      data.set(v.data);
      return Promise.resolve({ status: SWAP_STATUS.OK, ...v, data });
    }
    return Promise.resolve({ status: SWAP_STATUS.NOT_FOUND });
  }

  close(): Promise<void> {
    this.open = false;
    return Promise.resolve();
  }
}
