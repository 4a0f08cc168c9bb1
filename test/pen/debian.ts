import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import path from 'node:path';
import { referenceFile } from '../support/reference';
import { PROJECT_ROOT, TSX_LOADER, waitFor, type Ran } from '../support/process';

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
  return run(debian(program), args, { env: { ...debianEnv(), ...env }, input, timeoutMs: 20000 });
}

export function runOurs(program: Parameters<typeof ours>[0], args: string[], input?: string, env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  const [cmd, pre] = ours(program);
  return run(cmd, [...pre, ...args], { cwd: PROJECT_ROOT, env: { ...process.env, TZ: 'UTC', ...env }, input, timeoutMs: 30000 });
}

/** Runs a program to its end with a deadline; stdin is `input`, or nothing at all. */
export function run(command: string, args: string[], options: { env: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs: number }): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('latin1');
    child.stdout?.on('data', (d: string) => (stdout += d));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not finish in ${options.timeoutMs} ms\n${stderr}`));
    }, options.timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A program that exits without reading its input must not fail the test.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(options.input);
  });
}

/** A port that was free a moment ago on 127.0.0.1 (TCP or UDP). */
export async function freePort(kind: 'tcp' | 'udp' = 'tcp'): Promise<number> {
  if (kind === 'udp') {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const port = s.address().port;
    await new Promise<void>((r) => s.close(() => r()));
    return port;
  }
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Waits until something accepts TCP connections on 127.0.0.1:port. */
export function waitForTcp(port: number): Promise<true> {
  return waitFor(`127.0.0.1:${port} to accept`, () =>
    new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    }),
  );
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
