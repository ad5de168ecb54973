// What a run is: a scenario, a policy and an era, resolved into one knob set. The order
// is defaults, then the scenario's knobs, then the era, then the policy, then --set.
import { ConfigError } from '../reserve/errors.ts';
import { applySets, defaultKnobs, validateKnobs, type Knobs } from '../nodes/knobs.ts';
import { findPolicy, POLICIES, type Policy } from './policies.ts';
import { loadScenario, resolveTimeline, scenarioKnobs, type Scenario } from './scenario.ts';
import { ERAS, isEraName, type EraName } from '../netstack/era.ts';

export interface RunPlan {
  readonly scenario: Scenario;
  readonly policy: Policy;
  readonly era: EraName;
  readonly knobs: Knobs;
  readonly seed: number;
}

export interface PlanRequest {
  readonly scenario: string;
  readonly policy: string;
  readonly era?: string | undefined;
  readonly sets?: readonly string[];
  readonly seed?: number;
}

export function planRun(req: PlanRequest): RunPlan {
  const scenario = loadScenario(req.scenario);
  const policy = findPolicy(req.policy);
  if (!policy) {
    throw new ConfigError(
      '--policy',
      `"${req.policy}" is not a policy (${POLICIES.map((p) => p.name).join(', ')})`,
    );
  }
  if (req.era !== undefined && !isEraName(req.era)) {
    throw new ConfigError('--era', `"${req.era}" is not an era (${ERAS.join(', ')})`);
  }
  let knobs = validateKnobs({ ...defaultKnobs(), ...scenarioKnobs(scenario) });
  if (req.era !== undefined) knobs = validateKnobs({ ...knobs, era: req.era });
  // A policy may derive values from other knobs (min-free-20: 20% of mem.ramMiB), so it
  // sees the --set values too; then --set is applied again and has the last word.
  const sets = req.sets ?? [];
  knobs = validateKnobs({ ...knobs, ...policy.apply(applySets(knobs, sets)) });
  knobs = applySets(knobs, sets);
  // Timeline times that follow a knob (fault.durationSeconds) are fixed here, once.
  const timed = { ...scenario, timeline: resolveTimeline(scenario.timeline, knobs) };
  return { scenario: timed, policy, era: knobs.era, knobs, seed: req.seed ?? 1 };
}
