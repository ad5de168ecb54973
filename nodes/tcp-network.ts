// The real network for a machine: node:net through netstack/tcp-link.ts.
import { connectTcp, listenTcp } from '../netstack/tcp-link.ts';
import type { Network } from './machines/network.ts';

export const tcpNetwork: Network = {
  connect: (host, port) => connectTcp(host, port),
  listen: (host, port, onLink) => listenTcp(host, port, onLink),
};
