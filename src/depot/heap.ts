import { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';

/**
 * How far the old generation may grow past what survived the last full collection before the
 * next one, in percent (left to itself, V8 picks 10–300 % by its own measure). Each search leaves
 * a burst of objects that outlive the young generation; a heap allowed to double before collecting
 * them holds tens of MiB that it gives back only much later. V8 reads this at each collection, so
 * it can be set at run time, unlike the sizes of the heap's spaces (which only Node's command line
 * sets, and the depot's #! line has room for one option).
 */
export const HEAP_GROWING_PERCENT = 20;

/**
 * The most the young generation (its two semi-spaces) may grow to in a depot without search, in
 * MiB. Left to itself it doubles from 2 up to 32 MiB under a steady stream of requests, and keeps
 * the pages: most of the memory a busy depot holds beyond Node's own (the sample repository served
 * at 50 clients: 101 MiB peak, 79 with this limit). Serving files, the depot spent the same CPU per
 * request with 4, 8 or 32 MiB; searching, a small one promotes the burst of objects a search leaves
 * (`<archive>` on 10,000 packages took about twice the CPU at 8 MiB), so a depot with search keeps
 * V8's own sizing.
 */
export const YOUNG_GENERATION_MIB = 8;

const youngGenerationMiB = () => (v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0) / 2 ** 20;

/** V8 doubles the young generation when enough survives; a factor of 1 makes a growth a no-op. */
function allowYoungGrowth(allowed: boolean): void {
  v8.setFlagsFromString(`--semi-space-growth-factor=${allowed ? 2 : 1}`);
}

export function limitHeapGrowth(): void {
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}

/**
 * Keeps the young generation within YOUNG_GENERATION_MIB. Its growth factor is read at each
 * growth, unlike its maximum size (fixed at start): after each collection, growth is allowed
 * while a doubling stays within the limit.
 */
export function limitYoungGeneration(): void {
  let allowed = true;
  const decide = () => {
    const allow = youngGenerationMiB() * 2 <= YOUNG_GENERATION_MIB;
    if (allow !== allowed) allowYoungGrowth((allowed = allow));
  };
  decide();
  new PerformanceObserver(decide).observe({ entryTypes: ['gc'] });
}
