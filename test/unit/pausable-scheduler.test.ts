// The pausable view of a shared scheduler (what SIGSTOP does to a machine in the
// simulation): callbacks that come due while paused are held and run at resume, in the
// order they came due, after the caller; a cancel works while held; time goes on.
import { describe, expect, it } from 'vitest';
import { PausableScheduler } from '../../reserve/pausable-scheduler.ts';
import { virtualScheduler } from '../helpers/virtual-time.ts';

describe('PausableScheduler', () => {
  it('holds what comes due while paused and runs it at resume, in the order it came due', async () => {
    const root = virtualScheduler();
    const view = new PausableScheduler(root);
    const ran: string[] = [];
    view.schedule(30, () => ran.push('c@30'));
    view.schedule(10, () => ran.push('a@10'));
    view.schedule(20, () => ran.push('b@20'));
    view.schedule(500, () => ran.push(`late@${root.now()}`));
    // The rest of the world goes on.
    root.schedule(15, () => ran.push('other@15'));
    view.pause();
    expect(view.isPaused).toBe(true);
    await root.runFor(100);
    expect(ran).toEqual(['other@15']);
    expect(view.now()).toBe(100);
    view.resume();
    ran.push('after resume()');
    await root.runFor(0);
    expect(ran).toEqual(['other@15', 'after resume()', 'a@10', 'b@20', 'c@30']);
    // What was not due yet runs at its own time.
    await root.runFor(500);
    expect(ran.at(-1)).toBe('late@500');
  });

  it('a callback cancelled while held never runs', async () => {
    const root = virtualScheduler();
    const view = new PausableScheduler(root);
    const ran: string[] = [];
    const a = view.schedule(10, () => ran.push('a'));
    view.schedule(20, () => ran.push('b'));
    view.pause();
    await root.runFor(50);
    a.cancel();
    view.resume();
    await root.runFor(10);
    expect(ran).toEqual(['b']);
  });

  it('callbacks scheduled while paused are held too; a second resume does nothing more', async () => {
    const root = virtualScheduler();
    const view = new PausableScheduler(root);
    const ran: number[] = [];
    view.pause();
    view.schedule(0, () => ran.push(1));
    view.schedule(5, () => ran.push(2));
    await root.runFor(10);
    expect(ran).toEqual([]);
    view.resume();
    view.resume();
    await root.runFor(10);
    expect(ran).toEqual([1, 2]);
    expect(view.isPaused).toBe(false);
  });

  it('work deferred while paused is held until resume, like any callback', async () => {
    const root = virtualScheduler();
    const view = new PausableScheduler(root);
    const ran: string[] = [];
    view.pause();
    view.defer(() => ran.push('deferred'));
    await root.runFor(50);
    expect(ran).toEqual([]);
    view.resume();
    await root.runFor(0);
    expect(ran).toEqual(['deferred']);
  });
});
