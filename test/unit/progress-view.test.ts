// The live progress: the one-line summary of A's status (progressLine) and the view that
// redraws it in place on a terminal, or prints plain lines otherwise (NO_COLOR, a pipe).
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { progressView } from '../../orchestrator/progress-view.ts';
import { progressLine, type ProgressStatus } from '../../orchestrator/runner.ts';

/** A minimal status of machine A: only what the progress line reads is meaningful. */
function status(drops: Record<string, Record<string, number>> = {}): ProgressStatus {
  return {
    memory: {
      pages: { free: 300 },
      watermarks: { min: 512 },
      reserve: { usedPages: 3 },
    },
    swap: { completed: 10, pending: 5 },
    rx: { drops },
  };
}

describe('progressLine', () => {
  it('shows time, phase, free vs min, the reserve, writeout and the drops that happened', () => {
    const line = progressLine(
      7.4,
      'fault',
      status({
        pfmemalloc: { swap: 1, service: 3 },
        nomem: { service: 2 },
        proto_mem: { service: 0 },
        other: { service: 9 },
      }),
    );
    expect(line).toBe(
      '  7s  fault      free 300/min 512  reserve 3  writeout 5 pending 10 done  drops pfmemalloc=4 nomem=2',
    );
  });

  it('says "no drops" when nothing was dropped', () => {
    expect(progressLine(12, 'flood', status())).toBe(
      ' 12s  flood      free 300/min 512  reserve 3  writeout 5 pending 10 done  no drops',
    );
  });

  it('says when machine A is not answering', () => {
    expect(progressLine(3, 'warm-up', undefined)).toBe('  3s warm-up   (machine A not answering)');
  });
});

/** A PassThrough to write to; `text()` ends it and resolves with everything written. */
function capture(): { stream: PassThrough; text: () => Promise<string> } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return {
    stream,
    text: async () => {
      stream.end();
      await once(stream, 'end');
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

/** Two progress lines, a note between them, then done. */
function session(tty: boolean, env: NodeJS.ProcessEnv): Promise<string> {
  const out = capture();
  const view = progressView(out.stream, tty, env, '[1/2] ');
  view.line('one');
  view.line('two');
  view.note('event');
  view.line('three');
  view.done();
  return out.text();
}

describe('progressView', () => {
  it('on a terminal without NO_COLOR redraws one line with \\r\\x1b[2K', async () => {
    expect(await session(true, {})).toBe(
      '\r\x1b[2K[1/2] one' +
        '\r\x1b[2K[1/2] two' +
        '\r\x1b[2K[1/2] event\n' +
        '\r\x1b[2K[1/2] three' +
        '\n',
    );
  });

  it('an empty NO_COLOR does not count (no-color.org: present and not empty)', async () => {
    expect(await session(true, { NO_COLOR: '' })).toBe(await session(true, {}));
  });

  it('with NO_COLOR prints plain lines, even on a terminal', async () => {
    const text = await session(true, { NO_COLOR: '1' });
    expect(text).toBe('[1/2] one\n[1/2] two\n[1/2] event\n[1/2] three\n');
    expect(text).not.toContain('\x1b');
    expect(text).not.toContain('\r');
  });

  it('not on a terminal prints plain lines', async () => {
    expect(await session(false, {})).toBe('[1/2] one\n[1/2] two\n[1/2] event\n[1/2] three\n');
  });

  it('a note or done with no line drawn writes no escape and no empty line', async () => {
    const out = capture();
    const view = progressView(out.stream, true, {});
    view.note('starting');
    view.done();
    expect(await out.text()).toBe('starting\n');
  });
});
