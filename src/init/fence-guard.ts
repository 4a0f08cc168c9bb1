import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../runtime';

/** Milliseconds on CLOCK_MONOTONIC, which every process of the host reads alike. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}

/**
 * The guard's program, run by `node -e`: it reads lines from the daemon (`D <ms>` a new deadline on
 * the monotonic clock, `+ <pgid>` / `- <pgid>` a process group to kill or to forget) and SIGKILLs
 * every group it holds when the deadline passes unrenewed. It needs nothing from the daemon after
 * the last deadline it got, so a daemon killed or stopped cannot keep its entries running.
 * Plain JavaScript source, not a compiled function: no bundler helper may leak into it.
 */
const GUARD_PROGRAM = `
const now = () => Number(process.hrtime.bigint() / 1000000n);
const groups = new Set();
let deadline = Infinity;
let timer = null;
let ended = false;
function fire() {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
      process.stderr.write('isinit fence guard: claim deadline passed; killed process group ' + pgid + '\\n');
    } catch {}
  }
  groups.clear();
  if (ended) process.exit(0);
}
function arm() {
  if (timer) clearTimeout(timer);
  timer = null;
  if (deadline === Infinity) return;
  const left = deadline - now();
  if (left <= 0) fire();
  else timer = setTimeout(arm, Math.min(left, 1000));
}
let buffered = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  const lines = buffered.split('\\n');
  buffered = lines.pop();
  for (const line of lines) {
    const [op, value] = line.split(' ');
    const n = Number(value);
    if (op === 'D') deadline = n;
    else if (op === '+') groups.add(n);
    else if (op === '-') groups.delete(n);
  }
  arm();
});
process.stdin.on('end', () => {
  ended = true;
  if (groups.size === 0) process.exit(0);
  arm();
});
`;

/**
 * Kills the process groups of a host's single-host entries when the host's claim in etcd can no
 * longer be proven alive, even if the daemon itself is dead or stopped: a separate process, in its
 * own session, fed the deadline after every confirmed keep-alive.
 */
export class FenceGuard {
  private child: ChildProcess | null = null;
  private readonly groups = new Set<number>();
  private deadline = 0;
  private closed = false;

  constructor(private readonly log: Logger) {}

  start(): void {
    const child = spawn(process.execPath, ['-e', GUARD_PROGRAM], {
      detached: true,
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    this.child = child;
    child.unref();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    child.stdin!.on('error', () => undefined);
    child.once('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = null;
      if (this.closed) return;
      // Without a guard nothing would stop the entries of a stopped daemon: start another soon.
      this.log.warn(`cluster: fence guard PID ${child.pid} ended (${signal ?? `exit ${code}`}); starting a new one`);
      setTimeout(() => !this.closed && !this.child && this.start(), 200).unref();
    });
    this.send(`D ${this.deadline}`);
    for (const pgid of this.groups) this.send(`+ ${pgid}`);
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** Whether a guard runs now: without one, no single-host entry may start. */
  get running(): boolean {
    return this.child !== null && this.child.exitCode === null;
  }

  private send(line: string): void {
    this.child?.stdin?.write(`${line}\n`);
  }

  /** The monotonic time at which every held group is killed, unless renewed before. */
  setDeadline(ms: number): void {
    this.deadline = ms;
    this.send(`D ${ms}`);
  }

  hold(pgid: number): void {
    this.groups.add(pgid);
    this.send(`+ ${pgid}`);
  }

  release(pgid: number): void {
    this.groups.delete(pgid);
    this.send(`- ${pgid}`);
  }

  /** Ends the guard once the daemon has stopped its entries itself. */
  close(): void {
    this.closed = true;
    this.child?.stdin?.end();
  }
}
