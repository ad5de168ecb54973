// A's stack on a model in virtual time, with hand-made frames, for receive-path tests.
import { AStack, type AConnection } from '../../netstack/a-stack.ts';
import { ERA_KNOBS, type EraName } from '../../netstack/era.ts';
import { FRAME_TYPE, type Frame, type FrameFields } from '../../netstack/frame.ts';
import type { MemoryModelConfig } from '../../reserve/memory-model.ts';
import { makeModel, type TestModel } from './model.ts';

export interface StackRig extends TestModel {
  readonly stack: AStack;
  readonly conn: AConnection;
  /** Frames A sent on the connection, oldest first. */
  readonly sent: FrameFields[];
}

export function makeStack(
  era: EraName,
  options: {
    tcpMem?: [number, number, number];
    rcvbuf?: number;
    sndbuf?: number;
    model?: Partial<MemoryModelConfig>;
  } = {},
): StackRig {
  const t = makeModel(options.model ?? {});
  const stack = new AStack({
    model: t.model,
    era: ERA_KNOBS[era],
    ...(options.tcpMem ? { tcpMem: options.tcpMem } : {}),
    ...(options.rcvbuf ? { rcvbuf: options.rcvbuf } : {}),
    ...(options.sndbuf ? { sndbuf: options.sndbuf } : {}),
  });
  const sent: FrameFields[] = [];
  const conn = stack.attach({ send: (f) => (sent.push(f), true) });
  return { ...t, stack, conn, sent };
}

export function dataFrame(flowId: number, seq: number, bytes: number, ack = 0): Frame {
  return {
    type: FRAME_TYPE.DATA,
    flags: 0,
    flowId,
    seq,
    ack,
    window: 1 << 20,
    payload: new Uint8Array(bytes),
  };
}

export function openFrame(flowId: number): Frame {
  return {
    type: FRAME_TYPE.OPEN,
    flags: 0,
    flowId,
    seq: 0,
    ack: 0,
    window: 1 << 20,
    payload: new Uint8Array(0),
  };
}

export function ackFrame(flowId: number, ack: number, window = 1 << 20): Frame {
  return {
    type: FRAME_TYPE.ACK,
    flags: 0,
    flowId,
    seq: 0,
    ack,
    window,
    payload: new Uint8Array(0),
  };
}

/** The peer answers A's OPEN on `flowId` (the SYN-ACK), granting `window` bytes. */
export function establish(rig: StackRig, flowId: number, window = 1 << 20): void {
  rig.stack.receive(rig.conn, ackFrame(flowId, 0, window));
}
