// The NBD codec (nodes/nbd-protocol.ts): messages decoded from any split of the bytes,
// the handshake's switch to transmission between two messages, every way a stream is
// refused, and the replies' exact layout (fixed by the protocol, doc/proto.md).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeClientFlags,
  encodeExportNameReply,
  encodeGreeting,
  encodeInfoExport,
  encodeInfoRequest,
  encodeOption,
  encodeOptionReply,
  encodeRequest,
  encodeSimpleReply,
  NBD_CMD,
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_FLAG_FIXED_NEWSTYLE,
  NBD_MAX_OPTION_BYTES,
  NBD_MAX_PAYLOAD_BYTES,
  NBD_OPT,
  NBD_REP,
  NbdServerDecoder,
  parseInfoRequest,
  type NbdClientMessage,
} from '../../nodes/nbd-protocol.ts';
import { slotSpans } from '../../nodes/nbd-server.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function drain(d: NbdServerDecoder): NbdClientMessage[] {
  const out: NbdClientMessage[] = [];
  for (let m = d.next(); m; m = d.next()) {
    out.push(m);
    if (m.kind === 'option' && m.option === NBD_OPT.GO) d.startTransmission();
  }
  return out;
}

const session = Buffer.concat([
  encodeClientFlags(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES),
  encodeOption(NBD_OPT.LIST),
  encodeOption(NBD_OPT.GO, encodeInfoRequest('swapnet', [3])),
  encodeRequest({
    type: NBD_CMD.WRITE,
    handle: 5n,
    offset: 8192,
    length: 3,
    data: Uint8Array.of(1, 2, 3),
  }),
  encodeRequest({ type: NBD_CMD.READ, handle: 6n, offset: 8192, length: 4096 }),
  encodeRequest({ type: NBD_CMD.DISC, handle: 7n, offset: 0, length: 0 }),
]);

describe('NbdServerDecoder', () => {
  it('decodes a whole session, switching to transmission after GO', () => {
    const d = new NbdServerDecoder();
    d.push(session);
    const msgs = drain(d);
    expect(msgs.map((m) => m.kind)).toEqual([
      'client-flags',
      'option',
      'option',
      'request',
      'request',
      'request',
    ]);
    const w = msgs[3];
    expect(
      w?.kind === 'request' && [w.type, w.handle, w.offset, w.length, [...(w.data ?? [])]],
    ).toEqual([NBD_CMD.WRITE, 5n, 8192n, 3, [1, 2, 3]]);
    const r = msgs[4];
    expect(r?.kind === 'request' && r.data).toBeNull();
    expect(d.buffered).toBe(0);
  });

  it('gives the same messages for any split of the bytes (seed 17)', () => {
    const whole = new NbdServerDecoder();
    whole.push(session);
    const expected = JSON.stringify(drain(whole), (_, v: unknown) =>
      typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? hex(v) : v,
    );
    fc.assert(
      fc.property(fc.array(fc.nat(session.length), { maxLength: 12 }), (cuts) => {
        const points = [...new Set([0, ...cuts, session.length])].sort((a, b) => a - b);
        const d = new NbdServerDecoder();
        const got: NbdClientMessage[] = [];
        for (let i = 1; i < points.length; i++) {
          d.push(session.subarray(points[i - 1], points[i]));
          got.push(...drain(d));
        }
        return (
          JSON.stringify(got, (_, v: unknown) =>
            typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? hex(v) : v,
          ) === expected
        );
      }),
      { seed: 17, numRuns: 300 },
    );
  });

  it('does not decode past an option until the server switches (a GO and a request in one chunk)', () => {
    const d = new NbdServerDecoder();
    d.push(
      Buffer.concat([
        encodeClientFlags(1),
        encodeOption(NBD_OPT.GO, encodeInfoRequest('')),
        encodeRequest({ type: NBD_CMD.FLUSH, handle: 1n, offset: 0, length: 0 }),
      ]),
    );
    expect(d.next()?.kind).toBe('client-flags');
    expect(d.next()?.kind).toBe('option');
    // Without the switch the request's bytes read as an option: its magic is wrong.
    const probe = new NbdServerDecoder();
    probe.push(
      Buffer.concat([
        encodeClientFlags(1),
        encodeRequest({ type: NBD_CMD.FLUSH, handle: 1n, offset: 0, length: 0 }),
      ]),
    );
    probe.next();
    expect(probe.next()).toEqual({ kind: 'error', reason: 'nbd-bad-option-magic' });
    d.startTransmission();
    expect(d.next()).toMatchObject({ kind: 'request', type: NBD_CMD.FLUSH, handle: 1n });
  });

  it.each([
    ['an unknown client flag', [encodeClientFlags(1 | 4)], 'nbd-bad-client-flags'],
    ['a client without fixed newstyle', [encodeClientFlags(0)], 'nbd-bad-client-flags'],
    [
      'an option without IHAVEOPT',
      [encodeClientFlags(1), new Uint8Array(16).fill(7)],
      'nbd-bad-option-magic',
    ],
  ] as const)('refuses %s', (_, parts, reason) => {
    const d = new NbdServerDecoder();
    d.push(Buffer.concat(parts));
    const msgs = drain(d);
    expect(msgs.at(-1)).toEqual({ kind: 'error', reason });
    d.push(session);
    expect(d.next()).toBeNull();
  });

  it('refuses an option longer than NBD_MAX_OPTION_BYTES from its header alone', () => {
    const h = Buffer.from(encodeOption(NBD_OPT.GO));
    h.writeUInt32BE(NBD_MAX_OPTION_BYTES + 1, 12);
    const d = new NbdServerDecoder();
    d.push(Buffer.concat([encodeClientFlags(1), h]));
    expect(drain(d).at(-1)).toEqual({ kind: 'error', reason: 'nbd-option-too-long' });
  });

  it('refuses a request with a wrong magic and a WRITE longer than NBD_MAX_PAYLOAD_BYTES; a long READ is decoded (answered EINVAL)', () => {
    const start = (): NbdServerDecoder => {
      const d = new NbdServerDecoder();
      d.push(
        Buffer.concat([encodeClientFlags(1), encodeOption(NBD_OPT.GO, encodeInfoRequest(''))]),
      );
      drain(d);
      return d;
    };
    const bad = start();
    const req = Buffer.from(
      encodeRequest({ type: NBD_CMD.READ, handle: 1n, offset: 0, length: 1 }),
    );
    req.writeUInt32BE(0x12345678, 0);
    bad.push(req);
    expect(bad.next()).toEqual({ kind: 'error', reason: 'nbd-bad-request-magic' });
    const long = start();
    long.push(
      encodeRequest({
        type: NBD_CMD.WRITE,
        handle: 1n,
        offset: 0,
        length: NBD_MAX_PAYLOAD_BYTES + 1,
      }),
    );
    expect(long.next()).toEqual({ kind: 'error', reason: 'nbd-write-too-long' });
    const read = start();
    read.push(encodeRequest({ type: NBD_CMD.READ, handle: 1n, offset: 0, length: 0xffffffff }));
    expect(read.next()).toMatchObject({ kind: 'request', length: 0xffffffff, data: null });
  });

  it('keeps a 64-bit offset exact', () => {
    const d = new NbdServerDecoder();
    d.push(Buffer.concat([encodeClientFlags(1), encodeOption(NBD_OPT.GO, encodeInfoRequest(''))]));
    drain(d);
    d.push(
      encodeRequest({
        type: NBD_CMD.READ,
        handle: 2n ** 64n - 1n,
        offset: 2n ** 64n - 4096n,
        length: 4096,
      }),
    );
    expect(d.next()).toMatchObject({ handle: 2n ** 64n - 1n, offset: 2n ** 64n - 4096n });
  });
});

describe('encoders', () => {
  it('greeting: NBDMAGIC, IHAVEOPT, handshake flags', () => {
    expect(hex(encodeGreeting(NBD_FLAG_FIXED_NEWSTYLE))).toBe(
      '4e42444d41474943' + '49484156454f5054' + '0001',
    );
  });

  it('option reply: magic 0x3e889045565a9, option, type, length, data', () => {
    expect(hex(encodeOptionReply(NBD_OPT.GO, NBD_REP.ERR_UNSUP, Uint8Array.of(0xaa)))).toBe(
      '0003e889045565a9' + '00000007' + '80000001' + '00000001' + 'aa',
    );
  });

  it('NBD_INFO_EXPORT: type 0, u64 size, u16 flags', () => {
    expect(hex(encodeInfoExport(2 ** 33, 0x25))).toBe('0000' + '0000000200000000' + '0025');
  });

  it('EXPORT_NAME reply: 124 zero bytes unless NO_ZEROES', () => {
    expect(encodeExportNameReply(4096, 1, false).length).toBe(134);
    expect(hex(encodeExportNameReply(4096, 1, true))).toBe('0000000000001000' + '0001');
  });

  it('simple reply: magic 0x67446698, error, handle; data only without error', () => {
    expect(hex(encodeSimpleReply(9n, 0, Uint8Array.of(1, 2)))).toBe(
      '67446698' + '00000000' + '0000000000000009' + '0102',
    );
    expect(hex(encodeSimpleReply(9n, 22, Uint8Array.of(1, 2)))).toBe(
      '67446698' + '00000016' + '0000000000000009',
    );
  });
});

describe('parseInfoRequest', () => {
  it('round-trips a name and info requests', () => {
    expect(parseInfoRequest(encodeInfoRequest('swapnet', [3, 1]))).toEqual({
      name: 'swapnet',
      infos: [3, 1],
    });
  });

  it.each([
    ['too short', new Uint8Array(3)],
    ['a name longer than the payload', Uint8Array.of(0, 0, 0, 50, 0, 0)],
    ['an info count that does not match', Uint8Array.of(0, 0, 0, 0, 0, 2, 0, 3)],
    ['a name that is not UTF-8', Uint8Array.of(0, 0, 0, 1, 0xff, 0, 0)],
  ])('is null for %s', (_, data) => {
    expect(parseInfoRequest(data)).toBeNull();
  });
});

describe('slotSpans', () => {
  it('maps byte ranges to 4096-byte slots', () => {
    expect(slotSpans(4096, 8192)).toEqual([
      { slot: 1, inSlot: 0, inBuffer: 0, bytes: 4096 },
      { slot: 2, inSlot: 0, inBuffer: 4096, bytes: 4096 },
    ]);
    expect(slotSpans(4196, 5000)).toEqual([
      { slot: 1, inSlot: 100, inBuffer: 0, bytes: 3996 },
      { slot: 2, inSlot: 0, inBuffer: 3996, bytes: 1004 },
    ]);
    expect(slotSpans(10, 5)).toEqual([{ slot: 0, inSlot: 10, inBuffer: 0, bytes: 5 }]);
  });
});
