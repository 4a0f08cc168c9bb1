import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { DaemonName } from '../flavor/daemons';
import type { Layout } from '../flavor/layout';
import { currentLayout } from './layout';
import { acquireStartLock, StartLockError, type StartLock } from './lock';
import { createLogger, type Logger } from './log';
import { removePidFile, writePidFile } from './pidfile';
import { dropPrivileges, lookupUser } from './privileges';

const DETACHED_ENV = 'FLAVORKIT_DETACHED';
/** The descriptors a successor inherits from the daemon it replaces, comma-separated. */
const INHERITED_ENV = 'FLAVORKIT_INHERITED_FDS';

/** The descriptors this process inherited from the daemon it succeeds (none for a plain start). */
export function inheritedFds(): number[] {
  const text = process.env[INHERITED_ENV];
  delete process.env[INHERITED_ENV];
  return text ? text.split(',').map(Number).filter((n) => Number.isInteger(n) && n > 2) : [];
}

export interface DaemonContext {
  layout: Layout;
  log: Logger;
  foreground: boolean;
  /** Registers clean-up for a clean stop; run in reverse order of registration. */
  onStop(cleanup: () => Promise<void> | void): void;
  /** Stops cleanly and exits with `code`. */
  stop(code?: number): Promise<never>;
  /**
   * A file the start opened that the daemon opens again later (a log reopened on SIGHUP): given
   * to the daemon's user, with the run directory, when it drops root.
   */
  handOver(file: string): void;
  /**
   * Starts a new copy of this daemon (same program, arguments and environment) that inherits
   * `fds` (listening sockets, as inheritedFds() in it) and waits until it serves: null then, else
   * why not. The start lock passes to the successor, which writes its own PID file; this daemon's
   * stop leaves both to it. On failure this daemon takes the lock back and goes on.
   */
  startSuccessor(fds: number[]): Promise<string | null>;
}

export interface DaemonDefinition {
  daemon: DaemonName;
  /** Stay attached to the terminal and log to stderr too (`-f`). */
  foreground: boolean;
  layout?: Layout;
  /** The PID file to write: the layout's by default, another path (pen -p), or null for none. */
  pidFile?: string | null;
  /** Run as this user after start(); the flavor's user by default. */
  user?: string | null;
  debug?: boolean;
  /** Opens sockets and starts work; runs holding the start lock, before privileges drop. */
  start(ctx: DaemonContext): Promise<void>;
  /** SIGHUP. */
  reload?(ctx: DaemonContext): Promise<void> | void;
}

/**
 * Detaches: re-runs this program in a new session and waits until it is serving or has failed,
 * so the exit status of `pen ...` or an init script's start tells the truth.
 */
async function detach(layout: Layout, pidFile: string | null): Promise<never> {
  const consoleLog = layout.consoleLog;
  fs.mkdirSync(path.dirname(consoleLog), { recursive: true });
  const consoleFd = fs.openSync(consoleLog, 'a', 0o640);
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    detached: true,
    stdio: ['ignore', consoleFd, consoleFd, 'ipc'],
    env: { ...process.env, [DETACHED_ENV]: '1' },
  });
  const outcome = await new Promise<{ ok: boolean; message?: string }>((resolve) => {
    child.once('message', (m: { ok: boolean; message?: string }) => resolve(m));
    child.once('exit', (code, signal) => {
      // Whatever it left behind, a crash at start blocks no later start: say so, and where to look.
      const left = [`start lock ${layout.startLock}`, ...(pidFile ? [`PID file ${pidFile}`] : [])].join(' and ');
      const how = signal ? `was killed by ${signal}` : `exited with status ${code}`;
      resolve({ ok: false, message: `${layout.logIdentity}: ${how} while starting (see ${consoleLog}); its ${left} are stale and the next start takes them over` });
    });
  });
  if (!outcome.ok && outcome.message) process.stderr.write(`${outcome.message}\n`);
  // A child that died has no channel left to close.
  if (child.connected) child.disconnect();
  child.unref();
  process.exit(outcome.ok ? 0 : 1);
}

function tellParent(ok: boolean, message?: string): void {
  if (process.env[DETACHED_ENV] && process.send) {
    process.send({ ok, message }, () => process.disconnect?.());
    delete process.env[DETACHED_ENV];
  }
}

/**
 * The life of a flavored daemon: start lock, start, privilege drop, PID file, signals
 * (TERM/INT clean stop, HUP reload), and the matching clean-up on stop.
 */
export async function runDaemon(def: DaemonDefinition): Promise<DaemonContext> {
  const layout = def.layout ?? currentLayout(def.daemon);
  const pidFile = def.pidFile === undefined ? layout.pidFile : def.pidFile;
  if (!def.foreground && !process.env[DETACHED_ENV]) await detach(layout, pidFile);
  // Whatever else writes to stdout or stderr, the console file when detached, must not end the
  // daemon when that write fails; the logger counts its own losses.
  if (!def.foreground) for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  const log = createLogger({ identity: layout.logIdentity, foreground: def.foreground, libDir: layout.libDir, debug: def.debug });
  const cleanups: Array<() => Promise<void> | void> = [];
  let lock: StartLock | null = null;
  let stopping = false;

  const stop = async (code = 0): Promise<never> => {
    if (stopping) return new Promise<never>(() => undefined);
    stopping = true;
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (err) {
        log.error(`while stopping: ${(err as Error).message}`);
      }
    }
    if (pidFile) removePidFile(pidFile);
    lock?.release();
    log.info(code === 0 ? 'stopped' : `stopped with status ${code}`);
    log.close();
    process.exit(code);
  };
  const handedOver: string[] = [];
  const startSuccessor = async (fds: number[]): Promise<string | null> => {
    lock?.release();
    lock = null;
    let consoleFd: number | 'ignore' = 'ignore';
    try {
      consoleFd = fs.openSync(layout.consoleLog, 'a', 0o640);
    } catch {
      // A daemon that dropped root may not reopen the console file; the successor logs to syslog.
    }
    const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      detached: true,
      stdio: ['ignore', consoleFd, consoleFd, 'ipc', ...fds],
      env: { ...process.env, [DETACHED_ENV]: '1', [INHERITED_ENV]: fds.map((_, i) => 4 + i).join(',') },
    });
    if (typeof consoleFd === 'number') fs.closeSync(consoleFd);
    const outcome = await new Promise<{ ok: boolean; message?: string }>((resolve) => {
      child.once('message', (m: { ok: boolean; message?: string }) => resolve(m));
      child.once('exit', (code, signal) => resolve({ ok: false, message: `the successor ${signal ? `was killed by ${signal}` : `exited with status ${code}`} while starting` }));
    });
    if (child.connected) child.disconnect();
    child.unref();
    if (outcome.ok) return null;
    try {
      lock = acquireStartLock(layout.startLock);
    } catch (err) {
      log.error(`after a failed hand-over the start lock cannot be taken back: ${(err as Error).message}`);
    }
    return outcome.message ?? 'the successor did not start';
  };
  const ctx: DaemonContext = { layout, log, foreground: def.foreground, onStop: (c) => cleanups.push(c), stop, handOver: (file) => handedOver.push(file), startSuccessor };

  const reload = () => {
    log.info('reloading (SIGHUP)');
    // Through a promise from the start, so that a reload that throws is logged, never fatal.
    Promise.resolve()
      .then(() => def.reload?.(ctx))
      .catch((err: Error) => log.error(`reload failed: ${err.message}`));
  };
  // Handlers go in before the start, so that a signal during it is kept for after it, never
  // Node's default action (which for HUP ends the process).
  let ready = false;
  let early: 'stop' | 'reload' | null = null;
  const onStopSignal = () => (ready ? void stop(0) : (early = 'stop'));
  process.on('SIGTERM', onStopSignal);
  process.on('SIGINT', onStopSignal);
  process.on('SIGHUP', () => (ready ? reload() : (early ??= 'reload')));
  try {
    fs.mkdirSync(layout.runDir, { recursive: true, mode: 0o755 });
    lock = acquireStartLock(layout.startLock);
    await def.start(ctx);
    const user = def.user === undefined ? layout.user : def.user;
    if (user && process.getuid?.() === 0) {
      const account = lookupUser(user);
      for (const file of [layout.runDir, layout.startLock, ...handedOver]) fs.chownSync(file, account.uid, account.gid);
      dropPrivileges(user);
    }
    if (pidFile) writePidFile(pidFile);
  } catch (err) {
    const reason = err instanceof StartLockError ? err.message : `cannot start: ${(err as Error).message}`;
    const message = `${layout.logIdentity}: ${reason}`;
    // The logger names the daemon itself, and in the foreground it writes to stderr already.
    log.error(reason);
    if (!def.foreground) process.stderr.write(`${message}\n`);
    tellParent(false, message);
    if (err instanceof StartLockError) {
      // Not ours: leave the holder's lock, PID file and socket alone.
      log.close();
      process.exit(1);
    }
    await stop(1);
  }
  ready = true;
  log.info(`started (flavor ${layout.flavor}, PID ${process.pid})`);
  tellParent(true);
  if (early === 'stop') void stop(0);
  else if (early === 'reload') reload();
  return ctx;
}
