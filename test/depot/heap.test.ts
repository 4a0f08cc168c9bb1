import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import v8 from 'node:v8';
import { limitYoungGeneration, YOUNG_GENERATION_MIB } from '../../src/depot/heap';

const youngGenerationMiB = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size / 2 ** 20;

/** Allocates as a busy server does: many short-lived objects, a share of them kept a while. */
async function serveForAWhile(): Promise<void> {
  let kept: Array<{ n: number; text: string }> = [];
  for (let turn = 0; turn < 300; turn++) {
    for (let i = 0; i < 10_000; i++) {
      const answer = { n: i, text: `answer ${turn}-${i}` };
      if (i % 4 === 0) kept.push(answer);
    }
    if (kept.length > 150_000) kept = [];
    // Collections run their callbacks between turns of the event loop, as in the depot.
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('the heap of a depot without search', () => {
  it(`keeps its young generation within ${YOUNG_GENERATION_MIB} MiB under a steady load`, async () => {
    limitYoungGeneration();
    await serveForAWhile();
    const size = youngGenerationMiB();
    assert.ok(size > 0);
    assert.ok(size <= YOUNG_GENERATION_MIB, `the young generation grew to ${size} MiB`);
  });
});
