import { describe, expect, it } from 'vitest';
import { FRAME_TYPE } from '../../netstack/frame.ts';
import { skbPages, skbTruesize } from '../../netstack/skb.ts';
import { ERA_KNOBS, nbdSenderFlags } from '../../netstack/era.ts';
import { SOCK_MIN_SNDBUF, TcpMem } from '../../netstack/tcp-mem.ts';
import { GFP } from '../../reserve/gfp.ts';
import { PF } from '../../reserve/task.ts';
import { ackFrame, dataFrame, establish, makeStack, openFrame } from '../helpers/a-stack.ts';
import { setFree } from '../helpers/model.ts';

// 256 MiB: min 512, GFP_ATOMIC floor 192 (3/8 of min).
const ATOMIC_FLOOR = 192;
const KB = 1024;

function serviceSocket(rig: ReturnType<typeof makeStack>, flowId = 1) {
  rig.stack.receive(rig.conn, openFrame(flowId));
  rig.stack.flush(rig.conn); // the ACK that answers the OPEN
  const s = rig.conn.sockets.get(flowId);
  if (!s) throw new Error('socket not created');
  return s;
}

describe('A receive path, step 1: skb allocation in the RX context of the era', () => {
  it('era 2.6 has no reserve path: at the GFP_ATOMIC floor a frame is dropped nomem and not ACKed', () => {
    const rig = makeStack('2.6');
    const s = serviceSocket(rig);
    setFree(rig.model, ATOMIC_FLOOR);
    rig.sent.length = 0;
    rig.stack.receive(rig.conn, dataFrame(1, 0, KB));
    rig.stack.flush(rig.conn);
    expect(rig.stack.rx.drops.nomem.service).toBe(1);
    expect(s.flow.rcvNxt).toBe(0);
    expect(rig.sent).toEqual([]);
    expect(rig.model.zone.free).toBe(ATOMIC_FLOOR);
  });

  it('one page above the floor the skb is allocated normally (not pfmemalloc)', () => {
    const rig = makeStack('2.6');
    const s = serviceSocket(rig);
    setFree(rig.model, ATOMIC_FLOOR + 1);
    rig.stack.receive(rig.conn, dataFrame(1, 0, KB));
    expect(rig.stack.rx.delivered.service).toBe(1);
    expect(rig.model.zone.reserveUsed).toBe(0);
    expect(s.queued).toBe(1);
  });

  it('era 3.6 uses the reserve for receive only once a memalloc socket exists', () => {
    const rig = makeStack('3.6');
    serviceSocket(rig, 1);
    expect(rig.stack.rxPath.rxGfp()).toBe(GFP.ATOMIC);
    const swap = rig.stack.openSocket(rig.conn, 2, { cls: 'swap' });
    expect(rig.stack.setMemalloc(swap)).toBe(true);
    expect(rig.stack.rxPath.rxGfp()).not.toBe(GFP.ATOMIC);
    setFree(rig.model, ATOMIC_FLOOR);
    rig.stack.receive(rig.conn, dataFrame(2, 0, KB));
    expect(rig.stack.rx.delivered.swap).toBe(1);
    expect(rig.model.zone.reserveUsed).toBe(1);
  });

  it('era 2.6 refuses SOCK_MEMALLOC (no memalloc sockets before 3.6)', () => {
    const rig = makeStack('2.6');
    const swap = rig.stack.openSocket(rig.conn, 2, { cls: 'swap' });
    expect(rig.stack.setMemalloc(swap)).toBe(false);
    expect(swap.memalloc).toBe(false);
  });
});

describe('A receive path, step 2: demux and pfmemalloc tossing', () => {
  it('a pfmemalloc skb for a normal socket is dropped at once and its page freed', () => {
    const rig = makeStack('modern');
    const s = serviceSocket(rig);
    setFree(rig.model, ATOMIC_FLOOR);
    rig.stack.receive(rig.conn, dataFrame(1, 0, KB));
    expect(rig.stack.rx.drops.pfmemalloc.service).toBe(1);
    expect(rig.model.zone.free).toBe(ATOMIC_FLOOR);
    expect(rig.model.zone.reserveUsed).toBe(0);
    expect(rig.model.zone.reservePeak).toBe(1);
    expect(s.queued).toBe(0);
  });

  it('the same holds for the swap socket when it is not marked SOCK_MEMALLOC (vanilla)', () => {
    const rig = makeStack('modern');
    rig.stack.openSocket(rig.conn, 2, { cls: 'swap' });
    setFree(rig.model, ATOMIC_FLOOR);
    rig.stack.receive(rig.conn, dataFrame(2, 0, 64));
    expect(rig.stack.rx.drops.pfmemalloc.swap).toBe(1);
  });

  it('regression: a pfmemalloc skb skipped the rcvbuf test (tcp_try_rmem_schedule checks rcvbuf first, for every socket)', () => {
    const rig = makeStack('modern', { rcvbuf: 4 * KB });
    const swap = rig.stack.openSocket(rig.conn, 2, { cls: 'swap' });
    rig.stack.setMemalloc(swap);
    setFree(rig.model, ATOMIC_FLOOR);
    let seq = 0;
    for (let i = 0; i < 10; i++) {
      rig.stack.receive(rig.conn, dataFrame(2, seq, KB));
      seq += KB;
    }
    // Accepted while rmem_alloc <= rcvbuf (3 skbs of truesize 1632), then dropped
    // rcvbuf like any socket's; the frames after it are a gap (out of order).
    const fits = Math.floor((4 * KB) / skbTruesize(KB)) + 1;
    expect(fits).toBe(3);
    expect(rig.stack.rx.delivered.swap).toBe(fits);
    expect(rig.stack.rx.drops.rcvbuf.swap).toBe(1);
    expect(rig.stack.rx.drops.out_of_order.swap).toBe(10 - fits - 1);
    expect(swap.rmemAlloc).toBe(fits * skbTruesize(KB));
    expect(rig.model.zone.reserveUsed).toBe(fits);
    // Reading frees the reserve pages.
    while (swap.read()) {
      /* drain */
    }
    expect(rig.model.zone.reserveUsed).toBe(0);
    expect(rig.model.zone.free).toBe(ATOMIC_FLOOR);
  });

  it('regression: a pfmemalloc skb was never charged (sk_rmem_schedule charges tcp_mem under the limits, passes it uncharged only when refused)', () => {
    // 3.6: no forced first skb, so every skb goes through sk_rmem_schedule.
    const rig = makeStack('3.6', { tcpMem: [2, 3, 4] });
    const swap = rig.stack.openSocket(rig.conn, 2, { cls: 'swap' });
    rig.stack.setMemalloc(swap);
    setFree(rig.model, ATOMIC_FLOOR);
    let seq = 0;
    for (let i = 0; i < 6; i++) {
      rig.stack.receive(rig.conn, dataFrame(2, seq, KB));
      seq += KB;
    }
    expect(rig.stack.rx.delivered.swap).toBe(6);
    expect(rig.model.zone.reserveUsed).toBe(6);
    // Charged up to tcp_mem[2] = 4 pages (under pressure the socket is below its fair
    // share); the fifth and sixth are over the hard limit: in, uncharged.
    expect(rig.stack.tcpMem.allocated).toBe(4);
    expect(swap.memPages).toBe(4);
    expect(rig.stack.tcpMem.refusals).toBe(2);
    while (swap.read()) {
      /* drain */
    }
    expect(rig.stack.tcpMem.allocated).toBe(0);
  });

  it('frames for an unknown flow are dropped as no_socket', () => {
    const rig = makeStack('modern');
    rig.stack.receive(rig.conn, dataFrame(77, 0, KB));
    expect(rig.stack.rx.drops.no_socket.unknown).toBe(1);
  });

  it('an OPEN is answered with an ACK, and a repeated OPEN again (its answer was lost)', () => {
    const rig = makeStack('modern');
    rig.stack.receive(rig.conn, openFrame(5));
    rig.stack.flush(rig.conn);
    rig.stack.receive(rig.conn, openFrame(5));
    rig.stack.flush(rig.conn);
    expect(rig.sent.filter((f) => f.type === FRAME_TYPE.ACK && f.flowId === 5)).toHaveLength(2);
    expect(rig.conn.sockets.size).toBe(1);
  });

  it('a SYN that comes from the reserve is tossed like any pfmemalloc skb: no socket is created', () => {
    const rig = makeStack('modern');
    setFree(rig.model, ATOMIC_FLOOR);
    rig.stack.receive(rig.conn, openFrame(5));
    expect(rig.conn.sockets.has(5)).toBe(false);
    expect(rig.stack.rx.drops.pfmemalloc.service).toBe(1);
  });
});

describe('A receive path, step 3: TCP receive memory', () => {
  it("A's stack takes the era's tcp_mem (2.6 tcp_init, 3.x tcp_init_mem /8, modern /16)", () => {
    expect(makeStack('2.6').stack.tcpMem.limits).toEqual([24576, 32768, 49152]);
    expect(makeStack('3.6').stack.tcpMem.limits).toEqual([6072, 8096, 12144]);
    expect(makeStack('modern').stack.tcpMem.limits).toEqual([3036, 4048, 6072]);
  });

  it('era 2.6: with tcp_mem full, every socket is refused, even an empty one, while free memory remains', () => {
    const rig = makeStack('2.6', { tcpMem: [4, 6, 8] });
    const a = serviceSocket(rig, 1);
    const b = serviceSocket(rig, 2);
    let seq = 0;
    for (let i = 0; i < 8; i++) {
      rig.stack.receive(rig.conn, dataFrame(1, seq, KB));
      seq += KB;
    }
    expect(a.queued).toBe(8);
    expect(rig.stack.tcpMem.allocated).toBe(8);
    rig.stack.receive(rig.conn, dataFrame(1, seq, KB));
    rig.stack.receive(rig.conn, dataFrame(2, 0, KB));
    expect(rig.stack.rx.drops.proto_mem.service).toBe(2);
    expect(b.queued).toBe(0);
    expect(rig.model.zone.free).toBeGreaterThan(60000);
  });

  it('modern era: an in-order skb into an empty queue is force-charged past tcp_mem; the next is refused', () => {
    const rig = makeStack('modern', { tcpMem: [4, 6, 8] });
    serviceSocket(rig, 1);
    const b = serviceSocket(rig, 2);
    let seq = 0;
    for (let i = 0; i < 9; i++) {
      rig.stack.receive(rig.conn, dataFrame(1, seq, KB));
      seq += KB;
    }
    rig.stack.receive(rig.conn, dataFrame(2, 0, KB));
    expect(b.queued).toBe(1);
    expect(rig.stack.tcpMem.allocated).toBeGreaterThan(8);
    rig.stack.receive(rig.conn, dataFrame(2, KB, KB));
    expect(b.queued).toBe(1);
    expect(rig.stack.rx.drops.proto_mem.service).toBeGreaterThan(0);
  });

  it("regression: socket memory was never charged to a memcg (mem_cgroup_charge_skmem: B's queued data counts in the service's cgroup)", async () => {
    const rig = makeStack('modern');
    const cg = rig.model.createMemcg({ name: 'service', highPages: Infinity, maxPages: 4 });
    rig.conn.acceptMemcg = cg;
    const s = serviceSocket(rig, 1);
    expect(s.memcg).toBe(cg);
    let seq = 0;
    for (let i = 0; i < 6; i++) {
      rig.stack.receive(rig.conn, dataFrame(1, seq, KB));
      seq += KB;
    }
    // Every page tcp_mem admitted is charged to the cgroup too; from softirq (GFP_ATOMIC)
    // the charge over memory.max (4 pages) over-charges instead of dropping.
    expect(s.queued).toBe(6);
    expect(cg.socketPages).toBe(rig.stack.tcpMem.allocated);
    expect(cg.socketPages).toBe(6);
    expect(cg.usage).toBe(6);
    expect(cg.events.max).toBe(2);
    // A socket of the root cgroup (the swap socket) charges no memcg.
    const swap = rig.stack.openSocket(rig.conn, 2, { cls: 'swap' });
    rig.stack.receive(rig.conn, dataFrame(2, 0, KB));
    expect(swap.queued).toBe(1);
    expect(cg.socketPages).toBe(6);
    // Reading frees the skbs: uncharged from both.
    while (s.read()) {
      /* drain */
    }
    expect([cg.socketPages, cg.usage]).toEqual([0, 0]);
  });

  it('a socket charge over memory.high from softirq queues the cgroup high_work (one reclaim, no task penalised)', async () => {
    const rig = makeStack('modern');
    const cg = rig.model.createMemcg({ name: 'service', highPages: 2, maxPages: Infinity });
    rig.conn.acceptMemcg = cg;
    serviceSocket(rig, 1);
    for (let i = 0; i < 4; i++) rig.stack.receive(rig.conn, dataFrame(1, i * KB, KB));
    expect(cg.usage).toBe(4);
    expect(cg.events.high).toBe(0);
    await rig.sched.runFor(1);
    expect(cg.events.high).toBe(1);
  });

  it('a full receive buffer drops with reason rcvbuf and asks for a duplicate ACK', () => {
    const rig = makeStack('modern', { rcvbuf: 3 * skbTruesize(KB) });
    const s = serviceSocket(rig);
    let seq = 0;
    for (let i = 0; i < 5; i++) {
      rig.stack.receive(rig.conn, dataFrame(1, seq, KB));
      seq += KB;
    }
    expect(s.queued).toBe(4); // rmem_alloc > rcvbuf is checked before adding
    expect(rig.stack.rx.drops.rcvbuf.service).toBe(1);
    rig.sent.length = 0;
    rig.stack.flush(rig.conn);
    expect(rig.sent).toHaveLength(1);
    expect(rig.sent[0]).toMatchObject({ type: FRAME_TYPE.ACK, ack: 4 * KB });
  });

  it('duplicates and gaps are dropped and re-ACKed; the data arrives once', () => {
    const rig = makeStack('modern');
    const s = serviceSocket(rig);
    rig.stack.receive(rig.conn, dataFrame(1, 0, KB));
    rig.stack.receive(rig.conn, dataFrame(1, 0, KB));
    rig.stack.receive(rig.conn, dataFrame(1, 2 * KB, KB));
    expect(rig.stack.rx.drops.duplicate.service).toBe(1);
    expect(rig.stack.rx.drops.out_of_order.service).toBe(1);
    expect(s.queued).toBe(1);
    expect(rig.model.zone.pages('skb')).toBe(skbPages(KB));
  });

  it('the ack field of a frame is processed even when its data is refused', async () => {
    const rig = makeStack('modern', { rcvbuf: 100 });
    const swap = rig.stack.openSocket(rig.conn, 2, { cls: 'swap' });
    establish(rig, 2);
    const driver = rig.model.spawnTask('swapd');
    await swap.send(new Uint8Array(4096), { exec: 'task', task: driver });
    expect(swap.wmemQueued).toBeGreaterThan(0);
    // A first reply fills the tiny receive buffer; the second is refused (rcvbuf) but
    // acknowledges our 4096 bytes, which frees the send skb.
    rig.stack.receive(rig.conn, dataFrame(2, 0, 64, 0));
    rig.stack.receive(rig.conn, dataFrame(2, 64, 64, 4096));
    expect(rig.stack.rx.drops.rcvbuf.swap).toBe(1);
    expect(swap.queued).toBe(1);
    expect(swap.wmemQueued).toBe(0);
    expect(rig.model.zone.pages('skb')).toBe(skbPages(64));
  });
});

describe("A's send path", () => {
  it('suppress_allocation: a refused stream send passes exactly when wmem_queued + size >= the moderated sndbuf', () => {
    // Over the hard limit from the start: [0, 0, 0].
    const tcpMem = new TcpMem([0, 0, 0], 4096, 4096, SOCK_MIN_SNDBUF);
    const sk = { rmemAlloc: 0, wmemQueued: 0, sndbuf: 64 * KB, memPages: 0 };
    // sndbuf = max(min(64 KiB, 0 >> 1), SOCK_MIN_SNDBUF) = 4608: 0 + 4607 < 4608, refused.
    expect(tcpMem.charge(sk, 2, 'send', SOCK_MIN_SNDBUF - 1)).toBe(false);
    expect(sk.sndbuf).toBe(SOCK_MIN_SNDBUF);
    expect(tcpMem.allocated).toBe(0);
    expect(tcpMem.charge(sk, 2, 'send', SOCK_MIN_SNDBUF)).toBe(true);
    expect(tcpMem.allocated).toBe(2);
    expect(sk.memPages).toBe(2);
    // With 20 KiB queued: sndbuf = min(4608, 10 KiB) stays 4608; any size passes.
    sk.wmemQueued = 20 * KB;
    expect(tcpMem.charge(sk, 1, 'send', 1)).toBe(true);
    // A receive charge has no such escape.
    expect(tcpMem.charge(sk, 1, 'recv', 1 << 20)).toBe(false);
    expect(tcpMem.sendsSuppressedThrough).toBe(2);
  });

  it('with tcp_mem over its hard limit, a stream sends one skb at a time: 2.6 through suppress_allocation, modern by the forced first skb', async () => {
    const outcome: Record<string, number[]> = {};
    for (const era of ['2.6', 'modern'] as const) {
      const rig = makeStack(era, { tcpMem: [4, 6, 8], sndbuf: 64 * KB });
      const full = serviceSocket(rig, 1);
      for (let i = 0; i < 9; i++) rig.stack.receive(rig.conn, dataFrame(1, i * KB, KB));
      expect(full.queued).toBeGreaterThan(0);
      const swap = rig.stack.openSocket(rig.conn, 2, { cls: 'swap' });
      establish(rig, 2);
      const task = rig.model.spawnTask('swapd');
      const ctx = { exec: 'task', task } as const;
      let sent = 0;
      void (async () => {
        for (let i = 0; i < 3; i++) {
          await swap.send(new Uint8Array(4096), ctx);
          sent++;
        }
      })();
      await rig.sched.runFor(1000);
      const afterFirst = sent;
      // C acknowledges what it got: the queues are empty again, one more skb is forced.
      rig.stack.receive(rig.conn, ackFrame(2, afterFirst * 4096));
      await rig.sched.runFor(1000);
      outcome[era] = [afterFirst, sent, swap.sndbuf];
    }
    // 2.6: the charge is refused, sk_stream_moderate_sndbuf takes sndbuf down to
    // SOCK_MIN_SNDBUF (2048 then), and wmem_queued + size >= sndbuf lets the skb through.
    expect(outcome['2.6']).toEqual([1, 2, 2048]);
    // Modern: the skb into empty queues is forced before any check; the second is refused
    // and let through by suppress_allocation (sndbuf moderated to SOCK_MIN_SNDBUF, 4608,
    // below what is queued); the third waits for sndbuf space. After the ACK, the same.
    expect(outcome.modern).toEqual([2, 3, SOCK_MIN_SNDBUF]);
  });

  it('sends no data before the peer answers its OPEN, then as much as the answer grants', async () => {
    const rig = makeStack('modern', { sndbuf: 64 * KB });
    const swap = rig.stack.openSocket(rig.conn, 2, { cls: 'swap' });
    const task = rig.model.spawnTask('swapd');
    await swap.send(new Uint8Array(4096), { exec: 'task', task });
    expect(rig.sent.filter((f) => f.type === FRAME_TYPE.DATA)).toHaveLength(0);
    establish(rig, 2, 4096);
    expect(rig.sent.filter((f) => f.type === FRAME_TYPE.DATA)).toHaveLength(1);
  });

  it('the NBD sender is PF_MEMALLOC from 3.6 on; in 2.6 its GFP_NOIO send allocation stops at min', () => {
    for (const era of ['2.6', '3.6', 'modern'] as const) {
      const rig = makeStack(era);
      const nbd = rig.model.tasks.spawn('nbd0', {
        flags: nbdSenderFlags(ERA_KNOBS[era]),
        oomScoreAdj: -1000,
      });
      expect((nbd.flags & PF.MEMALLOC) !== 0).toBe(era !== '2.6');
      expect(nbd.flags & PF.KTHREAD).toBe(PF.KTHREAD);
      // One page below min: only ALLOC_NO_WATERMARKS gets a page without reclaim.
      setFree(rig.model, 511);
      const r = rig.model.allocator.tryAlloc({
        gfp: GFP.NOIO,
        ctx: { exec: 'task', task: nbd },
        use: 'skb',
      });
      if (era === '2.6') expect(r?.ok).not.toBe(true);
      else expect(r).toMatchObject({ ok: true, pfmemalloc: true });
    }
  });

  it('a PF_MEMALLOC sender may use the reserve in every era; pages are held until ACKed', async () => {
    for (const era of ['2.6', '3.6', 'modern'] as const) {
      const rig = makeStack(era, { sndbuf: 64 * KB });
      const swap = rig.stack.openSocket(rig.conn, 2, { cls: 'swap', allocation: GFP.NOIO });
      establish(rig, 2);
      const driver = rig.model.spawnTask('swapd');
      driver.flags |= PF.MEMALLOC;
      setFree(rig.model, 10);
      expect(await swap.send(new Uint8Array(4096), { exec: 'task', task: driver })).toBe(true);
      expect(rig.model.zone.reserveUsed).toBe(skbPages(4096));
      expect(rig.model.zone.free).toBe(10 - skbPages(4096));
      // At 8 free pages the ACK itself could not be received: give memory back first.
      setFree(rig.model, 1000);
      rig.stack.receive(rig.conn, ackFrame(2, 4096));
      expect(rig.model.zone.free).toBe(1000 + skbPages(4096));
      expect(rig.model.zone.reserveUsed).toBe(0);
    }
  });

  it('a sender waits while its send buffer is full and resumes when an ACK frees it', async () => {
    const rig = makeStack('modern', { sndbuf: 16 * KB });
    const swap = rig.stack.openSocket(rig.conn, 2, { cls: 'swap' });
    establish(rig, 2);
    const task = rig.model.spawnTask('swapd');
    const ctx = { exec: 'task', task } as const;
    let sent = 0;
    const writer = (async () => {
      for (let i = 0; i < 6; i++) {
        await swap.send(new Uint8Array(4096), ctx);
        sent++;
      }
    })();
    await rig.sched.runFor(1000);
    // sk_stream_memory_free: another skb while wmem_queued < sndbuf.
    expect(sent).toBe(4);
    expect(swap.wmemQueued).toBe(4 * skbTruesize(4096));
    rig.stack.receive(rig.conn, ackFrame(2, 2 * 4096));
    await rig.sched.runFor(10);
    expect(sent).toBe(6);
    rig.stack.receive(rig.conn, ackFrame(2, 6 * 4096));
    await writer;
    expect(swap.wmemQueued).toBe(0);
    expect(rig.model.zone.pages('skb')).toBe(0);
  });

  it('regression: concurrent senders cannot all pass the send-buffer check while one allocation is in flight', async () => {
    const rig = makeStack('modern', { sndbuf: 16 * KB });
    const swap = rig.stack.openSocket(rig.conn, 2, { cls: 'swap' });
    establish(rig, 2);
    const task = rig.model.spawnTask('swapd');
    const sends = Array.from({ length: 64 }, () =>
      swap.send(new Uint8Array(4096), { exec: 'task', task }),
    );
    await rig.sched.runFor(100);
    // sk_stream_memory_free: one more skb while wmem_queued < sndbuf, so at most four here.
    expect(swap.wmemQueued).toBeLessThanOrEqual(4 * skbTruesize(4096));
    expect(rig.model.zone.pages('skb')).toBeLessThanOrEqual(4 * skbPages(4096));
    swap.close();
    await Promise.all(sends);
  });

  it('closing a socket frees everything it holds, queued or in flight', async () => {
    const rig = makeStack('modern');
    const swap = rig.stack.openSocket(rig.conn, 2, { cls: 'swap' });
    establish(rig, 2);
    const task = rig.model.spawnTask('swapd');
    await swap.send(new Uint8Array(4096), { exec: 'task', task });
    rig.stack.receive(rig.conn, dataFrame(2, 0, KB));
    expect(rig.model.zone.pages('skb')).toBe(skbPages(4096) + skbPages(KB));
    rig.stack.detach(rig.conn);
    expect(rig.model.zone.pages('skb')).toBe(0);
    expect(rig.stack.tcpMem.allocated).toBe(0);
    rig.model.checkInvariants();
  });
});

describe('receive window (regression: a 4 KiB swap-in reply could never be sent)', () => {
  it('tiny replies do not shrink the window below a large message (scaling_ratio, rcv_mss)', () => {
    const rig = makeStack('modern');
    const swap = rig.stack.openSocket(rig.conn, 2, { cls: 'swap' });
    establish(rig, 2);
    let seq = 0;
    for (let i = 0; i < 500; i++) {
      rig.stack.receive(rig.conn, dataFrame(2, seq, 6)); // write completions
      seq += 6;
      swap.read();
    }
    expect(swap.advertise()).toBeGreaterThan(4102); // a read reply still fits
  });

  it('advertises zero rather than less than one segment (silly-window avoidance)', () => {
    const rig = makeStack('modern', { rcvbuf: 8 * KB });
    const s = serviceSocket(rig);
    rig.stack.receive(rig.conn, dataFrame(1, 0, 4 * KB));
    expect(s.advertise()).toBe(0);
    s.read();
    expect(s.advertise()).toBeGreaterThanOrEqual(4 * KB);
  });
});
