// C's store in the simulation (nodes/machines/page-store.ts MemoryPageStore): a read
// returns exactly the bytes written, whether they are the canonical content of their
// (page, version), kept as two numbers, or anything else, kept verbatim; slots outside
// the device are refused; an empty slot is not found; a reopened store keeps its pages.
import { describe, expect, it } from 'vitest';
import { MemoryPageStore } from '../../nodes/machines/page-store.ts';
import { SWAP_STATUS } from '../../nodes/machines/swap-protocol.ts';
import { pageContent } from '../../reserve/page-content.ts';
import { PAGE_SIZE } from '../../reserve/units.ts';

describe('MemoryPageStore', () => {
  it('returns exactly the canonical content written, with its page and version', async () => {
    const store = new MemoryPageStore(64);
    expect(await store.write(10, 5, 3, pageContent(5, 3))).toEqual({ status: SWAP_STATUS.OK });
    const r = await store.read(10);
    expect(r).toEqual({ status: SWAP_STATUS.OK, data: pageContent(5, 3), page: 5, version: 3 });
    expect(store.pages).toBe(1);
  });

  it('keeps bytes that are not the content of their (page, version) verbatim', async () => {
    const store = new MemoryPageStore(64);
    const flipped = pageContent(5, 3);
    flipped[100] = (flipped[100] ?? 0) ^ 0xff;
    // The content of another version, labelled version 3.
    const otherVersion = pageContent(5, 4);
    const arbitrary = Uint8Array.from({ length: PAGE_SIZE }, (_, i) => (i * 31) & 0xff);
    await store.write(1, 5, 3, flipped);
    await store.write(2, 5, 3, otherVersion);
    await store.write(3, 7, 1, arbitrary);
    expect(await store.read(1)).toMatchObject({ status: SWAP_STATUS.OK, data: flipped });
    expect(await store.read(2)).toMatchObject({ status: SWAP_STATUS.OK, data: otherVersion });
    expect(await store.read(3)).toMatchObject({ status: SWAP_STATUS.OK, data: arbitrary });
    expect(((await store.read(1)) as { data: Uint8Array }).data).not.toEqual(pageContent(5, 3));
  });

  it('the bytes are copied both ways: changing the written buffer or a read one changes nothing stored', async () => {
    const store = new MemoryPageStore(64);
    const mine = new Uint8Array(PAGE_SIZE).fill(9);
    await store.write(4, 1, 1, mine);
    mine.fill(0);
    const first = (await store.read(4)) as { data: Uint8Array };
    first.data.fill(1);
    expect(((await store.read(4)) as { data: Uint8Array }).data).toEqual(
      new Uint8Array(PAGE_SIZE).fill(9),
    );
  });

  it('an overwrite replaces the slot, canonical by verbatim and back', async () => {
    const store = new MemoryPageStore(64);
    const odd = new Uint8Array(PAGE_SIZE).fill(7);
    await store.write(6, 2, 1, pageContent(2, 1));
    await store.write(6, 2, 2, odd);
    expect(store.pages).toBe(1);
    expect(await store.read(6)).toMatchObject({ data: odd, version: 2 });
    await store.write(6, 2, 3, pageContent(2, 3));
    expect(store.pages).toBe(1);
    expect(await store.read(6)).toMatchObject({ data: pageContent(2, 3), version: 3 });
  });

  it('refuses slots outside the device and says when a slot holds nothing', async () => {
    const store = new MemoryPageStore(64);
    expect(await store.write(64, 1, 1, pageContent(1, 1))).toEqual({
      status: SWAP_STATUS.OUT_OF_RANGE,
    });
    expect(await store.read(64)).toEqual({ status: SWAP_STATUS.OUT_OF_RANGE });
    expect(await store.read(0)).toEqual({ status: SWAP_STATUS.NOT_FOUND });
    expect(store.pages).toBe(0);
  });

  it('a reopened store (C restarted) serves every page written before; the closed one refuses use', async () => {
    const store = new MemoryPageStore(64);
    const odd = new Uint8Array(PAGE_SIZE).fill(5);
    await store.write(1, 1, 1, pageContent(1, 1));
    await store.write(2, 2, 1, odd);
    await store.close();
    expect(store.isOpen).toBe(false);
    expect(() => store.read(1)).toThrow(/read after close/);
    const again = store.reopen();
    expect(again.isOpen).toBe(true);
    expect(again.pages).toBe(2);
    expect(await again.read(1)).toMatchObject({ data: pageContent(1, 1), page: 1, version: 1 });
    expect(await again.read(2)).toMatchObject({ data: odd, page: 2, version: 1 });
  });
});
