// `isinit --status` shows every group of the isinittab, switched or not, with its entries.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { harnessPerTest } from './harness';

const TAB = `web:w:2:respawn:sleep 3151
web:check:2:test:/bin/true
db:d:23:respawn:sleep 3152
`;

describe('isinit --status', () => {
  const harness = harnessPerTest();

  it('lists the groups never switched, with "(none yet)" and their entries, beside the switched ones', async () => {
    const h = harness(TAB);
    await h.start();
    assert.equal((await h.tell('web', '2')).ok, true);
    const json = await h.status();
    assert.deepEqual(json.groups?.map((g) => [g.group, g.level, g.state]), [['web', '2', 'run'], ['db', null, 'stopped']]);
    assert.deepEqual(
      json.entries?.filter((e) => e.group === 'db').map((e) => [e.tag, e.state, e.pid]),
      [['d', 'stopped', null]],
    );
    const text = await h.isinit(['--status']);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.split('\n');
    assert.equal(lines[0], 'web: level 2, run');
    assert.match(lines[1]!, /^ {2}web:w respawn running PID \d+$/);
    assert.equal(lines[2], '  web:check test done');
    assert.deepEqual(lines.slice(3, 5), ['db: level (none yet), stopped', '  db:d respawn stopped']);
  });
});
