import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { freePort, killAndWait, PROJECT_ROOT, tempDir, TSX_LOADER, waitForTcp } from '../support/process';
import { debian, debianEnv, runDebian } from './debian';

export type Kind = 'debian' | 'ours';

/** A backend that names itself in every answer and records the headers it saw. */
export class Backend {
  readonly seen: http.IncomingHttpHeaders[] = [];
  private server: http.Server | null = null;
  port = 0;

  constructor(readonly name: string) {}

  async start(port?: number): Promise<this> {
    this.port = port ?? (await freePort());
    this.server = http.createServer((req, res) => {
      this.seen.push(req.headers);
      res.setHeader('Connection', 'close');
      res.end(this.name);
    });
    this.server.keepAliveTimeout = 100;
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', () => r()));
    return this;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}

/**
 * A backend host that has stopped answering: a listener in a child process whose event loop is
 * blocked, its accept queue filled, so that the kernel drops every further SYN and a connect to it
 * can only time out. (A dead process would refuse at once instead, and Debian's pen 0.34.1 does not
 * fail over a refused connect; see specs/pen.md.)
 */
export class HungBackend {
  private child: ChildProcess | null = null;
  private readonly fillers: net.Socket[] = [];
  port = 0;

  async start(): Promise<this> {
    this.port = await freePort();
    const program = `const s = require('node:net').createServer();
      s.listen({ port: ${this.port}, host: '127.0.0.1', backlog: 1 }, () => {
        process.stdout.write('listening\\n');
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120000);
      });`;
    this.child = spawn(process.execPath, ['-e', program], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      this.child!.stdout!.once('data', () => resolve());
      this.child!.once('exit', (code) => reject(new Error(`the hung backend exited with status ${code}`)));
    });
    // Connections that complete fill the accept queue; once it is full the kernel drops SYNs.
    for (let i = 0; i < 4; i++) {
      const s = net.connect(this.port, '127.0.0.1');
      s.on('error', () => undefined);
      this.fillers.push(s);
    }
    await new Promise((r) => setTimeout(r, 200));
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.fillers.splice(0)) s.destroy();
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    // Reaped, not only a zombie: a zombie leader's other threads may still hold the port.
    const reaped = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await reaped;
  }
}

/** One pen, Debian's or ours, in the foreground, with a TCP control port. */
export class PenInstance {
  readonly root = tempDir('pen');
  port = 0;
  control = 0;
  child: ChildProcess | null = null;
  stderr = '';

  /** `env`: added to ours's environment (FLAVORKIT_PEN_DATA_PATH=handles for what only the handle path serves). */
  constructor(
    readonly kind: Kind,
    private readonly env: NodeJS.ProcessEnv = {},
  ) {
    // pen writes its PID file after dropping to nobody, as both pens do: nobody owns the root.
    fs.chmodSync(this.root, 0o755);
    fs.chownSync(this.root, 65534, 65534);
  }

  async start(args: string[], servers: string[]): Promise<this> {
    return this.launch(args, await freePort(), servers, true);
  }

  /** A UDP pen: nothing accepts TCP on its port, so readiness is its control port. */
  async startUdp(args: string[], port: number, servers: string[]): Promise<this> {
    return this.launch(args, port, servers, false);
  }

  private async launch(args: string[], port: number, servers: string[], tcp: boolean): Promise<this> {
    this.port = port;
    this.control = await freePort();
    const common = ['-f', '-u', 'nobody', '-C', `127.0.0.1:${this.control}`, '-p', path.join(this.root, 'pen.pid'), ...args, `127.0.0.1:${this.port}`, ...servers];
    this.child =
      this.kind === 'debian'
        ? spawn(debian('pen'), common, { env: debianEnv(), stdio: ['ignore', 'ignore', 'pipe'] })
        : spawn(process.execPath, [...TSX_LOADER, path.join(PROJECT_ROOT, 'src/pen/bin/pen.ts'), ...common], {
            cwd: PROJECT_ROOT,
            env: { ...process.env, FLAVOR: 'abc', FLAVORKIT_ROOT: this.root, ...this.env },
            stdio: ['ignore', 'ignore', 'pipe'],
          });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    const exited = new Promise<never>((_, reject) =>
      this.child!.once('exit', (code) => reject(new Error(`pen exited with status ${code}: ${this.stderr}`))),
    );
    // This probe is pen's first client: with -r it takes the first round-robin pick (server 1).
    await Promise.race([exited, (async () => {
      if (tcp) await waitForTcp(this.port);
      await waitForTcp(this.control);
    })()]);
    return this;
  }

  get pid(): number {
    return this.child!.pid!;
  }

  /** One control command over TCP, as penctl sends it. */
  ctl(command: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const s = net.connect(this.control, '127.0.0.1');
      let out = '';
      s.setEncoding('utf8');
      s.on('connect', () => s.write(`${command}\n`));
      s.on('data', (d: string) => (out += d));
      s.on('close', () => resolve(out));
      s.on('error', reject);
      s.setTimeout(5000, () => s.destroy(new Error(`no reply to ${command}`)));
    });
  }

  penctl(words: string[]): ReturnType<typeof runDebian> {
    return runDebian('penctl', [`127.0.0.1:${this.control}`, ...words]);
  }

  async stop(): Promise<void> {
    if (this.child?.pid) await killAndWait(this.child.pid, 'SIGTERM');
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/** A GET through pen (from `localAddress` when given): the backend's name, or '' when pen closed the connection. */
export function fetchName(port: number, headers: http.OutgoingHttpHeaders = {}, localAddress?: string): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', headers, localAddress, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
      res.on('error', () => resolve(''));
    });
    req.on('error', () => resolve(''));
    req.setTimeout(8000, () => req.destroy());
  });
}

/** Sequential clients, a little apart so that each one's connections are closed before the next. */
export async function sequence(port: number, n: number, gapMs = 100): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    out.push(await fetchName(port));
    await new Promise((r) => setTimeout(r, gapMs));
  }
  return out;
}
