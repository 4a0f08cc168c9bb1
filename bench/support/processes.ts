import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * What a benchmark starts: its processes (all killed by PID at the end, or on Ctrl-C) and its
 * scratch directory (removed with them).
 */
export class BenchProcesses {
  readonly work: string;
  private readonly children: ChildProcess[] = [];
  /** Processes stopped on purpose: their exit is not reported. */
  private readonly stopped = new Set<ChildProcess>();
  /** Set once the measurements are over: exits after it are expected. */
  stopping = false;

  constructor(name: string) {
    this.work = fs.mkdtempSync(path.join(os.tmpdir(), `flavorkit-bench-${name}-`));
    process.on('SIGINT', () => {
      this.cleanup();
      process.exit(130);
    });
  }

  /** Starts a process whose early death is reported with what it wrote to stderr. */
  start(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
    let stderr = '';
    child.stderr?.on('data', (d) => (stderr += d));
    child.once('exit', (code, signal) => {
      if (!this.stopping && !this.stopped.has(child)) process.stderr.write(`${path.basename(command)} exited early (${code ?? signal}): ${stderr}\n`);
    });
    this.children.push(child);
    return child;
  }

  /** Stops one process on purpose, by PID, and waits for it (at most 10 s). */
  async stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!child.pid || child.exitCode !== null || child.signalCode !== null) return;
    this.stopped.add(child);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(child.pid, signal);
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  }

  cleanup(): void {
    this.stopping = true;
    for (const c of this.children) {
      if (c.pid && c.exitCode === null && c.signalCode === null) {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    fs.rmSync(this.work, { recursive: true, force: true });
  }
}

/** Peak resident set (VmHWM) of a process, in MiB. */
export function peakRssMiB(pid: number): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
}

/** A wrk latency ("812.00us", "3.2ms", "1.01s") in milliseconds. */
export function wrkMs(value: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(value);
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60000;
}

export const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
export const ratio = (a: number | undefined, b: number | undefined) => (a && b ? `${(a / b).toFixed(2)}×` : 'n/a');

/** The 1, 5 and 15 minute load averages, to show how quiet the machine was when a run began. */
export const loadAverage = () => os.loadavg().map((l) => l.toFixed(2)).join(', ');

/** User and system CPU time of a process (all its threads), in microseconds. */
export function cpuTimes(pid: number): { user: number; sys: number } {
  // Fields 14 and 15 of /proc/PID/stat, in clock ticks; the command name may hold spaces.
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const tick = 1e6 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  return { user: Number(fields[11]) * tick, sys: Number(fields[12]) * tick };
}
