import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { lookupUser, processStartTime, type Account } from '../runtime';
import { argvOf } from './command';

/** A process the supervisor runs, or one it adopted from a previous daemon. */
export interface Child {
  pid: number;
  startTime: string | null;
  adopted: boolean;
  /** Resolves with the exit code (null: killed by a signal, or unknown for an adopted child). */
  exited: Promise<number | null>;
}

const ADOPTED_POLL_MS = 100;

/** PATH of a command run as another user: login.defs' ENV_PATH default, never root's. */
export const USER_PATH = '/usr/local/bin:/usr/bin:/bin';

/** The environment `runuser -u USER` gives, with a user's PATH instead of the caller's. */
export function userEnvironment(account: Account, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...base, HOME: account.home, USER: account.name, LOGNAME: account.name, SHELL: account.shell, PATH: USER_PATH };
}

/**
 * Starts a command in its own process group (so the whole tree can be signalled), with its
 * output appended to its own log file.
 */
export function startChild(command: string, logFile: string, user: string | null): Child {
  // Everything that can refuse comes before the log file is opened, so a refusal leaks no descriptor.
  const [file, args] = argvOf(command);
  const account = user ? lookupUser(user) : null;
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const out = fs.openSync(logFile, 'a', 0o640);
  try {
    const proc = spawn(file, args, {
      detached: true,
      stdio: ['ignore', out, out],
      uid: account?.uid,
      gid: account?.gid,
      env: account ? userEnvironment(account) : process.env,
    });
    const exited = new Promise<number | null>((resolve) => {
      proc.once('error', () => resolve(127));
      proc.once('exit', (code) => resolve(code));
    });
    if (proc.pid === undefined) throw new Error(`cannot run ${file}: not found or not executable`);
    proc.unref();
    return { pid: proc.pid, startTime: processStartTime(proc.pid), adopted: false, exited };
  } finally {
    fs.closeSync(out);
  }
}

/** Takes over a process a previous daemon started, if it is still the same process. */
export function adoptChild(pid: number, startTime: string | null): Child | null {
  const now = processStartTime(pid);
  if (now === null || (startTime !== null && now !== startTime)) return null;
  const exited = new Promise<number | null>((resolve) => {
    const timer = setInterval(() => {
      if (processStartTime(pid) !== now) {
        clearInterval(timer);
        resolve(null);
      }
    }, ADOPTED_POLL_MS);
  });
  return { pid, startTime: now, adopted: true, exited };
}

function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The child's exit code, or 'running' when it has not ended within `ms`. */
export async function exitWithin(child: Child, ms: number): Promise<number | null | 'running'> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<'running'>((resolve) => (timer = setTimeout(() => resolve('running'), ms)));
  try {
    return await Promise.race([child.exited, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Stops a child and everything in its process group: TERM, then KILL for whatever is left after
 * the grace period (including grandchildren that outlived the direct child).
 */
export async function stopChild(child: Child, graceMs: number): Promise<void> {
  if (child.pid <= 0) return;
  signalGroup(child.pid, 'SIGTERM');
  signalGroup(child.pid, 'SIGCONT');
  const deadline = Date.now() + graceMs;
  if ((await exitWithin(child, graceMs)) === 'running') signalGroup(child.pid, 'SIGKILL');
  await child.exited;
  // The group may outlive its leader: poll until it is empty, then KILL the rest.
  while (signalGroup(child.pid, 0)) {
    if (Date.now() >= deadline) {
      signalGroup(child.pid, 'SIGKILL');
      break;
    }
    await sleep(5);
  }
}
