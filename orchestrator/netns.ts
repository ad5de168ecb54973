// The `netns` fault: machine C in a network namespace of its own, joined to the host by
// a veth pair on a private /30, so that a partition is a real link going down (the
// kernel's TCP sees it, not swapnet's frames). Linux, root and iproute2 only; every
// name derives from the topology id so that `swapnet down` can remove what is left.
import { execFileSync } from 'node:child_process';
import { ConfigError } from '../reserve/errors.ts';

export interface NetnsLink {
  /** The namespace C runs in. */
  readonly namespace: string;
  /** The veth end left in the host namespace (what a partition takes down). */
  readonly hostVeth: string;
  readonly nsVeth: string;
  readonly hostAddress: string;
  /** C's address inside its namespace. */
  readonly nsAddress: string;
}

/** Why netns cannot work here, or undefined when it can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'the netns fault needs Linux';
  if (process.getuid?.() !== 0)
    return 'the netns fault needs root (network namespaces and veth pairs)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'the netns fault needs iproute2 (the ip command)';
  }
  return undefined;
}

function ip(args: readonly string[]): void {
  execFileSync('ip', [...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** The names and addresses for topology `id` (12 hex digits). */
export function netnsNames(id: string): NetnsLink {
  const short = id.slice(0, 6);
  // 10.200-249.x.y/30, spread by the id so that topologies side by side do not collide.
  const n = Number.parseInt(id.slice(0, 8), 16);
  const second = 200 + (n % 50);
  const third = (n >>> 8) & 0xff;
  const fourth = ((n >>> 16) & 0x3f) * 4;
  return {
    namespace: `swapnet-${short}`,
    hostVeth: `swh${short}`,
    nsVeth: `swc${short}`,
    hostAddress: `10.${second}.${third}.${fourth + 1}`,
    nsAddress: `10.${second}.${third}.${fourth + 2}`,
  };
}

/** Creates the namespace and the veth pair, both ends up; throws ConfigError naming fault.mode. */
export function createNetns(id: string): NetnsLink {
  const why = netnsUnavailable();
  if (why) throw new ConfigError('fault.mode', why);
  const l = netnsNames(id);
  removeNetns(l);
  try {
    ip(['netns', 'add', l.namespace]);
    ip(['link', 'add', l.hostVeth, 'type', 'veth', 'peer', 'name', l.nsVeth]);
    ip(['link', 'set', l.nsVeth, 'netns', l.namespace]);
    ip(['addr', 'add', `${l.hostAddress}/30`, 'dev', l.hostVeth]);
    ip(['link', 'set', l.hostVeth, 'up']);
    ip(['-n', l.namespace, 'addr', 'add', `${l.nsAddress}/30`, 'dev', l.nsVeth]);
    ip(['-n', l.namespace, 'link', 'set', l.nsVeth, 'up']);
    ip(['-n', l.namespace, 'link', 'set', 'lo', 'up']);
  } catch (err) {
    removeNetns(l);
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new ConfigError(
      'fault.mode',
      `could not set up the network namespace: ${stderr || (err as Error).message}`,
    );
  }
  return l;
}

/** Takes the host end of the link down (partition) or up (heal). */
export function setNetnsLink(l: NetnsLink, up: boolean): void {
  ip(['link', 'set', l.hostVeth, up ? 'up' : 'down']);
}

/** Removes the veth pair and the namespace; quiet when they do not exist. */
export function removeNetns(l: Pick<NetnsLink, 'namespace' | 'hostVeth'>): void {
  for (const args of [
    ['link', 'del', l.hostVeth],
    ['netns', 'del', l.namespace],
  ]) {
    try {
      ip(args);
    } catch {
      /* already gone */
    }
  }
}
