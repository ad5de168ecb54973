import { spawn } from 'node:child_process';
import { startUmlRig, type GuestEvent } from './rig.ts';
const transport = (process.argv[2] ?? 'tcp') as 'tcp' | 'relay';
const nic = (process.argv[3] ?? 'vector') as 'vector' | 'legacy';
const t0 = Date.now(); const T = () => ((Date.now() - t0) / 1000).toFixed(1);
let svc: any = {}; let sample: any = {}; let listening!: () => void; const ready = new Promise<void>((r) => (listening = r));
const tail: string[] = [];
const rig = await startUmlRig({ id: 'x' + process.pid.toString(36), memMiB: 128, swapMiB: 512, transport, nic, program: 'service', hogMiB: 120, agentMs: 500,
  onEvent: (e: GuestEvent) => { if (e.event === 'service') { svc = e; if (e.phase === 'listening') listening(); } else if (e.event === 'sample') sample = e; else if (e.event !== 'hog') console.log(T(), JSON.stringify(e)); },
  onConsole: (l) => { tail.push(l); if (tail.length > 30) tail.shift(); if (/page allocation failure|Out of memory|blocked for more/.test(l)) console.log(T(), 'CONSOLE', l.slice(0, 160)); } });
const flood = `const net=require('net');const buf=Buffer.alloc(4096,7);let sent=0;const socks=[];for(let i=0;i<64;i++){const s=net.connect(7000,'192.0.2.2');s.on('error',()=>{});socks.push(s);}
setInterval(()=>{for(let k=0;k<20;k++){const s=socks[(sent++)%64]; if(s.writableLength<256*1024) s.write(buf);}},10);`;
let fl: any;
const show = (w: string) => console.log(T(), w, 'svc', svc.messages, 'conns', svc.connections, 'free', sample.nr_free_pages, 'min', sample.wmarkMin, 'wb', sample.nr_writeback, 'out', sample.pswpout, 'in', sample.pswpin, 'PFMemDrop', sample.PFMemallocDrop, 'RcvQDrop', sample.TCPRcvQDrop, 'tcpMem', sample.tcpMemPages, 'oom', sample.oom_kill);
try {
  await Promise.race([ready, new Promise((_, j) => setTimeout(() => j(new Error('no service')), 90000))]);
  show('service up');
  await new Promise((r) => setTimeout(r, 6000)); show('before flood');
  fl = spawn('ip', ['netns', 'exec', rig.namespace, process.execPath, '-e', flood], { stdio: 'ignore' });
  for (let i = 0; i < 6; i++) { await new Promise((r) => setTimeout(r, 1000)); show('flood'); }
  await rig.control('fault', { mode: 'stall' }); show('FAULT');
  for (let i = 0; i < 8; i++) { await new Promise((r) => setTimeout(r, 1000)); show('stalled'); }
  await rig.control('heal', {}); show('HEAL');
  for (let i = 0; i < 12; i++) { await new Promise((r) => setTimeout(r, 1000)); show('after'); }
} catch (e) { console.log('error', e, tail.join('\n')); }
fl?.kill('SIGKILL');
await rig.close();
console.log('closed');
