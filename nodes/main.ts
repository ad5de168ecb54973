// Entry point of a node process: `node --import tsx nodes/main.ts --role a|b|c ...`.
import { runNode } from './node-shell.ts';

await runNode(process.argv.slice(2), process.env, async (rt) => {
  switch (rt.args.role) {
    case 'a':
      return (await import('./node-a.ts')).startA(rt);
    case 'b':
      return (await import('./node-b.ts')).startB(rt);
    case 'c':
      return (await import('./node-c.ts')).startC(rt);
  }
});
