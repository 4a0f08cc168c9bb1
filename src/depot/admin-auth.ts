import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { pamAuthenticate, type Logger, type PamResult } from '../runtime';
import { logEscape } from './accesslog';

/**
 * util-linux's chrt, through which the PAM process starts in SCHED_IDLE: hashing a password then
 * takes only CPU time that nothing else wants. Without it the process is only niced.
 */
const CHRT = '/usr/bin/chrt';

/** Set in the environment of the process the depot forks to run PAM in. */
export const PAM_PROCESS_ENV = 'FLAVORKIT_DEPOT_PAM_PROCESS';

interface PamRequest {
  id: number;
  user: string;
  password: string;
}

type PamReply = PamResult & { id: number };

/**
 * The body of the PAM process: answers each request with PAM's verdict, and ends with the depot
 * (its channel closes when the depot exits).
 */
export function servePamRequests(service: string, libDir: string): void {
  process.on('message', (message: PamRequest) => {
    void pamAuthenticate(service, message.user, message.password, libDir).then((result) => process.send?.({ id: message.id, ...result } satisfies PamReply));
  });
  process.on('disconnect', () => process.exit(0));
}

/**
 * PAM run in a child process of its own. pam_unix sleeps about 2 s after a wrong password, in a
 * thread of the pool it runs in; in the depot's own process that pool also reads the files it
 * serves, so a few wrong passwords would stall every download. The child is started at the first
 * login and again after it exits.
 */
export class PamProcess {
  private child: ChildProcess | null = null;
  private nextId = 0;
  private readonly waiting = new Map<number, (result: PamResult) => void>();

  private start(): ChildProcess {
    const idle = fs.existsSync(CHRT) ? { execPath: CHRT, execArgv: ['--idle', '0', process.execPath, ...process.execArgv] } : {};
    const child = fork(process.argv[1]!, [], {
      env: { ...process.env, [PAM_PROCESS_ENV]: '1' },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      ...idle,
    });
    child.on('message', (reply: PamReply) => {
      this.waiting.get(reply.id)?.(reply);
      this.waiting.delete(reply.id);
    });
    child.on('exit', () => {
      if (this.child === child) this.child = null;
      for (const answer of this.waiting.values()) answer({ ok: false, code: -1, reason: 'the PAM process exited' });
      this.waiting.clear();
    });
    // Hashing a password costs CPU by design: the depot's serving comes first (also where the
    // idle class is not to be had).
    try {
      if (child.pid !== undefined) os.setPriority(child.pid, 19);
    } catch {
      // Lowering a priority is always allowed; a child already gone is not.
    }
    // Not a reason to keep the depot running.
    child.unref();
    child.channel?.unref();
    return child;
  }

  authenticate(user: string, password: string): Promise<PamResult> {
    this.child ??= this.start();
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.child!.send({ id, user, password } satisfies PamRequest);
    });
  }

  stop(): void {
    this.child?.kill();
  }
}

export interface LoginLimits {
  /** Failed logins from one address within `windowMs` after which its logins are refused... */
  failures: number;
  windowMs: number;
  /** ...logins from one address checked at the same time... */
  concurrent: number;
  /** ...and logins checked at the same time in all. */
  concurrentInAll: number;
  /**
   * A refused login is answered this late, as pam_unix answers a wrong password: a client that
   * waits for each answer then costs a few requests a minute, not hundreds a second...
   */
  refusalDelayMs: number;
  /** ...with at most this many answers held at once; beyond, they go at once. */
  maxHeld: number;
}

export const LOGIN_LIMITS: LoginLimits = { failures: 5, windowMs: 60_000, concurrent: 2, concurrentInAll: 4, refusalDelayMs: 2000, maxHeld: 256 };

/** The verdict on a login: accepted, refused, or not even tried until `retryAfter` seconds pass. */
export interface LoginVerdict {
  ok: boolean;
  retryAfter?: number;
}

interface Attempts {
  failures: number[];
  checking: number;
  refusingUntil: number;
}

/**
 * admin/0's logins: checked by PAM, with an address that fails `failures` times within the window
 * refused for the rest of it (logged once), and a cap on the logins of one address at a time.
 */
export class AdminLogins {
  private readonly byAddress = new Map<string, Attempts>();
  private checking = 0;
  private held = 0;

  constructor(
    private readonly check: (user: string, password: string) => Promise<PamResult>,
    private readonly log: Logger,
    private readonly limits: LoginLimits = LOGIN_LIMITS,
  ) {}

  async authenticate(user: string, password: string, address: string): Promise<LoginVerdict> {
    const now = Date.now();
    this.forgetOld(now);
    let attempts = this.byAddress.get(address);
    if (!attempts) this.byAddress.set(address, (attempts = { failures: [], checking: 0, refusingUntil: 0 }));
    if (attempts.refusingUntil > now) return this.refuse(Math.ceil((attempts.refusingUntil - now) / 1000));
    if (attempts.checking >= this.limits.concurrent || this.checking >= this.limits.concurrentInAll) return this.refuse(1);
    attempts.checking++;
    this.checking++;
    let result: PamResult;
    try {
      result = await this.check(user, password);
    } finally {
      attempts.checking--;
      this.checking--;
    }
    this.log.notice(`admin/0 login of ${logEscape(user)} from ${address}: ${result.reason}`);
    if (result.ok) return { ok: true };
    attempts.failures.push(Date.now());
    if (attempts.failures.length >= this.limits.failures && attempts.refusingUntil <= Date.now()) {
      attempts.refusingUntil = Date.now() + this.limits.windowMs;
      this.log.warn(`admin/0: ${attempts.failures.length} failed logins from ${address} within ${this.limits.windowMs / 1000} s; its logins are refused for ${this.limits.windowMs / 1000} s`);
    }
    return { ok: false };
  }

  /** A refusal without a PAM call, answered after the refusal delay while few are held. */
  private async refuse(retryAfter: number): Promise<LoginVerdict> {
    if (this.held < this.limits.maxHeld) {
      this.held++;
      await new Promise((resolve) => setTimeout(resolve, this.limits.refusalDelayMs));
      this.held--;
    }
    return { ok: false, retryAfter };
  }

  /** Failures older than the window are forgotten, and addresses with nothing left to remember. */
  private forgetOld(now: number): void {
    for (const [address, attempts] of this.byAddress) {
      attempts.failures = attempts.failures.filter((at) => now - at < this.limits.windowMs);
      if (attempts.failures.length === 0 && attempts.checking === 0 && attempts.refusingUntil <= now) this.byAddress.delete(address);
    }
  }
}
