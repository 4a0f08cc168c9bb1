/** Why a task got no slot: too many were waiting already, or it waited too long. */
export class NoSlot extends Error {
  constructor(readonly why: 'queue full' | 'timed out') {
    super(`no slot: ${why}`);
  }
}

export interface SlotsOptions {
  /** Tasks that may wait at once; one more is refused at once (default: no bound). */
  maxWaiting?: number;
  /** The longest a task waits before it is refused (default: no bound). */
  waitMs?: number;
}

/**
 * A counting semaphore: at most `limit` tasks hold a slot, the rest wait in order of arrival, as
 * many and as long as the options allow. A slot given back passes straight to the next waiting
 * task, so a task that arrives meanwhile never takes it first.
 */
export class Slots {
  private held = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly limit: number,
    private readonly options: SlotsOptions = {},
  ) {}

  /**
   * Resolves with the function that gives the slot back (once, however often it is called), or
   * rejects with NoSlot.
   */
  async acquire(): Promise<() => void> {
    if (this.held < this.limit) this.held++;
    else await this.wait();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.held--;
    };
  }

  private wait(): Promise<void> {
    const { maxWaiting = Infinity, waitMs } = this.options;
    if (this.waiting.length >= maxWaiting) return Promise.reject(new NoSlot('queue full'));
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const granted = () => {
        clearTimeout(timer);
        resolve();
      };
      if (waitMs !== undefined) {
        timer = setTimeout(() => {
          this.waiting.splice(this.waiting.indexOf(granted), 1);
          reject(new NoSlot('timed out'));
        }, waitMs);
      }
      this.waiting.push(granted);
    });
  }
}
