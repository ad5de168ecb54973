// The one way every caller injects and heals a fault (a scenario's timeline in any
// engine, `swapnet fault`): the request is validated once (nodes/fault-control.ts's
// schema, the same as a node's control endpoint), then applied where its mode lives:
// inside the target's fault gate (stall, blackhole, reset, loss, delay), by freezing the
// target (pause: SIGSTOP of a process, a paused scheduler in a simulation), or by taking
// its link down (netns: C in its own network namespace; the simulated network's link).
import type { NodeRole } from '../nodes/node-args.ts';
import { parseFaultRequest } from '../nodes/fault-control.ts';
import type { FaultMode, FaultRequest } from '../nodes/machines/fault-gate.ts';
import { ERROR_CODES, SwapnetError } from '../reserve/errors.ts';
import { ControlError } from '../nodes/machines/control-error.ts';

/** A fault request that cannot be applied: the message names the field and the value. */
export class FaultError extends SwapnetError {
  constructor(message: string) {
    super(ERROR_CODES.faultInvalid, message);
  }
}

/** What a topology offers to fault-inject its machines (each engine implements it). */
export interface FaultSurface {
  /** Applies a gate fault inside `target` (request already validated), or heals it. */
  gate(target: NodeRole, request: FaultRequest | 'heal'): Promise<void>;
  /** Freezes `target` whole (pause) or thaws it. */
  freeze(target: NodeRole, frozen: boolean): Promise<void> | void;
  /** Takes C's link down or up (netns); throws FaultError when the topology has none. */
  link(target: NodeRole, up: boolean): Promise<void> | void;
}

/**
 * Validates a fault request (the fields of POST /control/fault). Throws FaultError
 * naming the field and value: an unknown mode, a bad rate, netns on a node other than C.
 */
export function checkFault(target: NodeRole, body: Record<string, unknown>): FaultRequest {
  let request: FaultRequest;
  try {
    request = parseFaultRequest(body);
  } catch (err) {
    if (err instanceof ControlError) throw new FaultError(err.message);
    throw err;
  }
  if (request.mode === 'netns' && target !== 'c') {
    throw new FaultError(
      `mode: "netns" takes down the link of C in its namespace, not of ${target.toUpperCase()}`,
    );
  }
  if (request.mode === 'reset' && (request.direction ?? 'both') !== 'both') {
    throw new FaultError(
      `direction: "${request.direction}" is not accepted for mode "reset": a reset closes whole connections (use "both")`,
    );
  }
  return request;
}

/** Applies a validated fault to `target`. */
export async function applyFault(
  surface: FaultSurface,
  target: NodeRole,
  request: FaultRequest,
): Promise<void> {
  if (request.mode === 'pause') await surface.freeze(target, true);
  else if (request.mode === 'netns') await surface.link(target, false);
  else await surface.gate(target, request);
}

/** Heals the fault of `mode` on `target`. */
export async function healFault(
  surface: FaultSurface,
  target: NodeRole,
  mode: FaultMode,
): Promise<void> {
  if (mode === 'pause') await surface.freeze(target, false);
  else if (mode === 'netns') await surface.link(target, true);
  else await surface.gate(target, 'heal');
}
