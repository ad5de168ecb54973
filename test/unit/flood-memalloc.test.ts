// The heart of seed 004 in memory: B floods A's frozen service while memory sits at the
// min watermark; C talks to A's swap socket. With SOCK_MEMALLOC on the swap socket,
// B's skbs that come from the reserve are tossed at demux and C's are accepted.
import { describe, expect, it } from 'vitest';
import { AStack } from '../../netstack/a-stack.ts';
import { ERA_KNOBS, type EraName } from '../../netstack/era.ts';
import { memoryLinkPair } from '../../netstack/memory-link.ts';
import { makeModel, setFree } from '../helpers/model.ts';
import { wireA, wirePeer } from '../helpers/wire.ts';

async function run(era: EraName, memallocSwap: boolean, nicReserve: 'era' | 'never' = 'era') {
  const t = makeModel();
  const stack = new AStack({ model: t.model, era: ERA_KNOBS[era], nicReserve });
  const [aB, bA] = memoryLinkPair(t.sched, { latencyMs: 1 });
  const [aC, cA] = memoryLinkPair(t.sched, { latencyMs: 1 });
  wireA(stack, aB);
  const toC = wireA(stack, aC);
  const b = wirePeer(bA, 'b', {
    scheduler: t.sched,
    ignoreWindow: true,
    rto: { minMs: 50, maxMs: 200 },
  });
  const c = wirePeer(cA, 'c', { scheduler: t.sched, rto: { minMs: 50, maxMs: 200 } });
  await t.sched.runFor(5); // handshakes
  // A opens the swap flow; C adopts it.
  const swap = stack.openSocket(toC.conn, 1, { cls: 'swap' });
  if (memallocSwap) stack.setMemalloc(swap);
  await t.sched.runFor(5);
  const fromC = c.flow(1)!;
  // Memory is full: free pages at the min watermark, where the hog leaves them.
  setFree(t.model, t.model.zone.watermarks.min);
  // B opens 8 flows and floods; A's service never reads (it is frozen).
  const flows = Array.from({ length: 8 }, (_, i) => b.openFlow(100 + i, { message: () => {} }));
  const flood = async (rounds: number, cEvery: number): Promise<void> => {
    for (let round = 0; round < rounds; round++) {
      for (const f of flows) f.send(new Uint8Array(1024), null);
      if (cEvery > 0 && round % cEvery === 0) fromC.send(new Uint8Array(64), null);
      await t.sched.runFor(2);
    }
  };
  // B alone first: its queued data takes free memory down to GFP_ATOMIC's floor.
  await flood(100, 0);
  const freeAfterFlood = t.model.zone.free;
  // Now C talks to the swap socket while B keeps flooding.
  await flood(200, 10);
  await t.sched.runFor(2000);
  const freeBeforeRead = t.model.zone.free;
  const reserveBeforeRead = t.model.zone.reserveUsed;
  // The swap driver reads what arrived (it is not frozen).
  let swapMessages = 0;
  while (swap.read()) swapMessages++;
  t.model.checkInvariants();
  return {
    t,
    stack,
    swapMessages,
    cUnacked: fromC.unacked,
    freeAfterFlood,
    freeBeforeRead,
    reserveBeforeRead,
  };
}

describe('flood against a memalloc swap socket, in memory', () => {
  it("B's reserve skbs are tossed at demux; C's reach the memalloc swap socket", async () => {
    const r = await run('modern', true);
    const rx = r.stack.rx;
    // B's queued data took free memory down to GFP_ATOMIC's floor and no further.
    expect(r.freeAfterFlood).toBe(192);
    expect(rx.drops.pfmemalloc.service).toBeGreaterThan(100);
    expect(rx.drops.pfmemalloc.swap).toBe(0);
    expect(r.swapMessages).toBe(20);
    expect(r.cUnacked).toBe(0);
    // Every page below the floor is one of C's skbs waiting in the swap socket.
    expect(r.freeBeforeRead + r.reserveBeforeRead).toBe(192);
    expect(r.reserveBeforeRead).toBe(20);
    expect(r.t.model.zone.free).toBe(192);
  });

  it("without SOCK_MEMALLOC (vanilla) the swap socket loses C's frames the same way", async () => {
    const { stack, swapMessages, cUnacked, freeAfterFlood } = await run('modern', false);
    expect(freeAfterFlood).toBe(192);
    expect(stack.rx.drops.pfmemalloc.swap).toBeGreaterThan(0);
    expect(swapMessages).toBe(0);
    expect(cUnacked).toBeGreaterThan(0);
  });

  it('in era 2.6 there is no reserve path: the same frames are dropped nomem', async () => {
    const { stack, swapMessages } = await run('2.6', false);
    expect(stack.rx.drops.nomem.swap).toBeGreaterThan(0);
    expect(stack.rx.drops.pfmemalloc.swap).toBe(0);
    expect(swapMessages).toBe(0);
  });

  it("a NIC that does not take part in the reserve (net.nicReserve=never, UML's vector driver): nothing is tagged pfmemalloc, and the memalloc swap socket loses C's frames nomem", async () => {
    const { stack, swapMessages, cUnacked, reserveBeforeRead } = await run('modern', true, 'never');
    expect(stack.rx.drops.pfmemalloc.service).toBe(0);
    expect(stack.rx.drops.pfmemalloc.swap).toBe(0);
    expect(stack.rx.drops.nomem.swap).toBeGreaterThan(0);
    expect(reserveBeforeRead).toBe(0);
    expect(swapMessages).toBe(0);
    expect(cUnacked).toBeGreaterThan(0);
  });
});
