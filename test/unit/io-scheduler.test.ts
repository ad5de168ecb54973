// The block layer's elevator in front of the swap device (reserve/io-scheduler.ts):
// mq-deadline's dispatch order (reads first, writes starved for at most two read
// batches, batches of 16 in one direction) and nr_requests; `none` keeps arrival order.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEADLINE_FIFO_BATCH,
  IoScheduler,
  nrRequests,
  type IoDirection,
} from '../../reserve/io-scheduler.ts';

interface Rq {
  readonly dir: IoDirection;
  readonly id: string;
}

function rqs(dir: IoDirection, n: number, prefix = dir[0]): Rq[] {
  return Array.from({ length: n }, (_, i) => ({ dir, id: `${prefix}${i}` }));
}

function drain(s: IoScheduler<Rq>): string[] {
  const out: string[] = [];
  for (let r = s.dispatch(); r; r = s.dispatch()) out.push(r.id);
  return out;
}

describe('mq-deadline', () => {
  it('sends a read queued behind writes before them, once the current batch allows', () => {
    const s = new IoScheduler<Rq>('mq-deadline');
    for (const r of rqs('write', 40)) s.insert(r);
    // A write batch starts: up to 16 writes go in a row.
    const first = [s.dispatch()?.id, s.dispatch()?.id];
    expect(first).toEqual(['w0', 'w1']);
    s.insert({ dir: 'read', id: 'r0' });
    const next: string[] = [];
    for (let i = 0; i < DEADLINE_FIFO_BATCH; i++) next.push(s.dispatch()?.id ?? '-');
    // The batch of 16 finishes (14 more writes), then the read goes first.
    expect(next.slice(0, 14)).toEqual(
      rqs('write', 16)
        .slice(2)
        .map((r) => r.id),
    );
    expect(next[14]).toBe('r0');
    expect(next[15]).toBe('w16');
  });

  it('lets reads win the choice over waiting writes at most twice in a row (writes_starved = 2)', () => {
    const s = new IoScheduler<Rq>('mq-deadline');
    // A read batch is running when the rest arrives.
    s.insert({ dir: 'read', id: 'first' });
    expect(s.dispatch()?.id).toBe('first');
    for (const r of rqs('read', 60)) s.insert(r);
    for (const r of rqs('write', 3)) s.insert(r);
    const ids = (prefix: string, from: number, to: number): string[] =>
      Array.from({ length: to - from }, (_, i) => `${prefix}${from + i}`);
    // The running batch takes 15 more reads; reads win the next two choices (16 each);
    // the third choice goes to the writes; then reads again.
    expect(drain(s)).toEqual([...ids('r', 0, 47), 'w0', 'w1', 'w2', ...ids('r', 47, 60)]);
  });

  it('starts with a write batch, as after dd_init_sched', () => {
    const s = new IoScheduler<Rq>('mq-deadline');
    for (const r of rqs('read', 2)) s.insert(r);
    for (const r of rqs('write', 2)) s.insert(r);
    expect(drain(s)).toEqual(['w0', 'w1', 'r0', 'r1']);
  });

  it('runs a batch of at most 16 before choosing again', () => {
    const s = new IoScheduler<Rq>('mq-deadline');
    for (const r of rqs('write', 20)) s.insert(r);
    for (const r of rqs('read', 20)) s.insert(r);
    const out = drain(s);
    // The initial write batch (16), then reads win (16, then the last 4), then writes.
    expect(out.slice(0, 16)).toEqual(rqs('write', 16).map((r) => r.id));
    expect(out.slice(16, 36)).toEqual(rqs('read', 20).map((r) => r.id));
    expect(out.slice(36)).toEqual(['w16', 'w17', 'w18', 'w19']);
  });

  it('puts a requeued request at the head of its direction', () => {
    const s = new IoScheduler<Rq>('mq-deadline');
    for (const r of rqs('write', 3)) s.insert(r);
    s.insert({ dir: 'write', id: 'again' }, true);
    expect(drain(s)).toEqual(['again', 'w0', 'w1', 'w2']);
  });

  it('dispatches every request exactly once, in arrival order within a direction (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ dir: fc.constantFrom<IoDirection>('read', 'write'), take: fc.nat(3) }),
          {
            maxLength: 300,
          },
        ),
        (steps) => {
          const s = new IoScheduler<Rq>('mq-deadline');
          const inserted: Rq[] = [];
          const out: Rq[] = [];
          steps.forEach((step, i) => {
            const rq = { dir: step.dir, id: String(i) };
            inserted.push(rq);
            s.insert(rq);
            for (let k = 0; k < step.take; k++) {
              const r = s.dispatch();
              if (r) out.push(r);
            }
            expect(s.size).toBe(inserted.length - out.length);
          });
          for (let r = s.dispatch(); r; r = s.dispatch()) out.push(r);
          expect(out.map((r) => r.id).sort()).toEqual(inserted.map((r) => r.id).sort());
          for (const dir of ['read', 'write'] as const) {
            const ids = out.filter((r) => r.dir === dir).map((r) => Number(r.id));
            expect(ids).toEqual([...ids].sort((a, b) => a - b));
          }
        },
      ),
      { seed: 6, numRuns: 200 },
    );
  });
});

describe('none', () => {
  it('keeps arrival order across directions', () => {
    const s = new IoScheduler<Rq>('none');
    s.insert({ dir: 'write', id: 'w0' });
    s.insert({ dir: 'read', id: 'r0' });
    s.insert({ dir: 'write', id: 'w1' });
    s.insert({ dir: 'read', id: 'r1' }, true);
    expect(drain(s)).toEqual(['r1', 'w0', 'r0', 'w1']);
    expect(s.size).toBe(0);
  });
});

describe('nr_requests', () => {
  it('is twice the tags (tags capped at 128) with mq-deadline, the tags with none', () => {
    expect(nrRequests('mq-deadline', 128)).toBe(256);
    expect(nrRequests('mq-deadline', 4)).toBe(8);
    expect(nrRequests('mq-deadline', 1024)).toBe(256);
    expect(nrRequests('none', 128)).toBe(128);
    expect(() => nrRequests('none', 0)).toThrow(/tags/);
  });
});

describe('clear', () => {
  it('returns every waiting request and leaves the queue empty', () => {
    const s = new IoScheduler<Rq>('mq-deadline');
    for (const r of [...rqs('read', 2), ...rqs('write', 2)]) s.insert(r);
    expect(
      s
        .clear()
        .map((r) => r.id)
        .sort(),
    ).toEqual(['r0', 'r1', 'w0', 'w1']);
    expect(s.dispatch()).toBeUndefined();
  });
});
