/**
 * Search answers kept by query, as the bytes sent, least recently used dropped first, within a bound in bytes. A
 * key names the index it was answered from, so an answer never outlives the index it came from;
 * answers of a replaced index are only ever dropped.
 */
export class AnswerCache {
  /** Insertion order is use order: a hit moves its entry to the end. */
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;

  constructor(readonly maxBytes: number) {}

  /** What an entry costs: the answer's bytes, and its key at up to two bytes a character. */
  static size(key: string, answer: Buffer): number {
    return 2 * key.length + answer.length;
  }

  get(key: string): Buffer | undefined {
    const answer = this.entries.get(key);
    if (answer === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, answer);
    return answer;
  }

  /** Keeps an answer unless it alone is larger than the bound; older ones make room. */
  set(key: string, answer: Buffer): void {
    const size = AnswerCache.size(key, answer);
    if (size > this.maxBytes) return;
    const old = this.entries.get(key);
    if (old !== undefined) {
      this.entries.delete(key);
      this.bytes -= AnswerCache.size(key, old);
    }
    this.entries.set(key, answer);
    this.bytes += size;
    for (const [k, v] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= AnswerCache.size(k, v);
    }
  }

  /** Bytes held now, by the measure of `size`. */
  get heldBytes(): number {
    return this.bytes;
  }

  get count(): number {
    return this.entries.size;
  }
}
