// A sweep worker thread: loads the job runner module named in workerData (TypeScript,
// through tsx, as bin.mjs does for the CLI), says it is ready, then runs one job at a
// time as the pool sends them and answers with the outcome or the error. An `abort`
// message aborts the job in hand (the real engine stops its processes).
import { parentPort, workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const { runJob } = await import(workerData.module);
let controller;

parentPort.on('message', async (msg) => {
  if (msg.type === 'abort') {
    controller?.abort();
    return;
  }
  if (msg.type !== 'run') return;
  controller = new AbortController();
  try {
    const outcome = await runJob(msg.job, controller.signal);
    parentPort.postMessage({ type: 'done', id: msg.id, outcome });
  } catch (err) {
    parentPort.postMessage({
      type: 'failed',
      id: msg.id,
      error: {
        name: err?.name ?? 'Error',
        code: err?.code,
        message: err?.message ?? String(err),
        aborted: controller.signal.aborted,
      },
    });
  } finally {
    controller = undefined;
  }
});
parentPort.postMessage({ type: 'ready' });
