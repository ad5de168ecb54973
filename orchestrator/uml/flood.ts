// Machine B for the uml engine: plain TCP connections to the guest's service, run inside
// the rig's namespace. The guest's service is a real program reading a real kernel's
// sockets, so B speaks no swapnet frames here: the kernels' TCP does the windows and the
// retransmissions. It keeps `connections` connections, writes `payload`-byte messages
// round robin at `rate` a second in all (0: as fast as the windows allow), and keeps at
// most QUEUE_TARGET messages queued in user space per connection (like the model's B,
// which stops making messages for a flow whose window is closed). A connection that fails
// is reopened after a back-off doubling from 100 ms to 5 s. Every 250 ms it prints
// {"framesSent","open"} on stdout; it exits when its stdin closes (its parent is gone).
// Usage: flood.ts HOST PORT CONNECTIONS RATE PAYLOAD_BYTES
import { connect, type Socket } from 'node:net';

const QUEUE_TARGET = 32;
const TICK_MS = 10;

const [host, portArg, connArg, rateArg, payloadArg] = process.argv.slice(2);
const port = Number(portArg);
const connections = Number(connArg);
const rate = Number(rateArg);
const payloadBytes = Number(payloadArg);
for (const [name, v] of [
  ['PORT', port],
  ['CONNECTIONS', connections],
  ['RATE', rate],
  ['PAYLOAD_BYTES', payloadBytes],
] as const) {
  if (!Number.isInteger(v) || v < 0) {
    process.stderr.write(`flood: ${name} must be a whole number >= 0, not ${String(v)}\n`);
    process.exit(2);
  }
}
if (!host || payloadBytes < 1) {
  process.stderr.write('usage: flood.ts HOST PORT CONNECTIONS RATE PAYLOAD_BYTES\n');
  process.exit(2);
}

const payload = Buffer.alloc(payloadBytes, 0x5a);
const queueBytes = QUEUE_TARGET * payloadBytes;
let framesSent = 0;
const slots: (Socket | undefined)[] = new Array<Socket | undefined>(connections);
const failures: number[] = new Array<number>(connections).fill(0);
const open = new Set<number>();

function openSlot(i: number): void {
  const s = connect({ host, port });
  s.setNoDelay(true);
  slots[i] = s;
  s.once('connect', () => {
    open.add(i);
    failures[i] = 0;
  });
  s.on('data', () => {}); // the service answers nothing; anything it sends is dropped
  s.on('error', () => {});
  s.once('close', () => {
    open.delete(i);
    slots[i] = undefined;
    const delay = Math.min(5000, 100 * 2 ** Math.min(failures[i] ?? 0, 6));
    failures[i] = (failures[i] ?? 0) + 1;
    setTimeout(() => openSlot(i), delay).unref();
  });
}

/** Writes up to `budget` messages round robin to connections with room; returns how many. */
let cursor = 0;
function send(budget: number): number {
  let sent = 0;
  let idle = 0;
  while (sent < budget && idle < connections) {
    const i = cursor;
    cursor = (cursor + 1) % connections;
    const s = slots[i];
    if (!s || !open.has(i) || s.writableLength >= queueBytes) {
      idle++;
      continue;
    }
    idle = 0;
    s.write(payload);
    sent++;
  }
  framesSent += sent;
  return sent;
}

for (let i = 0; i < connections; i++) openSlot(i);
let credit = 0;
setInterval(() => {
  if (rate > 0) {
    credit = Math.min(credit + (rate * TICK_MS) / 1000, Math.max(1, rate / 10));
    credit -= send(Math.floor(credit));
  } else {
    send(connections * QUEUE_TARGET);
  }
}, TICK_MS);
setInterval(() => {
  process.stdout.write(`${JSON.stringify({ framesSent, open: open.size })}\n`);
}, 250);
process.stdin.resume();
process.stdin.once('close', () => process.exit(0));
process.once('SIGTERM', () => process.exit(0));
