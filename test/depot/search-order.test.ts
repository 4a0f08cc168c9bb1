// The token table's order as the depot compares it in memory: the bytes of UTF-8, as `sort`
// with LC_ALL=C orders the table's lines.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { byteOrder } from '../../src/depot/search/publisher-index';

/** Characters from every range whose UTF-16 and UTF-8 orders differ or meet. */
const ALPHABET = ['a', 'B', '0', '_', '~', '\x7f', 'é', 'ÿ', 'Ā', '中', '\ud7ff', '\ue000', '\uffef', '\uffff', '😀', '\u{10000}', '\u{10ffff}'];

it('orders strings as their UTF-8 bytes, beyond the Basic Multilingual Plane and prefixes included', () => {
  let seed = 42;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const word = () => Array.from({ length: Math.floor(next() * 4) }, () => ALPHABET[Math.floor(next() * ALPHABET.length)]).join('');
  for (let i = 0; i < 20_000; i++) {
    const [a, b] = [word(), word()];
    assert.equal(Math.sign(byteOrder(a, b)), Buffer.compare(Buffer.from(a), Buffer.from(b)), `${JSON.stringify(a)} against ${JSON.stringify(b)}`);
  }
});
