import fs from 'node:fs';
import path from 'node:path';
import { afterEach } from 'node:test';
import { layout, loadFlavor, underRoot, type Layout } from '../../src/flavor';
import { readInitstat } from '../../src/init/initstat';
import { askSocket, isAlive, killAndWait, run, runTs, spawnTs, tempDir, waitFor, type Ran } from '../support/process';

const ISINIT = 'src/init/bin/isinit.ts';
/** The grace period of the daemons tests start: TERM, then KILL after this long. */
export const GRACE_S = 2;

export interface Reply {
  ok: boolean;
  error?: string;
  results?: Array<{ group: string; tag: string; action: string; pid?: number; exitCode?: number | null; error?: string }>;
  groups?: Array<{ group: string; level: string; state: string }>;
  entries?: Array<{ group: string; tag: string; state: string; pid: number | null; restarts: number; heldUntil: string | null }>;
  warnings?: string[];
}

/** One isinit daemon of flavor abc in a private root, with its isinittab and an output file. */
export class InitHarness {
  readonly root = tempDir('init');
  readonly layout: Layout<'init'> = underRoot(layout(loadFlavor('abc'), 'init'), this.root);
  readonly out = path.join(this.root, 'out');
  readonly tab = path.join(this.root, 'isinittab');
  private daemonPid: number | null = null;
  private logged = '';
  private readonly seenPids = new Set<number>();

  /** The program run as isinit: the sources, or a bundle (run with this Node). */
  program: string | null = null;

  constructor(tab: string) {
    this.writeTab(tab);
    fs.writeFileSync(this.out, '');
  }

  /** `OUT` in the table stands for this harness's output file. */
  writeTab(tab: string): void {
    fs.writeFileSync(this.tab, tab.replaceAll('OUT', this.out));
  }

  env(): NodeJS.ProcessEnv {
    return { FLAVOR: 'abc', FLAVORKIT_ROOT: this.root };
  }

  isinit(args: string[]): Promise<Ran> {
    if (this.program) return run(process.execPath, [this.program, '-c', this.tab, ...args], { env: { ...process.env, ...this.env() }, timeoutMs: 60000 });
    return runTs(ISINIT, ['-c', this.tab, ...args], this.env());
  }

  async start(extra: string[] = []): Promise<number> {
    const started = await this.isinit(['-d', '--grace', String(GRACE_S), ...extra]);
    if (started.code !== 0) throw new Error(`isinit -d failed: ${started.stderr}`);
    this.daemonPid = Number(fs.readFileSync(this.layout.pidFile, 'utf8'));
    return this.daemonPid;
  }

  /**
   * Starts the daemon in the foreground (-f) as a child of the test, keeping what it logs: in the
   * foreground every line goes to stderr, whether or not syslog takes it too.
   */
  async startLogged(): Promise<number> {
    const daemon = spawnTs(ISINIT, ['-c', this.tab, '-f', '--grace', String(GRACE_S)], this.env());
    daemon.stdout?.resume();
    daemon.stderr?.setEncoding('utf8').on('data', (d: string) => (this.logged += d));
    await waitFor('the daemon to serve', () => this.logged.includes(' started (flavor') || daemon.exitCode !== null);
    if (daemon.exitCode !== null) throw new Error(`isinit -f exited with ${daemon.exitCode}: ${this.logged}`);
    this.daemonPid = daemon.pid!;
    return this.daemonPid;
  }

  /** The lines logged by a daemon started with startLogged. */
  logLines(): string[] {
    return this.logged.split('\n').filter((l) => l !== '');
  }

  waitLog(what: string, pattern: RegExp, timeoutMs = 10000): Promise<string> {
    return waitFor(what, () => this.logLines().find((l) => pattern.test(l)), timeoutMs);
  }

  get pid(): number {
    if (this.daemonPid === null) throw new Error('daemon not started');
    return this.daemonPid;
  }

  async request(body: object | string): Promise<Reply> {
    const line = typeof body === 'string' ? body : JSON.stringify(body);
    const reply = JSON.parse(await askSocket(this.layout.controlSocket, line, 30000)) as Reply;
    for (const r of reply.results ?? []) if (r.pid) this.seenPids.add(r.pid);
    for (const e of reply.entries ?? []) if (e.pid) this.seenPids.add(e.pid);
    return reply;
  }

  tell(group: string, level: string): Promise<Reply> {
    return this.request({ op: 'switch', group, level });
  }

  /** A switch, with when it was asked and how long its answer took. */
  async timedTell(group: string, level: string): Promise<{ reply: Reply; asked: number; took: number }> {
    const asked = Date.now();
    const reply = await this.tell(group, level);
    return { reply, asked, took: Date.now() - asked };
  }

  status(): Promise<Reply> {
    return this.request({ op: 'status' });
  }

  lines(): string[] {
    return fs.readFileSync(this.out, 'utf8').split('\n').filter((l) => l !== '');
  }

  clearOut(): void {
    fs.writeFileSync(this.out, '');
  }

  waitLines(what: string, test: (lines: string[]) => boolean, timeoutMs = 10000): Promise<string[]> {
    return waitFor(what, () => {
      const lines = this.lines();
      return test(lines) ? lines : null;
    }, timeoutMs);
  }

  groupState(group: string): { state: string; level: string } | undefined {
    return readInitstat(this.layout.files.initstat)?.find((r) => r.group === group);
  }

  /** Restarts the daemon process alone: its children keep running. */
  async restartDaemon(): Promise<number> {
    const old = this.pid;
    process.kill(old, 'SIGTERM');
    await waitFor('the daemon to exit', () => !isAlive(old));
    return this.start();
  }

  async cleanup(): Promise<void> {
    if (this.daemonPid && isAlive(this.daemonPid)) {
      try {
        await this.request({ op: 'kill' });
      } catch {
        // Already gone.
      }
      await killAndWait(this.daemonPid);
    }
    for (const pid of this.seenPids) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Its group is gone.
      }
    }
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/** Makes harnesses for the tests of a file, each cleaned up (daemon, children, files) after its test. */
export function harnessPerTest(): (tab: string) => InitHarness {
  const made: InitHarness[] = [];
  afterEach(async () => {
    for (const h of made.splice(0)) await h.cleanup();
  });
  return (tab) => {
    const h = new InitHarness(tab);
    made.push(h);
    return h;
  };
}
