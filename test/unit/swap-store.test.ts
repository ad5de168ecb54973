// The swap store on real temporary files: round trips, reopening serves what was
// confirmed, refusals are values (out of range, never written, damaged record), and the
// page count is rebuilt from the file on open.
import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SWAP_STATUS } from '../../nodes/machines/swap-protocol.ts';
import {
  RECORD_HEADER_BYTES,
  RECORD_SIZE,
  SwapStore,
  type StoreReadResult,
} from '../../nodes/swap-store.ts';
import { pageContent, verifyPageContent } from '../../reserve/page-content.ts';
import { ERROR_CODES } from '../../reserve/errors.ts';

let dir: string;
let file: string;
const opened: SwapStore[] = [];

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'swapnet-store-'));
  file = path.join(dir, 'c.swapstore');
});

afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
  await rm(dir, { recursive: true, force: true });
});

async function openStore(slots: number, durable = false) {
  const r = await SwapStore.open(file, slots, { durable });
  opened.push(r.store);
  return r;
}

function expectPage(r: StoreReadResult, page: number, version: number): void {
  expect(r.status).toBe(SWAP_STATUS.OK);
  if (r.status !== SWAP_STATUS.OK) return;
  expect(verifyPageContent(r.data, page, version)).toBe(true);
  expect(r.page).toBe(page);
  expect(r.version).toBe(version);
}

/** Flips one bit of the byte at `offset` in the store file. */
async function flipByte(offset: number): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, offset);
    b[0] = (b[0] as number) ^ 0x10;
    await fh.write(b, 0, 1, offset);
  } finally {
    await fh.close();
  }
}

describe('SwapStore', () => {
  it('reads back what was written, with page and version', async () => {
    const { store } = await openStore(64);
    expect(await store.write(5, 1234, 7, pageContent(1234, 7))).toEqual({
      status: SWAP_STATUS.OK,
    });
    expectPage(await store.read(5), 1234, 7);
    expect(store.pages).toBe(1);
  });

  it('has the record in the file when write() resolves, at slot * RECORD_SIZE', async () => {
    const { store } = await openStore(64);
    await store.write(3, 9, 2, pageContent(9, 2));
    const bytes = await readFile(file);
    expect(bytes.length).toBe(4 * RECORD_SIZE);
    const data = bytes.subarray(3 * RECORD_SIZE + RECORD_HEADER_BYTES, 4 * RECORD_SIZE);
    expect(verifyPageContent(new Uint8Array(data), 9, 2)).toBe(true);
  });

  it('a reopened store serves every record written before, and counts them', async () => {
    const first = await openStore(1024);
    const slots = [0, 1, 17, 500, 1023];
    await Promise.all(
      slots.map((s) => first.store.write(s, s * 3, s + 1, pageContent(s * 3, s + 1))),
    );
    expect(first.store.pages).toBe(slots.length);
    await first.store.close();

    const again = await openStore(1024);
    expect(again.info).toEqual({ corrupt: 0, beyondDevice: 0 });
    expect(again.store.pages).toBe(slots.length);
    for (const s of slots) expectPage(await again.store.read(s), s * 3, s + 1);
    expect((await again.store.read(2)).status).toBe(SWAP_STATUS.NOT_FOUND);
  });

  it('an overwritten slot keeps one page and serves the latest version', async () => {
    const { store } = await openStore(16);
    // Issued together: per-slot order is kept, so the last call wins.
    await Promise.all([1, 2, 3].map((v) => store.write(4, 40, v, pageContent(40, v))));
    expect(store.pages).toBe(1);
    expectPage(await store.read(4), 40, 3);
  });

  it('refuses slots outside the device for writes and reads, without touching the file', async () => {
    const { store } = await openStore(16);
    expect(await store.write(16, 1, 1, pageContent(1, 1))).toEqual({
      status: SWAP_STATUS.OUT_OF_RANGE,
    });
    expect(await store.read(16)).toEqual({ status: SWAP_STATUS.OUT_OF_RANGE });
    expect(await store.read(0xffffffff)).toEqual({ status: SWAP_STATUS.OUT_OF_RANGE });
    expect(store.pages).toBe(0);
    expect((await stat(file)).size).toBe(0);
    // The last slot inside is fine.
    expect((await store.write(15, 1, 1, pageContent(1, 1))).status).toBe(SWAP_STATUS.OK);
  });

  it('throws SWAPNET_ERR_STORE_SLOT for a slot that is not a u32 and for a bad device size', async () => {
    const { store } = await openStore(16);
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 32]) {
      expect(() => store.read(bad)).toThrow(
        expect.objectContaining({ code: ERROR_CODES.slotOutOfRange }),
      );
    }
    for (const bad of [0, -3, 2.5, 2 ** 32 + 1]) {
      await expect(SwapStore.open(path.join(dir, 'other.swapstore'), bad)).rejects.toMatchObject({
        code: ERROR_CODES.slotOutOfRange,
      });
    }
  });

  it('a slot never written is NOT_FOUND, also between and beyond written ones', async () => {
    const { store } = await openStore(64);
    expect(await store.read(0)).toEqual({ status: SWAP_STATUS.NOT_FOUND });
    await store.write(10, 1, 1, pageContent(1, 1));
    expect(await store.read(3)).toEqual({ status: SWAP_STATUS.NOT_FOUND });
    expect(await store.read(63)).toEqual({ status: SWAP_STATUS.NOT_FOUND });
  });

  it('a record with a flipped data byte is IO_ERROR after reopen, and not counted', async () => {
    const first = await openStore(64);
    await first.store.write(2, 20, 1, pageContent(20, 1));
    await first.store.write(3, 30, 1, pageContent(30, 1));
    await first.store.close();
    await flipByte(2 * RECORD_SIZE + RECORD_HEADER_BYTES + 1000);

    const again = await openStore(64);
    expect(again.info.corrupt).toBe(1);
    expect(again.store.pages).toBe(1);
    expect(await again.store.read(2)).toMatchObject({
      status: SWAP_STATUS.IO_ERROR,
      reason: 'bad-checksum',
    });
    expectPage(await again.store.read(3), 30, 1);
    // Rewriting the slot repairs it.
    await again.store.write(2, 20, 2, pageContent(20, 2));
    expect(again.store.pages).toBe(2);
    expectPage(await again.store.read(2), 20, 2);
  });

  it('a record damaged while the store is open is IO_ERROR on read and leaves the count', async () => {
    const { store } = await openStore(64);
    await store.write(7, 70, 1, pageContent(70, 1));
    await flipByte(7 * RECORD_SIZE + 8); // the slot number in the header
    expect(await store.read(7)).toMatchObject({
      status: SWAP_STATUS.IO_ERROR,
      reason: 'wrong-slot',
    });
    expect(store.pages).toBe(0);
    expect(store.corrupt).toBe(1);
  });

  it('a record cut short at the end of the file is IO_ERROR', async () => {
    const first = await openStore(64);
    await first.store.write(1, 10, 1, pageContent(10, 1));
    await first.store.write(2, 20, 1, pageContent(20, 1));
    await first.store.close();
    const fh = await open(file, 'r+');
    await fh.truncate(2 * RECORD_SIZE + 100);
    await fh.close();

    const again = await openStore(64);
    expect(again.store.pages).toBe(1);
    expect(await again.store.read(2)).toMatchObject({
      status: SWAP_STATUS.IO_ERROR,
      reason: 'truncated',
    });
    expectPage(await again.store.read(1), 10, 1);
  });

  it('the page count survives reopening, also with a smaller device', async () => {
    const first = await openStore(128);
    for (let s = 0; s < 128; s += 8) await first.store.write(s, s, 1, pageContent(s, 1));
    expect(first.store.pages).toBe(16);
    await first.store.close();

    const same = await openStore(128);
    expect(same.store.pages).toBe(16);
    await same.store.close();

    const smaller = await openStore(64);
    expect(smaller.store.pages).toBe(8);
    // The file ends with slot 120's record: 121 record regions, 57 beyond 64 slots.
    expect(smaller.info.beyondDevice).toBe(121 - 64);
    expect((await smaller.store.read(64)).status).toBe(SWAP_STATUS.OUT_OF_RANGE);
  });

  it('serves a slot far into a large device (the file stays sparse)', async () => {
    const { store } = await openStore(2 ** 32);
    const slot = 2 ** 22 + 5;
    expect((await store.write(slot, 77, 1, pageContent(77, 1))).status).toBe(SWAP_STATUS.OK);
    expectPage(await store.read(slot), 77, 1);
    expect((await store.read(slot - 1)).status).toBe(SWAP_STATUS.NOT_FOUND);
    expect((await stat(file)).size).toBe((slot + 1) * RECORD_SIZE);
  });

  it('refuses to open a file that holds data but no store record (it would be overwritten)', async () => {
    await writeFile(file, 'this is somebody else\u2019s file, not a swap store\n'.repeat(200));
    await expect(SwapStore.open(file, 64)).rejects.toMatchObject({
      code: ERROR_CODES.storeCorrupt,
    });
  });

  it('refuses a path that is not a regular file', async () => {
    await expect(SwapStore.open('/dev/null', 64)).rejects.toMatchObject({
      code: ERROR_CODES.storeCorrupt,
    });
    await expect(SwapStore.open(dir, 64)).rejects.toMatchObject({ code: 'EISDIR' });
  });

  it('with durable writes, concurrent writes all complete and read back', async () => {
    const { store } = await openStore(256, true);
    const slots = Array.from({ length: 40 }, (_, i) => i * 5);
    const results = await Promise.all(slots.map((s) => store.write(s, s, 9, pageContent(s, 9))));
    expect(results.every((r) => r.status === SWAP_STATUS.OK)).toBe(true);
    for (const s of slots) expectPage(await store.read(s), s, 9);
  });

  it('close() waits for writes already called; using the store afterwards is a bug', async () => {
    const { store } = await openStore(64);
    const pending = store.write(1, 1, 1, pageContent(1, 1));
    await store.close();
    expect(await pending).toEqual({ status: SWAP_STATUS.OK });
    expect(store.isOpen).toBe(false);
    expect(() => store.read(1)).toThrow(expect.objectContaining({ code: ERROR_CODES.invariant }));
    const again = await openStore(64);
    expectPage(await again.store.read(1), 1, 1);
  });
});
