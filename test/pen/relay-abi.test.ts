// What the FFI loop (src/pen/ffi/libc.ts, loop.ts) and its C round (src/pen/ffi/relay.c) must
// agree on, read from the C source: a value changed on one side only fails here, not in a relay.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  RELAY_ACCEPT_FULL, RELAY_ACCEPT_WORDS, RELAY_EOF, RELAY_LISTENER, RELAY_RECV_FAILED, RELAY_RESULT_ACCEPTED, RELAY_RESULT_CLOSING, RELAY_RESULT_READING, RELAY_RESULT_WORDS, RELAY_VERSION,
} from '../../src/pen/ffi/libc';
import { PROJECT_ROOT } from '../support/process';

const source = fs.readFileSync(path.join(PROJECT_ROOT, 'src/pen/ffi/relay.c'), 'utf8');

function defined(name: string): number {
  const value = new RegExp(`^#define ${name} \\(?(-?(?:0x[0-9a-f]+|\\d+))u?\\)?$`, 'm').exec(source)?.[1];
  assert.ok(value !== undefined, `relay.c defines ${name}`);
  return Number(value);
}

describe("the FFI loop and its C round's shared values", () => {
  it('the version, the event flags, the listener mark and the accepted record size match', () => {
    assert.equal(defined('PEN_RELAY_VERSION'), RELAY_VERSION);
    assert.equal(defined('PEN_RELAY_RECV_FAILED'), RELAY_RECV_FAILED);
    assert.equal(defined('PEN_RELAY_ACCEPT_FULL'), RELAY_ACCEPT_FULL);
    assert.equal(defined('PEN_RELAY_EOF'), RELAY_EOF);
    assert.equal(defined('PEN_LISTENER'), RELAY_LISTENER);
    assert.equal(defined('PEN_ACCEPT_WORDS'), RELAY_ACCEPT_WORDS);
  });

  it('the result words are where the loop reads them', () => {
    const words = /^enum \{ ([A-Z_, ]+) \};$/m.exec(source)?.[1]?.split(', ');
    assert.ok(words, 'relay.c names its result words in one enum');
    assert.equal(words.at(-1), 'PEN_RESULT_WORDS');
    assert.equal(words.length - 1, RELAY_RESULT_WORDS);
    assert.equal(words.indexOf('RESULT_ACCEPTED'), RELAY_RESULT_ACCEPTED);
    assert.equal(words.indexOf('RESULT_CLOSING'), RELAY_RESULT_CLOSING);
    assert.equal(words.indexOf('RESULT_READING'), RELAY_RESULT_READING);
  });
});
