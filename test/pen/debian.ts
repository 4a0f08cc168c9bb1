// Debian's pen programs and ours, run side by side on the same input.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { referenceFile } from '../../tools/reference';
import { PROJECT_ROOT, run, TSX_LOADER, type Ran } from '../support/process';

/** Debian's pen tools, extracted (never installed); pen itself needs libGeoIP beside it. */
export function debian(program: 'pen' | 'penctl' | 'penlog' | 'penlogd' | 'mergelogs'): string {
  return referenceFile('pen', `usr/bin/${program}`);
}

export function debianEnv(): NodeJS.ProcessEnv {
  const geoip = path.dirname(referenceFile('libgeoip1', 'usr/lib/x86_64-linux-gnu/libGeoIP.so.1'));
  return { ...process.env, LD_LIBRARY_PATH: geoip, TZ: 'UTC' };
}

/** Our program of the same name, unbundled. */
export function ours(program: 'penctl' | 'penlog' | 'penlogd' | 'mergelogs'): [string, string[]] {
  return [process.execPath, [...TSX_LOADER, path.join(PROJECT_ROOT, 'src/pen/bin', `${program}.ts`)]];
}

export function runDebian(program: Parameters<typeof debian>[0], args: string[], input?: string, env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  return run(debian(program), args, { env: { ...debianEnv(), ...env }, input, timeoutMs: 20000, stdoutEncoding: 'latin1' });
}

export function runOurs(program: Parameters<typeof ours>[0], args: string[], input?: string, env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  const [cmd, pre] = ours(program);
  return run(cmd, [...pre, ...args], { cwd: PROJECT_ROOT, env: { ...process.env, TZ: 'UTC', ...env }, input, timeoutMs: 30000, stdoutEncoding: 'latin1' });
}

/** A child with its output collected, for daemons run in the foreground. */
export interface Collected {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

export function collect(child: ChildProcess): Collected {
  let out = '';
  let err = '';
  child.stdout?.setEncoding('latin1');
  child.stdout?.on('data', (d: string) => (out += d));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

export function spawnDebian(program: Parameters<typeof debian>[0], args: string[]): Collected {
  return collect(spawn(debian(program), args, { env: debianEnv(), stdio: ['ignore', 'pipe', 'pipe'] }));
}

export function spawnOurs(program: Parameters<typeof ours>[0], args: string[], env: NodeJS.ProcessEnv = {}): Collected {
  const [cmd, pre] = ours(program);
  return collect(spawn(cmd, [...pre, ...args], { cwd: PROJECT_ROOT, env: { ...process.env, TZ: 'UTC', ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** Stops a child by its PID and waits for it, with a deadline. */
export async function stop(c: Collected, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (c.child.exitCode !== null || c.child.signalCode !== null) return c.child.exitCode;
  if (c.child.pid) process.kill(c.child.pid, signal);
  const timer = setTimeout(() => c.child.pid && process.kill(c.child.pid, 'SIGKILL'), 10000);
  const code = await c.exited;
  clearTimeout(timer);
  return code;
}
