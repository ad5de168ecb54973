// The control actions every node serves (POST /control/<action>, token-checked by
// http-server.ts): `fault` applies a fault to the node's gate, `heal` ends it. Bodies are
// validated once with a schema that refuses unknown fields; errors name the field.
import { z } from 'zod';
import { ControlError } from './http-server.ts';
import {
  FAULT_DIRECTIONS,
  type FaultGate,
  type FaultGateState,
  type FaultRequest,
} from './machines/fault-gate.ts';
import { KNOB_SPECS } from './knobs.ts';

/** The body of POST /control/fault. */
export const FaultRequestSchema = z.strictObject({
  mode: KNOB_SPECS['fault.mode'][0],
  direction: z.enum(FAULT_DIRECTIONS).optional(),
  lossRate: KNOB_SPECS['fault.lossRate'][0].optional(),
  delayMs: KNOB_SPECS['fault.delayMs'][0].optional(),
  jitterMs: KNOB_SPECS['fault.jitterMs'][0].optional(),
  seed: z.number().int().min(0).max(0xffffffff).optional(),
});

/** The body of POST /control/heal: an empty object. */
export const HealRequestSchema = z.strictObject({});

/** Parses a control body; throws ControlError(400) naming every bad field and its value. */
function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const problems = r.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return `${issue.keys.join(', ')}: unknown field${issue.keys.length > 1 ? 's' : ''}`;
    }
    const field = issue.path.join('.');
    if (field === '') return `body: ${issue.message}`;
    const value =
      typeof body === 'object' && body !== null
        ? (body as Record<string, unknown>)[String(issue.path[0])]
        : undefined;
    if (value === undefined) return `${field}: required (${issue.message})`;
    return `${field}: ${JSON.stringify(value)} is not accepted: ${issue.message}`;
  });
  throw new ControlError(400, problems.join('; '));
}

/** Validates a `fault` body; throws ControlError(400) naming the field. */
export function parseFaultRequest(body: unknown): FaultRequest {
  return parseBody(FaultRequestSchema, body);
}

/**
 * The control handler of a node: `fault` (body FaultRequestSchema) and `heal` (body {})
 * return the gate's state; any other action is a ControlError(404).
 */
export function faultControl(
  gate: FaultGate,
): (action: string, body: unknown) => Promise<FaultGateState> {
  return async (action, body) => {
    switch (action) {
      case 'fault':
        return gate.apply(parseFaultRequest(body));
      case 'heal':
        parseBody(HealRequestSchema, body);
        return gate.heal();
      default:
        throw new ControlError(
          404,
          `no control action "${action}": the actions are fault and heal`,
        );
    }
  };
}
