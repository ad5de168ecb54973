// The transport of a node without a memory model (B, C, and test peers): flows keyed
// by id on one connection, every in-order payload delivered to the application at
// once, a fixed advertised window. A runs the full receive path instead (a-stack.ts).
import type { Scheduler } from '../reserve/clock.ts';
import { Flow, type FlowView, type RtoOptions, type SentMessage } from './flow.ts';
import { FRAME_TYPE, type Frame, type FrameFields } from './frame.ts';

export interface PeerStackOptions {
  readonly scheduler: Scheduler;
  /** Writes a frame to the connection; false = backed up. */
  readonly transmit: (frame: FrameFields) => boolean;
  /** The window this node advertises (bytes), fixed or read at each frame sent. */
  readonly windowBytes?: number | (() => number);
  readonly rto?: RtoOptions;
  readonly ignoreWindow?: boolean;
  /** A flow the peer opened (OPEN frame); return false to refuse it. */
  readonly onOpen?: (flowId: number) => boolean;
}

export interface PeerFlowHandlers {
  /** An in-order payload (a view the application may keep: buffers are never reused). */
  message(payload: Uint8Array): void;
  /** Messages the peer acknowledged. */
  acked?(messages: readonly SentMessage[]): void;
}

export class PeerStack {
  private readonly flows = new Map<number, { flow: Flow; handlers: PeerFlowHandlers }>();
  /** Frames for flows we do not know. */
  unknownFlowFrames = 0;
  /** Payloads delivered in order. */
  delivered = 0;
  /** Duplicates suppressed. */
  duplicates = 0;
  /** Out-of-order frames discarded (the sender goes back). */
  outOfOrder = 0;

  constructor(private readonly options: PeerStackOptions) {}

  /** Creates the local end of a flow; `announce` sends OPEN so the peer creates its end. */
  openFlow(flowId: number, handlers: PeerFlowHandlers, announce = true): Flow {
    const flow = new Flow({
      flowId,
      scheduler: this.options.scheduler,
      transmit: this.options.transmit,
      window: () => this.window(),
      ...(this.options.rto ? { rto: this.options.rto } : {}),
      ...(this.options.ignoreWindow ? { ignoreWindow: true } : {}),
      ...(handlers.acked ? { onAcked: handlers.acked } : {}),
    });
    this.flows.set(flowId, { flow, handlers });
    if (announce) flow.open();
    return flow;
  }

  private window(): number {
    const w = this.options.windowBytes;
    return typeof w === 'function' ? w() : (w ?? 1 << 20);
  }

  /** Sets the handlers for a flow the peer opened. */
  adopt(flowId: number, handlers: PeerFlowHandlers): Flow | undefined {
    const entry = this.flows.get(flowId);
    if (!entry) return undefined;
    entry.handlers = handlers;
    return entry.flow;
  }

  /** Every flow's state, as `ss -ti` would show it. */
  flowViews(): (FlowView & { flowId: number })[] {
    return [...this.flows.entries()].map(([flowId, { flow }]) => ({ flowId, ...flow.view() }));
  }

  flow(flowId: number): Flow | undefined {
    return this.flows.get(flowId)?.flow;
  }

  /** Handles one frame from the connection. */
  handleFrame(frame: Frame): void {
    if (frame.type === FRAME_TYPE.OPEN) {
      // A new flow, or a repeated OPEN whose answer was lost: answer with an ACK.
      const known = this.flows.get(frame.flowId)?.flow;
      if (known) known.onPeerAck(frame);
      if (!known && (this.options.onOpen?.(frame.flowId) ?? true)) {
        this.openFlow(frame.flowId, { message: () => {} }, false).onPeerAck(frame);
      }
      this.flows.get(frame.flowId)?.flow.requestAck();
      return;
    }
    const entry = this.flows.get(frame.flowId);
    if (!entry) {
      this.unknownFlowFrames++;
      return;
    }
    const { flow, handlers } = entry;
    if (frame.type === FRAME_TYPE.CLOSE) {
      flow.close();
      this.flows.delete(frame.flowId);
      return;
    }
    flow.onPeerAck(frame);
    if (frame.type !== FRAME_TYPE.DATA) return;
    const arrival = flow.classify(frame.seq, frame.payload.length);
    if (arrival === 'in-order') {
      flow.accept(frame.payload.length);
      this.delivered++;
      handlers.message(frame.payload);
    } else {
      if (arrival === 'duplicate') this.duplicates++;
      else this.outOfOrder++;
      flow.requestAck();
    }
  }

  /** Sends every owed ACK (after a batch of frames). */
  flushAcks(): void {
    for (const { flow } of this.flows.values()) flow.flushAck();
  }

  /** Re-sends what was held back while the connection was backed up. */
  pumpAll(): void {
    for (const { flow } of this.flows.values()) flow.pump();
  }

  closeAll(): void {
    for (const { flow } of this.flows.values()) flow.close();
    this.flows.clear();
  }
}
