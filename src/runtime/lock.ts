import fs from 'node:fs';
import path from 'node:path';

/** Refusal of a second start: names the holder, so an operator knows what to look at. */
export class StartLockError extends Error {
  constructor(
    readonly lockFile: string,
    readonly holderPid: number,
  ) {
    super(`already running as PID ${holderPid} (start lock ${lockFile}); stop that process first`);
  }
}

/**
 * The kernel's start time of a live process, so that a recycled PID is not taken for the
 * holder; null for a process that is gone or a zombie (killed, not yet reaped).
 */
export function processStartTime(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields counted after the parenthesised command name, which may itself hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return null;
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

interface LockContent {
  pid: number;
  started: string | null;
}

function readLock(file: string): LockContent | null {
  try {
    const [pid, started] = fs.readFileSync(file, 'utf8').trim().split(/\s+/);
    const n = Number(pid);
    return Number.isInteger(n) && n > 0 ? { pid: n, started: started ?? null } : null;
  } catch {
    return null;
  }
}

function holderAlive(content: LockContent): boolean {
  const now = processStartTime(content.pid);
  return now !== null && (content.started === null || content.started === now);
}

export interface StartLock {
  file: string;
  release(): void;
}

/**
 * Takes the start lock: created atomically (link of a complete temp file), so a reader never sees
 * it half-written. A lock whose holder is gone (kill -9) is taken over; a live holder refuses.
 */
export function acquireStartLock(file: string, pid = process.pid): StartLock {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temp = `${file}.${pid}.tmp`;
  fs.writeFileSync(temp, `${pid} ${processStartTime(pid) ?? ''}\n`, { mode: 0o644 });
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.linkSync(temp, file);
        return { file, release: () => releaseIfOurs(file, pid) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = readLock(file);
      if (holder && holder.pid !== pid && holderAlive(holder)) throw new StartLockError(file, holder.pid);
      // Stale (or unreadable) lock: remove it only if it is still the same stale content.
      const again = readLock(file);
      if (again?.pid === holder?.pid) fs.rmSync(file, { force: true });
    }
    const holder = readLock(file);
    throw new StartLockError(file, holder?.pid ?? 0);
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

function releaseIfOurs(file: string, pid: number): void {
  if (readLock(file)?.pid === pid) fs.rmSync(file, { force: true });
}

/** The PID recorded in a lock or PID file whose process is alive, else null. */
export function livePidIn(file: string): number | null {
  const content = readLock(file);
  return content && holderAlive(content) ? content.pid : null;
}
