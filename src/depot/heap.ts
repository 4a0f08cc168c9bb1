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

export function limitHeapGrowth(): void {
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
