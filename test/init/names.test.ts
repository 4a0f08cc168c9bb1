// Names in the isinittab and in a switch request follow one rule: a name one takes, the other takes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseInittab } from '../../src/init/inittab';
import { parseRequest } from '../../src/init/protocol';

const SAMPLES = ['web', 'db-2', 'a.b', 'x_y', 'A9', 'a,b', 'a;b', 'a b', 'a+b', 'ü', 'a/b', '$x'];

const accepted = (parse: () => unknown) => {
  try {
    parse();
    return true;
  } catch {
    return false;
  }
};

describe('isinit names', () => {
  it('a group the isinittab takes is one a switch takes, and the other way round', () => {
    for (const name of SAMPLES) {
      const inFile = accepted(() => parseInittab(`${name}:t:1:once:true\n`));
      const inRequest = accepted(() => parseRequest(JSON.stringify({ op: 'switch', group: name, level: '1' })));
      assert.equal(inFile, inRequest, `group ${JSON.stringify(name)}: file ${inFile}, request ${inRequest}`);
    }
  });

  it('a runlevel label the isinittab takes is one a switch takes, and the other way round', () => {
    // In the file a comma separates labels; a trailing one makes the field a single label.
    for (const name of SAMPLES.filter((n) => !n.includes(','))) {
      const inFile = accepted(() => parseInittab(`g:t:${name},:once:true\n`));
      const inRequest = accepted(() => parseRequest(JSON.stringify({ op: 'switch', group: 'g', level: name })));
      assert.equal(inFile, inRequest, `level ${JSON.stringify(name)}: file ${inFile}, request ${inRequest}`);
    }
  });

  it('a refused name is named, with what a name may hold, and in the file with its line', () => {
    assert.throws(() => parseInittab('g:t:1:once:true\nweb+db:t:1:once:true\n'), /^Error: isinittab:2: group "web\+db" must be letters, digits, "\.", "_" or "-"$/);
    assert.throws(() => parseInittab('g:t:1+2,:once:true\n'), /isinittab:1: runlevel "1\+2" must be letters, digits/);
    assert.throws(() => parseInittab('g:t:1+2:once:true\n'), /isinittab:1: runlevel "\+" must be letters, digits/);
    assert.throws(() => parseRequest('web a,b'), /^Error: level "a,b" must be letters, digits, "\.", "_" or "-"$/);
    assert.throws(() => parseRequest('{"op":"switch","level":"1"}'), /group is missing or not a string; send \{"op":"switch"/);
  });
});
