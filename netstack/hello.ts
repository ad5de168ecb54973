// The HELLO payload: the connecting node's role and the shared token from the
// orchestrator. Anything else is refused by the accepting side.
import { readU16 } from './frame.ts';

export const ROLES = ['a', 'b', 'c', 'control'] as const;
export type Role = (typeof ROLES)[number];

const MAX_TOKEN_BYTES = 1024;

export interface Hello {
  readonly role: Role;
  readonly token: string;
}

/** Encodes role and token: u8 role index, u16 token length, token (UTF-8). */
export function encodeHello(hello: Hello): Uint8Array {
  const token = new TextEncoder().encode(hello.token);
  if (token.length > MAX_TOKEN_BYTES)
    throw new RangeError(`token longer than ${MAX_TOKEN_BYTES} bytes`);
  const out = new Uint8Array(3 + token.length);
  out[0] = ROLES.indexOf(hello.role);
  out[1] = (token.length >>> 8) & 0xff;
  out[2] = token.length & 0xff;
  out.set(token, 3);
  return out;
}

/** Decodes a HELLO payload; null when it is malformed. */
export function decodeHello(payload: Uint8Array): Hello | null {
  if (payload.length < 3) return null;
  const role = ROLES[payload[0] as number];
  const length = readU16(payload, 1);
  if (role === undefined || length > MAX_TOKEN_BYTES || payload.length !== 3 + length) return null;
  let token: string;
  try {
    token = new TextDecoder('utf-8', { fatal: true }).decode(payload.subarray(3));
  } catch {
    return null;
  }
  return { role, token };
}

/** Compares tokens in time independent of where they differ. */
export function tokensEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}
