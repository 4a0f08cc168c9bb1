import type { DaemonContext } from '../runtime';

/*
 * Graceful ends: on TERM with `drain_timeout N`, pen stops accepting and lets its open connections
 * finish for up to N seconds before closing what is left and exiting. On USR2 it hands its
 * listening socket to a new pen (same program and arguments, the config file read afresh) and,
 * once that one serves, drains the same way: no client is refused during the change, because the
 * one socket and its queue of pending connections pass from the old process to the new.
 */

/** What draining needs of the running pen. */
export interface Drainable {
  /** Open connections. */
  readonly used: number;
}

/** The listener as a hand-over needs it. */
export interface HandOverListener {
  /** Stops accepting (idempotent); the socket lives on in a successor that inherited it. */
  stopAccepting(): void;
  /** The descriptor a successor inherits, or null when this listener cannot be handed over. */
  fd(): number | null;
}

const POLL_MS = 50;

/** Resolves once no connection is open or `seconds` have passed: whether all finished. */
export function whenDrained(proxy: Drainable, seconds: number): Promise<boolean> {
  const deadline = Date.now() + seconds * 1000;
  return new Promise((resolve) => {
    const check = () => {
      if (proxy.used === 0) resolve(true);
      else if (Date.now() >= deadline) resolve(false);
      else setTimeout(check, POLL_MS);
    };
    check();
  });
}

/** The drain a stop runs first, when `drain_timeout` is set. */
export async function drainOnStop(ctx: DaemonContext, proxy: Drainable, listener: HandOverListener, seconds: () => number): Promise<void> {
  const limit = seconds();
  if (limit <= 0) return;
  listener.stopAccepting();
  ctx.log.info(`draining: ${proxy.used} connections open, waiting up to ${limit} s`);
  const all = await whenDrained(proxy, limit);
  if (!all) ctx.log.warn(`drain_timeout ${limit} s passed with ${proxy.used} connections open; closing them`);
}

/**
 * USR2: a successor takes over the listener, then this pen drains and exits. Where there is no
 * socket to hand over (UDP, a UNIX-socket listener), or the successor fails to start, this pen
 * says so; in the first case it stops as on TERM, so that a restart still happens.
 */
export function handOverOnSignal(
  ctx: DaemonContext,
  listener: HandOverListener,
  control: { close(): Promise<void>; reopen(): Promise<void> },
): void {
  let busy = false;
  process.on('SIGUSR2', () => {
    if (busy) return;
    busy = true;
    void (async () => {
      const fd = listener.fd();
      if (fd === null) {
        ctx.log.warn('USR2: this listener cannot be handed over (only a TCP listener can); stopping as on TERM');
        await ctx.stop(0);
        return;
      }
      // The successor opens the same control sockets: this pen's must be gone first.
      await control.close();
      const problem = await ctx.startSuccessor([fd]);
      if (problem !== null) {
        ctx.log.error(`USR2: hand-over failed (${problem}); this pen goes on serving`);
        await control.reopen().catch((err: Error) => ctx.log.error(`the control sockets cannot be reopened: ${err.message}`));
        busy = false;
        return;
      }
      ctx.log.info('USR2: the listener is handed over to the successor; draining');
      listener.stopAccepting();
      await ctx.stop(0);
    })();
  });
}
