// An LRU approximation for anonymous pages: a FIFO ring of page numbers scanned with
// second chance (CLOCK). A referenced page gets its bit cleared and goes to the back;
// an unreferenced one is the victim. Grows by doubling; O(1) per operation.

export class ClockLru {
  private ring: Int32Array;
  private head = 0;
  private count = 0;

  constructor(initialCapacity = 1024) {
    this.ring = new Int32Array(Math.max(16, initialCapacity));
  }

  get size(): number {
    return this.count;
  }

  /** Appends a page at the back (most recently added). */
  push(page: number): void {
    if (this.count === this.ring.length) this.grow();
    this.ring[(this.head + this.count) % this.ring.length] = page;
    this.count++;
  }

  /**
   * Puts a page at the front: the next one shift() returns (the tail of the kernel's
   * inactive list, where folio_rotate_reclaimable puts a page whose writeback ended).
   */
  unshift(page: number): void {
    if (this.count === this.ring.length) this.grow();
    this.head = (this.head - 1 + this.ring.length) % this.ring.length;
    this.ring[this.head] = page;
    this.count++;
  }

  /** Removes and returns the page at the front, or -1 when empty. */
  shift(): number {
    if (this.count === 0) return -1;
    const page = this.ring[this.head] as number;
    this.head = (this.head + 1) % this.ring.length;
    this.count--;
    return page;
  }

  private grow(): void {
    const next = new Int32Array(this.ring.length * 2);
    for (let i = 0; i < this.count; i++)
      next[i] = this.ring[(this.head + i) % this.ring.length] as number;
    this.ring = next;
    this.head = 0;
  }
}
