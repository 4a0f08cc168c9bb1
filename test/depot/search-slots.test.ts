// The slots the depot's searches wait for (src/depot/search/slots.ts): how many hold one, the
// order in which waiting tasks get theirs, the bound on waiting tasks and the longest wait.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NoSlot, Slots } from '../../src/depot/search/slots';

/** Whether `p` has settled once the tasks already queued have run. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((r) => setImmediate(r));
  return done;
}

describe('search slots', () => {
  it('at most `limit` hold a slot; the others get theirs in order of arrival as slots are given back', async () => {
    const slots = new Slots(2);
    const first = await slots.acquire();
    const second = await slots.acquire();
    const order: number[] = [];
    const waiting = [3, 4, 5].map((n) => slots.acquire().then((release) => (order.push(n), release)));
    assert.equal(await settled(waiting[0]!), false, 'a third task got a slot while two were held');
    first();
    const third = await waiting[0]!;
    assert.deepEqual(order, [3]);
    assert.equal(await settled(waiting[1]!), false);
    second();
    third();
    await Promise.all(waiting).then((releases) => releases.forEach((r) => r()));
    assert.deepEqual(order, [3, 4, 5]);
  });

  it('a slot given back passes to the task waiting, not to one that arrives after', async () => {
    const slots = new Slots(1);
    const held = await slots.acquire();
    const waiter = slots.acquire();
    held();
    const late = slots.acquire();
    assert.equal(await settled(late), false, 'a task that arrived after the waiting one took the slot');
    (await waiter)();
    assert.equal(await settled(late), true);
    (await late)();
  });

  it('giving a slot back twice gives back one slot', async () => {
    const slots = new Slots(1);
    const held = await slots.acquire();
    const waiters = [slots.acquire(), slots.acquire()];
    held();
    held();
    assert.equal(await settled(waiters[0]!), true);
    assert.equal(await settled(waiters[1]!), false, 'a second release let two tasks hold one slot');
    (await waiters[0]!)();
    (await waiters[1]!)();
  });

  it('refuses at once a task beyond the bound on waiting ones', async () => {
    const slots = new Slots(1, { maxWaiting: 2 });
    const held = await slots.acquire();
    const waiters = [slots.acquire(), slots.acquire()];
    await assert.rejects(slots.acquire(), (err: unknown) => err instanceof NoSlot && err.why === 'queue full');
    held();
    for (const w of waiters) (await w)();
  });

  it('refuses a task that waited longer than the longest wait, and its place in line goes to the next', async () => {
    const slots = new Slots(1, { maxWaiting: 1, waitMs: 100 });
    const held = await slots.acquire();
    const t0 = Date.now();
    await assert.rejects(slots.acquire(), (err: unknown) => err instanceof NoSlot && err.why === 'timed out');
    assert.ok(Date.now() - t0 >= 95, `refused after ${Date.now() - t0} ms`);
    // The line is empty again: one more may wait, and gets the slot when it is given back.
    const next = slots.acquire();
    held();
    (await next)();
  });
});
