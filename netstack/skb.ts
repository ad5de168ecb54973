// Socket buffers: what a frame costs machine A. truesize is the payload plus the
// sk_buff and skb_shared_info overhead (SKB_TRUESIZE); the pages it holds are whole
// pages (a driver RX page, or the pages a send skb needs).
import { PAGE_SIZE } from '../reserve/units.ts';
import { FRAME_OVERHEAD_BYTES } from './frame.ts';

/** SKB_DATA_ALIGN(sizeof(struct sk_buff)) + SKB_DATA_ALIGN(sizeof(struct skb_shared_info)). */
export const SKB_OVERHEAD_BYTES = 576;

/** truesize in bytes of an skb carrying `payloadBytes` (headers included). */
export function skbTruesize(payloadBytes: number): number {
  return payloadBytes + FRAME_OVERHEAD_BYTES + SKB_OVERHEAD_BYTES;
}

/** Pages an skb of `payloadBytes` holds. */
export function skbPages(payloadBytes: number): number {
  return Math.ceil(skbTruesize(payloadBytes) / PAGE_SIZE);
}

/** An skb held by a socket: its payload and the memory behind it. */
export interface Skb {
  readonly payload: Uint8Array;
  readonly truesize: number;
  /** Pages held, all kinds. */
  readonly pages: number;
  /** Of those, pages from the memalloc reserve. */
  readonly pfPages: number;
  /** skb->pfmemalloc: any of its pages came from the reserve. */
  readonly pfmemalloc: boolean;
}

/** What freeing the pages of an skb needs. */
export interface SkbPages {
  readonly pages: number;
  readonly pfPages: number;
}

/** Frees an skb's pages, each kind back where it came from. */
export function freeSkbPages(
  allocator: { free(n: number, from: 'skb', pfmemalloc: boolean): void },
  skb: SkbPages,
): void {
  if (skb.pages > skb.pfPages) allocator.free(skb.pages - skb.pfPages, 'skb', false);
  if (skb.pfPages > 0) allocator.free(skb.pfPages, 'skb', true);
}
