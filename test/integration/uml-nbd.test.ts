// A real Linux kernel swapping to swapnet's C over NBD: a User-Mode Linux guest (64 MiB)
// writes a pattern over 96 MiB of anonymous memory (most of it goes to swap on C through
// the kernel's nbd.ko, over a tap in a namespace of the test's own), C is stalled for two
// seconds in the middle of the writing and again in the middle of the reading back, and
// the guest must find every page intact; once through each of UML's NICs on the tap (the
// vector driver, and the legacy one whose receive skbs can come from the reserve). Then
// nothing of the rig is left: no guest
// process, no namespace (the tap goes with it), no C. Linux and root only (CI is both;
// test/setup/ensure-uml.sh installs the packages).
import { afterEach, describe, expect, it } from 'vitest';
import {
  startUmlRig,
  UML_NICS,
  umlLeftovers,
  umlUnavailable,
  type GuestEvent,
  type UmlRig,
} from '../../orchestrator/uml/rig.ts';

const linuxRoot = process.platform === 'linux' && process.getuid?.() === 0;
const STALL_MS = 2000;
/** How long a guest may take for its whole pattern (the test's timeout is a minute more). */
const GUEST_DEADLINE_MS = 180_000;
const ID = `t${process.pid.toString(36)}`;
const EXPECTED_IF = { vector: 'vec0', legacy: 'eth0' } as const;

let rig: UmlRig | undefined;
afterEach(async () => {
  await rig?.close();
});

describe.skipIf(!linuxRoot)('a UML guest swapping to C over NBD', () => {
  it.each(UML_NICS)(
    '%s NIC: finds every page intact after C was stalled and healed twice, and leaves nothing behind',
    async (nic) => {
      expect(umlUnavailable()).toBeUndefined();
      const events: GuestEvent[] = [];
      const consoleTail: string[] = [];
      const stalls: string[] = [];
      let stalling: Promise<void> = Promise.resolve();
      let verified: (e: GuestEvent) => void = () => {};
      const done = new Promise<GuestEvent>((resolve) => (verified = resolve));
      const stall = (phase: string): void => {
        stalls.push(phase);
        stalling = (async () => {
          await rig?.control('fault', { mode: 'stall' });
          await new Promise((r) => setTimeout(r, STALL_MS));
          await rig?.control('heal', {});
        })();
      };
      rig = await startUmlRig({
        id: ID,
        memMiB: 64,
        swapMiB: 256,
        transport: 'tcp',
        nic,
        program: 'pattern',
        hogMiB: 96,
        agentMs: 0,
        onEvent: (e) => {
          events.push(e);
          // Once per phase, half-way through (progress comes every tenth of the pages).
          const half = typeof e.pages === 'number' && e.pages >= 96 * 128;
          if (e.event === 'hog' && half && (e.phase === 'write' || e.phase === 'verify')) {
            if (!stalls.includes(e.phase)) stall(e.phase);
          }
          if (e.event === 'hog' && e.phase === 'verified') verified(e);
          if (e.event === 'error' || e.event === 'done') verified(e);
        },
        onConsole: (l) => {
          consoleTail.push(l);
          if (consoleTail.length > 60) consoleTail.shift();
        },
      });
      // A guest that stops making progress fails here with its console and last events,
      // before the test's own timeout would fail it with neither (it took 72 s in CI, and
      // once more than 120 s through the vector NIC with nothing to show why).
      let deadline: NodeJS.Timeout | undefined;
      const result = await Promise.race([
        done,
        rig.guestExited.then((code) => ({ event: 'exited', code }) as GuestEvent),
        new Promise<GuestEvent>((resolve) => {
          deadline = setTimeout(
            () => resolve({ event: 'no-progress', last: events.slice(-3) }),
            GUEST_DEADLINE_MS,
          );
        }),
      ]);
      clearTimeout(deadline);
      await stalling;
      expect(result, consoleTail.join('\n')).toMatchObject({
        event: 'hog',
        phase: 'verified',
        pages: 96 * 256,
        bad: 0,
      });
      expect(stalls).toEqual(['write', 'verify']);
      const status = (await rig.cStatus()) as {
        readonly writes: number;
        readonly fault: { readonly active: unknown };
      };
      expect(status.fault.active).toBeNull();
      const boot = events.find((e) => e.event === 'boot');
      expect(String(boot?.kernel)).toMatch(/^6\./);
      expect(boot?.nic).toBe(EXPECTED_IF[nic]);
      await rig.guestExited;
      await rig.close();
      expect(umlLeftovers(ID)).toEqual({ namespace: false, guests: 0 });
      expect(rig.c.exitCode !== null || rig.c.signalCode !== null).toBe(true);
    },
    GUEST_DEADLINE_MS + 60_000,
  );
});
