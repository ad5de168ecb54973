// Machine C's process shell: opens the swap store file, starts the machine
// (nodes/machines/machine-c.ts) on real sockets, and exports its metrics. A WRITE is
// confirmed only once its record is in the file, so every confirmed page survives C
// being killed.
import { ConfigError } from '../reserve/errors.ts';
import { faultControl } from './fault-control.ts';
import { deviceSlots, MachineC } from './machines/machine-c.ts';
import { counterFn, gaugeFn } from './metrics.ts';
import { startNbdServer } from './nbd-server.ts';
import { machineContext, type NodeRuntime, type RunningNode } from './node-shell.ts';
import { SwapStore } from './swap-store.ts';

export { C_WINDOW_BYTES, deviceSlots } from './machines/machine-c.ts';

/**
 * Starts C: opens the store at `--store` (a device of deviceSlots() pages), listens for
 * A's connections on `--listen`, registers C's metrics. Rejects (and closes the store)
 * when the store cannot be opened or the port cannot be bound. stop() closes the
 * listener and every connection, then the store once pending writes are in the file.
 */
export async function startC(rt: NodeRuntime): Promise<RunningNode> {
  const { args, log, registry } = rt;
  if (args.store === null) throw new ConfigError('--store', 'required for node c');
  const slots = deviceSlots(args.knobs);
  const { store, info } = await SwapStore.open(args.store, slots);
  log.info(
    { path: store.path, slots, pages: store.pages, corrupt: info.corrupt },
    'swap store open',
  );
  if (info.beyondDevice > 0) {
    log.warn(
      { beyondDevice: info.beyondDevice },
      'the store file is larger than the device: records beyond it are ignored',
    );
  }
  const c = await MachineC.start(machineContext(rt), store, { listen: args.listen }).catch(
    async (err: unknown) => {
      await store.close();
      throw err;
    },
  );
  rt.adoptGate(c.gate);
  const nbd = args.nbdListen
    ? await startNbdServer({
        listen: args.nbdListen,
        store,
        gate: c.gate,
        scheduler: rt.scheduler,
        log,
      }).catch(async (err: unknown) => {
        await c.stop();
        throw err;
      })
    : null;
  nbd?.register(registry);
  const stats = c.stats;
  gaugeFn(registry, 'swapnet_store_pages', 'Pages stored in the swap store', [], (set) =>
    set({}, store.pages),
  );
  gaugeFn(registry, 'swapnet_store_slots', 'Size of the swap device in pages', [], (set) =>
    set({}, store.slots),
  );
  gaugeFn(
    registry,
    'swapnet_store_corrupt_pages',
    'Stored records that failed their check',
    [],
    (set) => set({}, store.corrupt),
  );
  counterFn(
    registry,
    'swapnet_store_writes_total',
    'Pages written to the store and confirmed',
    [],
    (set) => set({}, stats.writes),
  );
  counterFn(
    registry,
    'swapnet_store_reads_total',
    'Pages read from the store and returned',
    [],
    (set) => set({}, stats.reads),
  );
  counterFn(
    registry,
    'swapnet_store_refused_total',
    'Swap requests answered without success, by reason',
    ['reason'],
    (set) => {
      for (const [reason, n] of Object.entries(stats.refused)) set({ reason }, n);
    },
  );
  counterFn(
    registry,
    'swapnet_swap_messages_malformed_total',
    'Swap messages that could not be decoded (not answered)',
    [],
    (set) => set({}, stats.malformed),
  );

  return {
    listen: { ...c.listen, ...(nbd ? { nbd: { host: nbd.host, port: nbd.port } } : {}) },
    healthy: () => c.healthy(),
    sockets: () => c.sockets(),
    status: () => c.status(),
    control: faultControl(c.gate),
    stop: async () => {
      await nbd?.close();
      await c.stop();
    },
  };
}
