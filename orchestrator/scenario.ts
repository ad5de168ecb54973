// Scenarios: a topology's settings and a timeline (start workloads, fault a node, heal,
// restart, end), from a built-in or a JSON/YAML file. One schema validates both; unknown
// keys are refused and every error names the field (DESIGN.md section 7).
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError, ERROR_CODES } from '../reserve/errors.ts';
import { checkKnob, isKnobKey, KNOB_SPECS, type Knobs } from '../nodes/knobs.ts';
import { BUILTIN_SCENARIOS } from './builtin-scenarios.ts';

const seconds = z.number().min(0).max(86_400);
const target = z.enum(['a', 'b', 'c']);
const faultMode = KNOB_SPECS['fault.mode'][0];

export const ActionSchema = z.discriminatedUnion('do', [
  z.strictObject({
    at: seconds,
    do: z.literal('start'),
    workload: z.enum(['hog', 'flood', 'reader']),
  }),
  z.strictObject({ at: seconds, do: z.literal('stop'), workload: z.enum(['hog', 'flood']) }),
  z.strictObject({
    at: seconds,
    do: z.literal('fault'),
    target,
    /** Default: the fault.mode knob. */
    mode: faultMode.optional(),
    direction: z.enum(['in', 'out', 'both']).optional(),
  }),
  z.strictObject({
    at: seconds,
    do: z.literal('heal'),
    target,
    /**
     * This heal ends a partition as long as the knob says (`at` is where it falls at the
     * knob's default): the heal and every later action move with the knob.
     */
    length: z.literal('fault.durationSeconds').optional(),
  }),
  /** Kill the node (SIGKILL) and start it again on the same address and store. */
  z.strictObject({ at: seconds, do: z.literal('restart'), target }),
  z.strictObject({ at: seconds, do: z.literal('end') }),
]);
export type Action = z.infer<typeof ActionSchema>;

export const ScenarioSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lowercase letters, digits and dashes'),
  description: z.string().min(1),
  /** Knobs this scenario sets (a policy and --set come on top). */
  knobs: z.record(z.string(), z.unknown()).default({}),
  timeline: z.array(ActionSchema).min(1),
  /** After the last heal, how long without any completion while writeouts are pending means deadlock. */
  stallWindowSeconds: z.number().min(1).max(3600).default(10),
});
export type Scenario = z.infer<typeof ScenarioSchema>;

function fail(field: string, message: string): never {
  throw new ConfigError(field, message, ERROR_CODES.scenarioInvalid);
}

/** Validates a parsed scenario; throws ConfigError (SWAPNET_ERR_SCENARIO_INVALID) naming the field. */
export function validateScenario(raw: unknown, source = 'scenario'): Scenario {
  const r = ScenarioSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0] as z.core.$ZodIssue;
    const path = issue.path.map(String).join('.');
    const where =
      issue.code === 'unrecognized_keys' ? [path, issue.keys[0]].filter(Boolean).join('.') : path;
    const what = issue.code === 'unrecognized_keys' ? 'unknown key' : issue.message;
    fail(`${source}: ${where || '(top level)'}`, what);
  }
  const s = r.data;
  for (const [key, value] of Object.entries(s.knobs)) {
    if (!isKnobKey(key)) fail(`${source}: knobs.${key}`, 'unknown knob (see `swapnet list`)');
    try {
      checkKnob(key, value);
    } catch (err) {
      fail(`${source}: knobs.${key}`, (err as ConfigError).message.replace(/^[^:]+: /, ''));
    }
  }
  let last = -1;
  for (const [i, a] of s.timeline.entries()) {
    if (a.at < last)
      fail(
        `${source}: timeline.${i}.at`,
        `${a.at} comes before the previous action (${last}): keep the timeline in order`,
      );
    last = a.at;
  }
  const end = s.timeline.findIndex((a) => a.do === 'end');
  if (end !== s.timeline.length - 1)
    fail(`${source}: timeline`, 'must finish with exactly one { do: end } as its last action');
  return s;
}

/** Loads a built-in by name or a .json/.yaml/.yml file; throws ConfigError naming the field. */
export function loadScenario(nameOrFile: string): Scenario {
  const builtin = BUILTIN_SCENARIOS.find((s) => s.name === nameOrFile);
  if (builtin) return validateScenario(builtin, `built-in ${nameOrFile}`);
  if (!/\.(json|ya?ml)$/i.test(nameOrFile)) {
    fail(
      '--scenario',
      `"${nameOrFile}" is neither a built-in (${BUILTIN_SCENARIOS.map((s) => s.name).join(', ')}) nor a .json/.yaml file`,
    );
  }
  let text: string;
  try {
    text = readFileSync(nameOrFile, 'utf8');
  } catch (err) {
    fail(
      '--scenario',
      `cannot read ${nameOrFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  let raw: unknown;
  try {
    raw = /\.json$/i.test(nameOrFile) ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    fail(
      nameOrFile,
      `not valid ${/\.json$/i.test(nameOrFile) ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`,
    );
  }
  return validateScenario(raw, nameOrFile);
}

/**
 * The timeline with each heal that has a `length` placed that many seconds (the knob's
 * value) after the fault it heals, and every action after the heal moved by the same
 * amount, so the time after the heal (the stall window) stays what the scenario gave it.
 */
export function resolveTimeline(timeline: readonly Action[], knobs: Knobs): Action[] {
  let out = timeline.map((a) => ({ ...a }));
  for (let i = 0; i < out.length; i++) {
    const heal = out[i] as Action;
    if (heal.do !== 'heal' || heal.length === undefined) continue;
    const fault = out.slice(0, i).findLast((a) => a.do === 'fault' && a.target === heal.target);
    if (!fault) continue;
    const shift = fault.at + knobs[heal.length] - heal.at;
    if (shift === 0) continue;
    const from = heal.at;
    out = out.map((a, j) =>
      j >= i && a.at >= from ? { ...a, at: Number((a.at + shift).toFixed(3)) } : a,
    );
  }
  return out;
}

/** The scenario's knobs as a partial knob set (validated). */
export function scenarioKnobs(s: Scenario): Partial<Knobs> {
  return s.knobs as Partial<Knobs>;
}
