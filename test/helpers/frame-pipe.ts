// Wires a PeerStack to one end of a link: encode on the way out, decode on the way in,
// flush ACKs after each received chunk. No HELLO: for transport tests.
import { FrameDecoder } from '../../netstack/frame-decoder.ts';
import { encodeFrame } from '../../netstack/frame.ts';
import type { Link } from '../../netstack/link.ts';
import { PeerStack, type PeerStackOptions } from '../../netstack/peer-stack.ts';

export function stackOn(link: Link, options: Omit<PeerStackOptions, 'transmit'>): PeerStack {
  const stack = new PeerStack({ ...options, transmit: (f) => link.write(encodeFrame(f)) });
  const decoder = new FrameDecoder();
  link.onData = (chunk) => {
    decoder.push(chunk);
    for (let f = decoder.next(); f; f = decoder.next()) stack.handleFrame(f);
    stack.flushAcks();
  };
  link.onDrain = () => stack.pumpAll();
  return stack;
}
