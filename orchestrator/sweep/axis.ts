// A sweep's axis: one knob and the values it takes, from `KNOB=VALUES` where VALUES is a
// list (`0,16,64`, `2.6,modern`, `[1,2,3],[4,5,6]`) or a range (`A..B:N` evenly spaced,
// `A..B:N:log` geometrically spaced, both ends included). Every value is checked
// against the knob's schema (nodes/knobs.ts); an integer knob gets integer values,
// rounded and deduplicated. Errors name the flag and the text received.
import type { z } from 'zod';
import { ConfigError } from '../../reserve/errors.ts';
import {
  checkKnob,
  isKnobKey,
  KNOB_KEYS,
  KNOB_SPECS,
  parseValue,
  type KnobKey,
} from '../../nodes/knobs.ts';

/** One value of an axis: whatever a knob takes (a number, a word, a boolean, null, a tuple). */
export type AxisValue = number | string | boolean | null | readonly number[];

export interface Axis {
  readonly knob: KnobKey;
  readonly values: readonly AxisValue[];
  /** The values came from a `:log` range: bisection (--refine) halves the ratio, not the gap. */
  readonly log: boolean;
}

/** Most values an axis may have (a sweep is cells x policies x seeds runs). */
export const MAX_AXIS_VALUES = 1000;

interface NumberFacts {
  readonly numeric: boolean;
  readonly integer: boolean;
  readonly min: number | null;
  readonly max: number | null;
}

/** What the knob's schema says about numbers (zod 4 keeps int/min/max on the number schema). */
function numberFacts(key: KnobKey): NumberFacts {
  let s = KNOB_SPECS[key][0] as z.ZodType & { unwrap?: () => z.ZodType };
  if (s._zod.def.type === 'nullable' && s.unwrap) s = s.unwrap() as typeof s;
  if (s._zod.def.type !== 'number') return { numeric: false, integer: false, min: null, max: null };
  const n = s as unknown as z.ZodNumber;
  return {
    numeric: true,
    integer: n.isInt,
    min: Number.isFinite(n.minValue) ? n.minValue : null,
    max: Number.isFinite(n.maxValue) ? n.maxValue : null,
  };
}

/** Whether the knob takes integers only (so the axis's values are whole numbers). */
export function isIntegerKnob(key: KnobKey): boolean {
  return numberFacts(key).integer;
}

/** Splits a list on commas outside brackets: `[1,2,3],[4,5,6]` is two values. */
function splitList(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '[') depth++;
    if (ch === ']') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((s) => s.trim());
}

const RANGE = /^(-?[\d.]+(?:e-?\d+)?)\.\.(-?[\d.]+(?:e-?\d+)?)(?::(\d+))?(?::(lin|log))?$/i;

/** `A..B:N[:lin|log]` into N numbers from A to B (both included). */
function rangeValues(flag: string, key: KnobKey, text: string): { values: number[]; log: boolean } {
  const m = RANGE.exec(text);
  const bad = (why: string): never => {
    throw new ConfigError(flag, `"${key}=${text}": ${why}`);
  };
  if (!m) bad('not a range: expected A..B:N or A..B:N:log (e.g. 8..1024:6:log, 0..1:5)');
  const [, a, b, n, scale] = m as RegExpExecArray;
  const from = Number(a);
  const to = Number(b);
  if (!Number.isFinite(from) || !Number.isFinite(to)) bad(`"${a}" or "${b}" is not a number`);
  if (n === undefined) bad('a range needs its number of values: A..B:N (e.g. 0..64:5)');
  const count = Number(n);
  if (!Number.isSafeInteger(count) || count < 2 || count > MAX_AXIS_VALUES)
    bad(`${n} values: a range takes 2 to ${MAX_AXIS_VALUES}`);
  if (from >= to) bad(`the range must go up (${from} is not below ${to})`);
  const log = scale?.toLowerCase() === 'log';
  if (log && from <= 0) bad(`a log range must start above 0 (got ${from})`);
  const values = Array.from({ length: count }, (_, i) => {
    if (i === count - 1) return to;
    const f = i / (count - 1);
    return log ? from * (to / from) ** f : from + (to - from) * f;
  });
  return { values, log };
}

/** Six significant digits: no float noise (0.30000000000000004 -> 0.3), values that print and key cleanly. */
function tidy(v: number): number {
  return Number(v.toPrecision(6));
}

/**
 * Parses `KNOB=VALUES` given to `flag` (--x or --y). Throws ConfigError naming the flag
 * and the text: unknown knob, malformed list or range, a value the knob refuses.
 */
export function parseAxis(flag: string, text: string): Axis {
  const eq = text.indexOf('=');
  if (eq <= 0)
    throw new ConfigError(flag, `"${text}": expected KNOB=VALUES (e.g. flood.connections=0,16,64)`);
  const key = text.slice(0, eq).trim();
  const spec = text.slice(eq + 1).trim();
  if (!isKnobKey(key))
    throw new ConfigError(
      flag,
      `"${key}" is not a knob; run \`swapnet list\` for the knobs (${KNOB_KEYS.slice(0, 4).join(', ')}, ...)`,
    );
  if (spec === '') throw new ConfigError(flag, `"${text}": no values after "="`);
  const facts = numberFacts(key);
  let raw: unknown[];
  let log = false;
  if (spec.includes('..')) {
    if (!facts.numeric)
      throw new ConfigError(flag, `"${text}": ${key} is not a number, list its values instead`);
    const r = rangeValues(flag, key, spec);
    raw = r.values;
    log = r.log;
  } else {
    const items = splitList(spec);
    if (items.some((s) => s === ''))
      throw new ConfigError(flag, `"${text}": an empty value in the list`);
    if (items.length > MAX_AXIS_VALUES)
      throw new ConfigError(flag, `"${text}": ${items.length} values, at most ${MAX_AXIS_VALUES}`);
    raw = items.map((s) => parseValue(key, s));
  }
  const values: AxisValue[] = [];
  const seen = new Set<string>();
  for (const r of raw) {
    let v = r;
    if (typeof v === 'number') v = facts.integer ? Math.round(v) : tidy(v);
    try {
      v = checkKnob(key, v);
    } catch (err) {
      const why = err instanceof ConfigError ? err.message.replace(/^[^:]+: /, '') : String(err);
      throw new ConfigError(flag, `"${key}=${spec}": ${why}`);
    }
    const id = JSON.stringify(v);
    if (seen.has(id)) continue;
    seen.add(id);
    values.push(v as AxisValue);
  }
  return { knob: key, values, log };
}

/** A value as `--set` text (parseValue reads it back to the same value). */
export function valueText(v: AxisValue): string {
  return Array.isArray(v) ? `[${v.join(',')}]` : String(v);
}

/** The value halfway between two numbers of the axis (geometric on a log axis, whole on an integer knob). */
export function midpoint(axis: Axis, a: number, b: number): number {
  const m = axis.log && a > 0 && b > 0 ? Math.sqrt(a * b) : (a + b) / 2;
  return isIntegerKnob(axis.knob) ? Math.round(m) : tidy(m);
}
