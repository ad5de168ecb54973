// Short-lived byte buffers (frames, swap messages, pages on their way to a socket) carved
// out of shared slabs instead of allocated one by one: a 4 KiB Uint8Array costs a calloc
// and an ArrayBuffer the garbage collector must track (about 4.5 us on this machine, 70
// times the copy), and a swap-out or swap-in used to make several. A slab is only ever
// bump-allocated, never recycled, so two buffers never share bytes and a buffer handed
// to a socket or a link stays as it was; the slab is freed once no view of it remains.
// For buffers that are written once and dropped soon: a long-lived one keeps its whole
// slab alive (copy it out with slice() to keep it).

const SLAB_BYTES = 64 * 1024;
/** Larger requests get a buffer of their own: they would waste too much of a slab. */
const MAX_FROM_SLAB = SLAB_BYTES / 8;

let slab = new ArrayBuffer(SLAB_BYTES);
let used = 0;

/** `n` bytes (8-byte aligned, contents unspecified) that no other buffer shares. */
export function takeBytes(n: number): Uint8Array {
  if (n > MAX_FROM_SLAB) return new Uint8Array(n);
  let at = (used + 7) & ~7;
  if (at + n > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    at = 0;
  }
  used = at + n;
  return new Uint8Array(slab, at, n);
}
