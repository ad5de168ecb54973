// What the uml engine makes of a plan (orchestrator/engines/uml.ts umlConfig): the knobs
// a real kernel can be configured for carried into the guest, everything else refused by
// name before anything starts.
import { describe, expect, it } from 'vitest';
import { relayKind, umlConfig } from '../../orchestrator/engines/uml.ts';
import { planRun } from '../../orchestrator/run-plan.ts';
import { ConfigError } from '../../reserve/errors.ts';

const plan = (policy: string, sets: string[] = [], scenario = 'partition-c') =>
  planRun({ scenario, policy, sets });

describe('umlConfig', () => {
  it('memalloc is the kernel NBD socket, vanilla the relay; net.nicReserve picks the NIC', () => {
    const m = umlConfig(plan('memalloc'));
    expect(m).toMatchObject({ transport: 'tcp', nic: 'legacy', memMiB: 256, swapMiB: 512 });
    expect(m.minFreeKbytes).toBeUndefined();
    expect(umlConfig(plan('vanilla')).transport).toBe('relay');
    expect(umlConfig(plan('memalloc', ['net.nicReserve=never'])).nic).toBe('vector');
  });

  it("carries the scenario's hog, service and flood, and min-free-20's vm.min_free_kbytes", () => {
    const c = umlConfig(plan('min-free-20', ['mem.ramMiB=128', 'flood.connections=8']));
    expect(c.minFreeKbytes).toBe(Math.floor(128 * 1024 * 0.2));
    expect(c.hog).toEqual({ tasks: 2, ratio: 1.2, batch: 16, intervalMs: 32 });
    expect(c.service).toEqual({
      workingSetMiB: 32,
      hotSetMiB: 4,
      coldRatio: 0.02,
      messageBytes: 1024,
      touches: 2,
    });
    expect(c.flood).toEqual({ connections: 8, rate: 2000, payloadBytes: 1024 });
  });

  it('refuses a policy a real kernel cannot be configured for, naming it and its knob', () => {
    for (const [policy, knob] of [
      ['memalloc-dynamic', 'reserve.strategy'],
      ['nofail', 'service.nofail'],
      ['recursive-reclaim', 'vm.recursiveReclaim'],
      ['memcg-fixed', 'memcg.service'],
    ] as const) {
      expect(() => umlConfig(plan(policy))).toThrow(ConfigError);
      expect(() => umlConfig(plan(policy))).toThrow(
        new RegExp(`--policy: "${policy}" sets ${knob.replace('.', '\\.')}=`),
      );
    }
  });

  it('refuses a knob set by --set that it cannot carry, naming the knob and its default', () => {
    expect(() => umlConfig(plan('memalloc', ['net.rtoMinMs=50']))).toThrow(
      /net\.rtoMinMs: 50 cannot be configured in a real kernel by the uml engine \(only its default, 200\)/,
    );
  });

  it('refuses other eras, the netns fault, and timelines it cannot play', () => {
    expect(() =>
      umlConfig(planRun({ scenario: 'partition-c', policy: 'vanilla', era: '3.6' })),
    ).toThrow(/--era: "3\.6": the uml engine's kernel is Linux 6\.1/);
    expect(() => umlConfig(plan('memalloc', ['fault.mode=netns']))).toThrow(/fault\.mode: "netns"/);
    expect(() => umlConfig(plan('memalloc', [], 'c-restart'))).toThrow(
      /scenario c-restart: restart of C/,
    );
    expect(() => umlConfig(plan('memalloc', [], 'partition-c-clean'))).toThrow(
      /reader\.pages: 26000 cannot be configured/,
    );
  });
});

describe('relayKind', () => {
  it('defaults to io-flusher, takes naive, and names SWAPNET_UML_RELAY otherwise', () => {
    expect(relayKind(undefined)).toBe('io-flusher');
    expect(relayKind('naive')).toBe('naive');
    expect(() => relayKind('fast')).toThrow(/SWAPNET_UML_RELAY: "fast" is not a relay kind/);
  });
});
