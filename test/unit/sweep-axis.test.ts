// Sweep axes: lists and ranges, integer knobs rounded and deduplicated, every value
// checked against the knob's schema, errors naming the flag and the text.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../reserve/errors.ts';
import { midpoint, parseAxis, valueText } from '../../orchestrator/sweep/axis.ts';
import { parseValue } from '../../nodes/knobs.ts';

function error(flag: string, text: string): ConfigError {
  try {
    parseAxis(flag, text);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`parseAxis(${flag}, ${text}) did not throw`);
}

describe('parseAxis', () => {
  it('reads a list', () => {
    expect(parseAxis('--x', 'flood.connections=0,16,64')).toEqual({
      knob: 'flood.connections',
      values: [0, 16, 64],
      log: false,
    });
  });

  it('spaces a log range geometrically and rounds an integer knob', () => {
    const a = parseAxis('--x', 'flood.connections=8..1024:6:log');
    expect(a.values).toEqual([8, 21, 56, 147, 388, 1024]);
    expect(a.log).toBe(true);
  });

  it('spaces a linear range evenly, both ends included, without float noise', () => {
    expect(parseAxis('--y', 'service.coldTouchRatio=0..1:5').values).toEqual([
      0, 0.25, 0.5, 0.75, 1,
    ]);
    expect(parseAxis('--y', 'fault.lossRate=0..0.3:4').values).toEqual([0, 0.1, 0.2, 0.3]);
  });

  it('deduplicates integer values that round alike', () => {
    expect(parseAxis('--x', 'flood.connections=0..3:7').values).toEqual([0, 1, 2, 3]);
    expect(parseAxis('--x', 'flood.connections=4,4,8').values).toEqual([4, 8]);
  });

  it('takes the words, booleans, nulls and tuples a knob takes', () => {
    expect(parseAxis('--x', 'era=2.6,3.6,modern').values).toEqual(['2.6', '3.6', 'modern']);
    expect(parseAxis('--x', 'flood.ignoreWindow=false,true').values).toEqual([false, true]);
    expect(parseAxis('--x', 'vm.minFreeKbytes=null,8192').values).toEqual([null, 8192]);
    expect(parseAxis('--x', 'net.tcpMem=[10,20,30],[40,50,60]').values).toEqual([
      [10, 20, 30],
      [40, 50, 60],
    ]);
  });

  it.each([
    ['--x', 'no.suchKnob=1,2', /--x: "no.suchKnob" is not a knob/],
    [
      '--x',
      'flood.connections=0,200000',
      /--x: "flood.connections=0,200000": 200000 is not accepted/,
    ],
    ['--y', 'fault.lossRate=0..2:3', /--y: .*2 is not accepted/],
    ['--x', 'flood.connections=8..1024', /--x: .*needs its number of values/],
    ['--x', 'flood.connections=8..1024:x', /--x: .*not a range/],
    ['--x', 'flood.connections=64..8:3', /--x: .*must go up/],
    ['--x', 'flood.connections=0..64:4:log', /--x: .*log range must start above 0/],
    ['--x', 'flood.connections=1..9:1', /--x: .*1 values/],
    ['--x', 'flood.connections', /--x: "flood.connections": expected KNOB=VALUES/],
    ['--x', 'flood.connections=', /--x: .*no values/],
    ['--x', 'flood.connections=1,,2', /--x: .*an empty value/],
    ['--x', 'era=1..2:2', /--x: .*era is not a number/],
    ['--x', 'era=2.6,2.4', /--x: .*2.4 is not accepted/],
  ])('%s %s is refused, naming the flag and the value', (flag, text, message) => {
    const err = error(flag, text);
    expect(err.field).toBe(flag);
    expect(err.message).toMatch(message);
  });
});

describe('axis values', () => {
  it('print as --set text that reads back to the same value', () => {
    for (const [key, v] of [
      ['flood.connections', 16],
      ['fault.lossRate', 0.1],
      ['era', '2.6'],
      ['flood.ignoreWindow', true],
      ['vm.minFreeKbytes', null],
      ['net.tcpMem', [1, 2, 3]],
    ] as const) {
      expect(parseValue(key, valueText(v))).toEqual(v);
    }
  });

  it('bisect arithmetically, geometrically on a log axis, to whole numbers on an integer knob', () => {
    expect(midpoint(parseAxis('--x', 'flood.connections=0,64'), 16, 64)).toBe(40);
    expect(midpoint(parseAxis('--x', 'flood.connections=8..1024:3:log'), 8, 32)).toBe(16);
    expect(midpoint(parseAxis('--x', 'fault.durationSeconds=1,2'), 1, 2)).toBe(1.5);
  });
});
