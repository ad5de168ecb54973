// Machine B's process shell: the flooder (nodes/machines/machine-b.ts) on real sockets,
// its metrics read from the machine at scrape time, and its fault control.
import { invariant } from '../reserve/errors.ts';
import { faultControl } from './fault-control.ts';
import { startMachineB } from './machines/machine-b.ts';
import { counterFn, gaugeFn } from './metrics.ts';
import { machineContext, type NodeRuntime, type RunningNode } from './node-shell.ts';

export {
  floodSndbufBytes,
  rateLimit,
  RECONNECT_MAX_MS,
  RECONNECT_MIN_MS,
  type FloodConnectionStatus,
  type FloodStatus,
} from './machines/machine-b.ts';

/** Starts B against --peer (A's service); resolves at once, B keeps trying to connect. */
export async function startB(rt: NodeRuntime): Promise<RunningNode> {
  const { args, registry } = rt;
  invariant(args.peer !== null, 'node b needs --peer (parseNodeArgs requires it)');
  const b = startMachineB(machineContext(rt), { peer: args.peer });
  rt.adoptGate(b.gate);
  const c = (): ReturnType<typeof b.counters> => b.counters();
  counterFn(registry, 'swapnet_flood_frames_sent_total', 'New data frames B sent to A', [], (set) =>
    set({}, c().framesSent),
  );
  counterFn(
    registry,
    'swapnet_flood_retransmits_total',
    'Data frames B sent again (timeout or fast retransmit)',
    [],
    (set) => set({}, c().retransmits),
  );
  counterFn(
    registry,
    'swapnet_flood_rto_fires_total',
    "Retransmission timeouts on B's flows",
    [],
    (set) => set({}, c().rtoFires),
  );
  counterFn(
    registry,
    'swapnet_flood_bytes_acked_total',
    "Payload bytes A acknowledged on B's flows",
    [],
    (set) => set({}, c().bytesAcked),
  );
  counterFn(
    registry,
    'swapnet_flood_reconnects_total',
    'Connection attempts B made after a connection failed or closed',
    [],
    (set) => set({}, c().reconnects),
  );
  counterFn(
    registry,
    'swapnet_flood_disconnects_total',
    "B's connections that failed or closed, by reason",
    ['reason'],
    (set) => {
      for (const [reason, n] of c().disconnects) set({ reason }, n);
    },
  );
  gaugeFn(registry, 'swapnet_flood_connections', "B's connections to A open now", [], (set) =>
    set({}, c().open),
  );
  gaugeFn(
    registry,
    'swapnet_flood_bytes_in_flight',
    'Bytes B sent and A has not acknowledged yet',
    [],
    (set) => set({}, c().bytesInFlight),
  );
  return {
    listen: {},
    healthy: () => b.healthy(),
    status: () => b.status(),
    control: faultControl(b.gate),
    stop: () => b.stop(),
  };
}
