import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FgetsSplitter } from '../../../src/pen/libc/fgets';
import { getopt } from '../../../src/pen/libc/getopt';
import { UsageError } from '../../../src/runtime/args';
import { inetAton } from '../../../src/pen/libc/netaddr';
import { atoi, sscanf } from '../../../src/pen/libc/scanf';

// The C library rules pen's tools depend on, as glibc applies them.
describe('C parsing rules of the pen tools', () => {
  it('sscanf: %[...] must match something, whitespace skips any run, widths cut fields', () => {
    assert.deepEqual(sscanf('+ 1.2.3.4 5.6.7.8 GET / HTTP/1.1\n', '+ %99[^ ] %99[^ ] %99[^\n]'), ['1.2.3.4', '5.6.7.8', 'GET / HTTP/1.1']);
    assert.deepEqual(sscanf('+1.2.3.4   x y', '+ %99[^ ] %99[^ ] %99[^\n]'), ['1.2.3.4', 'x', 'y']);
    assert.deepEqual(sscanf('+ abcdef', '+ %3[^ ] %3[^ ]'), ['abc', 'def']);
    assert.deepEqual(sscanf('1.2.3.4 [x]', '%[^ ] %[^[][%[^]]]'), ['1.2.3.4'], 'an empty %[ stops the scan');
    assert.deepEqual(sscanf('a 17 b rest of line', '%s %ld %s %[^\n]'), ['a', 17, 'b', 'rest of line']);
    assert.deepEqual(sscanf('a x17', '%s %ld'), ['a']);
    assert.deepEqual(sscanf('x]y', '%[]x]'), ['x]'], "']' first in the set belongs to it");
    assert.deepEqual(sscanf('ab\0cd', '%s'), ['ab'], 'a C string ends at NUL');
  });

  it('atoi: leading blanks and sign, stops at the first non-digit', () => {
    assert.equal(atoi('  -42x'), -42);
    assert.equal(atoi('10000abc'), 10000);
    assert.equal(atoi('abc'), 0);
    assert.equal(atoi('+7'), 7);
  });

  it('inet_aton: one to four parts, octal and hex, trailing blank ends the address', () => {
    assert.equal(inetAton('127.0.0.1'), 0x7f000001);
    assert.equal(inetAton('127.1'), 0x7f000001);
    assert.equal(inetAton('0x7f.1'), 0x7f000001);
    assert.equal(inetAton('010.0.0.1'), 0x08000001);
    assert.equal(inetAton('2130706433'), 0x7f000001);
    assert.equal(inetAton('1.2.3.4 junk'), 0x01020304);
    assert.equal(inetAton('256.1.1.1'), null);
    assert.equal(inetAton('1.2.3.4.5'), null);
    assert.equal(inetAton('localhost'), null);
    assert.equal(inetAton('08.1.1.1'), null);
  });

  it('fgets pieces: at most size-1 bytes, ending after a newline', () => {
    const s = new FgetsSplitter(8);
    assert.deepEqual(s.push('ab\ncdefghijk'), ['ab\n', 'cdefghi']);
    assert.deepEqual(s.push('\n'), ['jk\n']);
    assert.deepEqual(s.push('tail'), []);
    assert.deepEqual(s.end(), ['tail']);
  });

  it('getopt: clusters, attached and separate arguments, operands anywhere, --', () => {
    assert.deepEqual(getopt(['-fd', '-lout', 'port', '-n', '5'], 'j:l:n:p:u:dfb'), {
      options: [{ opt: 'f' }, { opt: 'd' }, { opt: 'l', arg: 'out' }, { opt: 'n', arg: '5' }],
      operands: ['port'],
    });
    assert.deepEqual(getopt(['--', '-f'], 'f').operands, ['-f']);
    assert.throws(() => getopt(['-x'], 'f'), UsageError);
    assert.throws(() => getopt(['-l'], 'l:'), /option -l needs an argument/);
  });
});
