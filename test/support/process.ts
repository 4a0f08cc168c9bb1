import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT } from '../../tools/places';

export { FIXTURES_DIR, PROJECT_ROOT, SHARED_DIR } from '../../tools/places';
export { freePort, waitForTcp } from '../../tools/ports';
export const TSX_LOADER = ['--import', 'tsx'];

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions extends SpawnOptions {
  /** Killed, and the test failed, after this long (default 60 s). */
  timeoutMs?: number;
  /** What the command reads on stdin; nothing by default. */
  input?: string;
  /** latin1 keeps every byte of a C program's output as one character. */
  stdoutEncoding?: BufferEncoding;
}

/** Runs a command to its end, with a deadline; never hangs a test. */
export function run(command: string, args: string[], options: RunOptions = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], ...options });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding(options.stdoutEncoding ?? 'utf8');
    child.stdout?.on('data', (d: string) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not finish in ${options.timeoutMs ?? 60000} ms\n${stderr}`));
    }, options.timeoutMs ?? 60000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A program that exits without reading its input must not fail the test.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(options.input ?? '');
  });
}

/** A TypeScript program of the project, run unbundled through tsx. */
export function runTs(file: string, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60000): Promise<Ran> {
  return run(process.execPath, [...TSX_LOADER, path.join(PROJECT_ROOT, file), ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    timeoutMs,
  });
}

export function spawnTs(file: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, [...TSX_LOADER, path.join(PROJECT_ROOT, file), ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `flavorkit-${prefix}-`));
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits for a condition, polling; fails with `what` after the deadline. */
export async function waitFor<T>(what: string, probe: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs = 10000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A UNIX socket's path, or a TCP port on a host. */
export type Endpoint = string | { port: number; host: string };

export interface AskOptions {
  timeoutMs?: number;
  /**
   * Send TEXT as it is and shut down the writing side at once (as `printf ... | nc -N` does),
   * instead of one line with the connection left open for the reply.
   */
  halfClose?: boolean;
}

/** Sends one line (or, half-closed, TEXT as it is) to a control endpoint and returns the whole reply. */
export function askSocket(endpoint: Endpoint, text: string, options: number | AskOptions = {}): Promise<string> {
  const { timeoutMs = 5000, halfClose = false } = typeof options === 'number' ? { timeoutMs: options } : options;
  const where = typeof endpoint === 'string' ? endpoint : `${endpoint.host}:${endpoint.port}`;
  return new Promise((resolve, reject) => {
    const socket = typeof endpoint === 'string' ? net.createConnection(endpoint) : net.createConnection(endpoint.port, endpoint.host);
    let reply = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no reply from ${where} in ${timeoutMs} ms to ${JSON.stringify(text.slice(0, 40))}; got ${JSON.stringify(reply)}`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => (halfClose ? socket.end(text) : socket.write(`${text}\n`)));
    socket.on('data', (d: string) => (reply += d));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(reply);
    });
  });
}

/** Kills a process and waits until it is gone. */
export async function killAndWait(pid: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  await waitFor(`PID ${pid} to exit`, () => isGone(pid));
}

/** The process has ended: gone, or a zombie its parent has yet to reap. */
export function isGone(pid: number): boolean {
  return !isAlive(pid) || isZombie(pid);
}

function isZombie(pid: number): boolean {
  try {
    return /\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}
