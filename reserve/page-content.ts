// The content of an anonymous page is a pure function of (page, version): every touch
// writes a new version, and every swap-in is checked against it, so a page that comes
// back wrong from the swap server is detected as data loss.
import { PAGE_SIZE } from './units.ts';

const WORDS = PAGE_SIZE / 4;

function seedFor(page: number, version: number): number {
  let h = Math.imul(page ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(version + 0x632be5ab, 0xc2b2ae35);
  h ^= h >>> 15;
  return h | 1;
}

/**
 * Word i of every page's body is NOISE[i] xor the page's seed: one xor a word to write or
 * check (a generator stepped per word cost three shifts and three xors, four times per
 * page on its way out and back), and two pages differ in every word of their bodies.
 */
const NOISE = ((): Uint32Array => {
  const t = new Uint32Array(WORDS);
  let x = 0x2545f491;
  for (let i = 0; i < WORDS; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    t[i] = x >>> 0;
  }
  return t;
})();

/** Writes the content of (page, version) into `out` (PAGE_SIZE bytes, 4-byte aligned). */
export function fillPageContent(out: Uint8Array, page: number, version: number): void {
  const words = new Uint32Array(out.buffer, out.byteOffset, WORDS);
  const seed = seedFor(page, version);
  // The first two words name the page and version, so a misplaced page is obvious in a dump.
  words[0] = page >>> 0;
  words[1] = version >>> 0;
  for (let i = 2; i < WORDS; i++) words[i] = (NOISE[i] as number) ^ seed;
}

/**
 * The content of (page, version) in one buffer shared by every caller: valid until the
 * next call, for a caller that copies it at once (an encoder). Saves an allocation.
 */
export function pageContentView(page: number, version: number): Uint8Array {
  fillPageContent(contentScratch, page, version);
  return contentScratch;
}

const contentScratch = new Uint8Array(PAGE_SIZE);
/** Where an unaligned page is copied to be read as 32-bit words. */
const verifyScratch = new Uint8Array(PAGE_SIZE);

/** A fresh buffer holding the content of (page, version). */
export function pageContent(page: number, version: number): Uint8Array {
  const buf = new Uint8Array(PAGE_SIZE);
  fillPageContent(buf, page, version);
  return buf;
}

/** Whether `data` is exactly the content of (page, version). */
export function verifyPageContent(data: Uint8Array, page: number, version: number): boolean {
  if (data.length !== PAGE_SIZE) return false;
  let aligned = data;
  if (data.byteOffset % 4 !== 0) {
    verifyScratch.set(data);
    aligned = verifyScratch;
  }
  const words = new Uint32Array(aligned.buffer, aligned.byteOffset, WORDS);
  if (words[0] !== page >>> 0 || words[1] !== version >>> 0) return false;
  const seed = seedFor(page, version);
  for (let i = 2; i < WORDS; i++)
    if (words[i] !== ((NOISE[i] as number) ^ seed) >>> 0) return false;
  return true;
}
