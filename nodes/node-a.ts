// Machine A's process shell: the machine (nodes/machines/machine-a.ts) on real sockets,
// its metrics on the node's registry, and its control actions (start/stop a workload,
// fault/heal) behind the token. Everything else is the machine's.
import { z } from 'zod';
import { faultControl } from './fault-control.ts';
import { ControlError } from './http-server.ts';
import { MachineA } from './machines/machine-a.ts';
import { registerAMetrics } from './metrics-a.ts';
import { machineContext, type NodeRuntime, type RunningNode } from './node-shell.ts';

const WorkloadRequest = z.strictObject({ workload: z.enum(['hog', 'reader']) });

export async function startA(rt: NodeRuntime): Promise<RunningNode> {
  const { args } = rt;
  if (!args.peer) throw new Error('node a needs --peer (C)');
  const a = await MachineA.start(machineContext(rt), {
    listen: args.listen,
    peer: args.peer,
    workloads: args.workloads,
  });
  rt.adoptGate(a.gate);
  const duration = registerAMetrics(rt.registry, {
    model: a.model,
    stack: a.stack,
    driver: a.driver,
    workloads: a.workloads,
    lastCompletionMs: () => (a.lastCompletionMs === 0 ? 0 : rt.wallMs(a.lastCompletionMs)),
  });
  a.onWriteCompleted = (seconds) => duration.observe(seconds);

  const gateControl = faultControl(a.gate);
  const control = async (action: string, body: unknown): Promise<unknown> => {
    if (action !== 'start' && action !== 'stop') return gateControl(action, body);
    const r = WorkloadRequest.safeParse(body);
    if (!r.success)
      throw new ControlError(
        400,
        `workload: expected "hog" or "reader", got ${JSON.stringify((body as { workload?: unknown })?.workload)}`,
      );
    if (action === 'start') a.startWorkload(r.data.workload);
    else a.stopWorkload(r.data.workload);
    return { workloads: a.startedWorkloads };
  };

  return {
    listen: a.listen,
    healthy: () => a.healthy(),
    sockets: () => a.sockets(),
    status: () => a.status(),
    control,
    stop: () => a.stop(),
  };
}
