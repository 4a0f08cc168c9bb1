// Fault injection shared by the daemons' fault tests: a small tmpfs as the log directory in a
// private mount namespace, filled and emptied from outside; hostile control clients; descriptors.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { CONTROL_CONNECTIONS_MAX, CONTROL_IDLE_MS } from '../../src/runtime';
import { askSocket, isAlive, run, waitFor, type Endpoint, type Ran } from '../support/process';

/**
 * Runs COMMAND (a daemon that detaches) in a private mount namespace where LOGDIR is a tmpfs of
 * SIZE_KB: the daemon and everything it starts stay there; the host's mounts are not touched.
 */
export function runWithSmallLogDisk(logDir: string, sizeKb: number, command: string[], env: NodeJS.ProcessEnv): Promise<Ran> {
  fs.mkdirSync(logDir, { recursive: true });
  return run(
    'unshare',
    ['--mount', '--propagation', 'private', '--', 'sh', '-c', `mount -t tmpfs -o size=${sizeKb}k,mode=0755 tmpfs "$0" && exec "$@"`, logDir, ...command],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeoutMs: 60000 },
  );
}

/** A shell command run in the mount namespace of PID (where its small log disk is). */
export function inNamespaceOf(pid: number, script: string): Promise<Ran> {
  return run('nsenter', ['-t', String(pid), '-m', '--', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'], timeoutMs: 30000 });
}

/** Fills the log disk of PID to the last byte; returns what the fill left free (0). */
export async function fillLogDisk(pid: number, logDir: string): Promise<void> {
  await inNamespaceOf(pid, `cat /dev/zero > "${logDir}/fill" 2>/dev/null; true`);
  const df = await inNamespaceOf(pid, `df -k --output=avail "${logDir}" | tail -1`);
  assert.equal(df.stdout.trim(), '0', `the log disk is full: ${df.stdout} ${df.stderr}`);
}

export async function freeLogDisk(pid: number, logDir: string): Promise<void> {
  await inNamespaceOf(pid, `rm -f "${logDir}/fill"`);
}

/** A file on PID's log disk, as that namespace sees it. */
export async function readInNamespace(pid: number, file: string): Promise<string> {
  return (await inNamespaceOf(pid, `cat "${file}"`)).stdout;
}

/** Sends SIGHUP COUNT times, a little apart, checking the daemon lives through each. */
export async function hangUps(pid: number, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    process.kill(pid, 'SIGHUP');
    await new Promise((r) => setTimeout(r, 10));
    assert.ok(isAlive(pid), `the daemon died at SIGHUP ${i + 1}`);
  }
}

export function openDescriptors(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

function connect(endpoint: Endpoint): net.Socket {
  return typeof endpoint === 'string' ? net.createConnection(endpoint) : net.createConnection(endpoint.port, endpoint.host);
}

/** Opens COUNT connections that never send anything; resolves once all are open (or closed). */
export async function idleClients(endpoint: Endpoint, count: number): Promise<{ destroy: () => void }> {
  const sockets: net.Socket[] = [];
  await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<void>((resolve) => {
        const s = connect(endpoint);
        sockets.push(s);
        s.on('error', () => undefined);
        s.once('connect', () => resolve());
        s.once('close', () => resolve());
      }),
    ),
  );
  return { destroy: () => sockets.forEach((s) => s.destroy()) };
}

/**
 * The hostile local client, in order: a 1 MB line, a half-closed request, and 300 idle
 * connections, of which the daemon (PID) holds at most CONTROL_CONNECTIONS_MAX and those only
 * for its idle limit, while it still answers ASK; its descriptors come back to where they were.
 */
export async function assaultControl(pid: number, endpoint: Endpoint, ask: () => Promise<string>, halfClosed: string, expect: RegExp): Promise<void> {
  const baseline = openDescriptors(pid);
  const huge = await askSocket(endpoint, `${'x'.repeat(1024 * 1024)}\n`, { halfClose: true, timeoutMs: 15000 }).catch((err: Error) => `(${err.message})`);
  assert.match(huge, /longer than|EPIPE|ECONNRESET|^$/, 'a 1 MB line is refused');
  assert.match(await askSocket(endpoint, halfClosed, { halfClose: true }), expect, 'a half-closed request gets its reply');
  const idle = await idleClients(endpoint, 300);
  try {
    assert.match(await ask(), expect, 'a request is answered while 300 idle clients are connected');
    assert.ok(openDescriptors(pid) <= baseline + CONTROL_CONNECTIONS_MAX + 2, `at most ${CONTROL_CONNECTIONS_MAX} control connections held, not ${openDescriptors(pid) - baseline}`);
    await waitFor('the idle control clients to be dropped', () => openDescriptors(pid) <= baseline, CONTROL_IDLE_MS + 10000);
  } finally {
    idle.destroy();
  }
}
