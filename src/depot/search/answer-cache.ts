/**
 * Search answers kept by query, as the bytes sent, least recently used dropped first, within a bound in bytes. A
 * key names the index it was answered from, so an answer never outlives the index it came from;
 * answers of a replaced index are only ever dropped. Answers are offered as they are made and
 * kept when their query comes a second time: queries asked once would only push out the others,
 * and the memory of each answer pushed out is given back only by a full collection.
 */
export class AnswerCache {
  /** Insertion order is use order: a hit moves its entry to the end. */
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;
  /** Queries answered once, oldest first, within an eighth of the bound; part of what is held. */
  private readonly askedOnce = new Set<string>();
  private askedOnceBytes = 0;

  constructor(readonly maxBytes: number) {}

  /** Keeps the answer if its query was offered before (and is still remembered), else remembers the query. */
  offer(key: string, answer: Buffer): void {
    if (this.askedOnce.delete(key)) {
      this.askedOnceBytes -= 2 * key.length;
      this.set(key, answer);
      return;
    }
    if (this.entries.has(key)) {
      this.set(key, answer);
      return;
    }
    const size = 2 * key.length;
    if (size > this.maxBytes / 8) return;
    this.askedOnce.add(key);
    this.askedOnceBytes += size;
    for (const k of this.askedOnce) {
      if (this.askedOnceBytes <= this.maxBytes / 8) break;
      this.askedOnce.delete(k);
      this.askedOnceBytes -= 2 * k.length;
    }
    this.trim();
  }

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
    this.trim();
  }

  /** Drops the least recently used answers until what is held fits the bound. */
  private trim(): void {
    for (const [k, v] of this.entries) {
      if (this.heldBytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= AnswerCache.size(k, v);
    }
  }

  /** Bytes held now, by the measure of `size`, the queries remembered included. */
  get heldBytes(): number {
    return this.bytes + this.askedOnceBytes;
  }

  get count(): number {
    return this.entries.size;
  }
}
