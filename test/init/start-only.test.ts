import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseInittab } from '../../src/init/inittab';
import { restartNeeded, startOnlyOf, type StartOnlyDefaults } from '../../src/init/start-only';

const defaults: StartOnlyDefaults = { socketOption: null, socket: '/run/init.s', initstat: '/run/initstat' };
const changed = (before: string, after: string, d = defaults) =>
  restartNeeded(startOnlyOf(parseInittab(before), d), startOnlyOf(parseInittab(after), d)).map((w) => w.split(' changed')[0]);

describe('directives a re-read cannot apply', () => {
  it('are compared as the daemon runs them, defaults filled in', () => {
    assert.deepEqual(changed('', ':::socket:/run/init.s\n:::initstat:/run/initstat\n'), []);
    assert.deepEqual(changed('', ':::socket:/elsewhere.s\n'), [':::socket:']);
    assert.deepEqual(changed(':::cluster:http://h:2379\n', ':::cluster:http://h:2379\n:::node:a\n'), [':::node:']);
    assert.deepEqual(changed(':::cluster:http://h:2379\n:::single:db\n', ''), [':::cluster:', ':::single:']);
    assert.deepEqual(changed(':::cluster:http://h:2379\n', ':::cluster:http://h:2379\n:::leasettl:10\n'), []);
    assert.deepEqual(changed(':::cluster:http://h:2379\n', ':::cluster:http://h:2379\n:::leasettl:4\n'), [':::leasettl:']);
  });

  it('leave out :::socket: when the daemon was started with -s, which the file does not override', () => {
    assert.deepEqual(changed('', ':::socket:/elsewhere.s\n', { ...defaults, socketOption: '/run/given.s' }), []);
  });
});
