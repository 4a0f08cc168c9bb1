// Switch 50 entries up, restart one crashed child, stop all 50: isinit against runit, s6 and
// supervisord (Debian packages), in one run, on this machine. Children are `sleep` processes
// with a distinct duration per system, so each system's children are counted from /proc.
//   npx tsx bench/init/run.ts [rounds]
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { layout, loadFlavor, underRoot } from '../../src/flavor';

const N = 50;
const ROUNDS = Number(process.argv[2] ?? 3);
const ROOT = path.resolve(__dirname, '../..');

function childrenOf(marker: string): number[] {
  const pids: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (cmd === `sleep\0${marker}\0` && !/\) Z /.test(fs.readFileSync(`/proc/${d}/stat`, 'utf8'))) pids.push(Number(d));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

async function until(what: string, test: () => boolean, timeoutMs = 20000): Promise<number> {
  const start = process.hrtime.bigint();
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    // A short sleep, not a busy loop: scanning /proc back to back takes a core from the system measured.
    await new Promise((r) => setTimeout(r, 1));
  }
  return Number(process.hrtime.bigint() - start) / 1e6;
}

interface System {
  name: string;
  marker: string;
  /** Programs it needs on PATH, and the Debian package that has them. */
  needs?: { programs: string[]; debianPackage: string };
  setup(dir: string): Promise<void>;
  up(): void;
  down(): void;
  teardown(): Promise<void>;
}

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: 'ignore' });

/**
 * Stops a scanner started in a process group of its own, with its supervisors: TERM to the
 * group (runsvdir exits and each runsv stops its service and exits; s6-svscan and s6-supervise
 * alike), KILL to what is left after 5 s. Waits for the scanner itself, which this process
 * would otherwise wait for without end.
 */
async function stopGroup(scanner: ChildProcess, name: string): Promise<void> {
  if (!scanner.pid || scanner.exitCode !== null || scanner.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => scanner.once('exit', () => resolve()));
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-scanner.pid!, signal);
    } catch {
      // The group is gone already.
    }
  };
  signalGroup('SIGTERM');
  const stopped = await Promise.race([exited.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5000))]);
  if (!stopped) process.stderr.write(`${name}: still running 5 s after TERM; killed\n`);
  signalGroup('SIGKILL');
  await exited;
}

function svscanLike(name: string, marker: string, debianPackage: string, scanner: string, upCmd: (d: string) => [string, string[]], downCmd: (d: string) => [string, string[]]): System {
  let dir = '';
  let proc: ChildProcess | null = null;
  const dirs = () => Array.from({ length: N }, (_, i) => path.join(dir, `s${i}`));
  return {
    name,
    marker,
    needs: { programs: [scanner, upCmd('')[0]], debianPackage },
    async setup(d) {
      dir = d;
      for (const s of dirs()) {
        fs.mkdirSync(s, { recursive: true });
        fs.writeFileSync(path.join(s, 'run'), `#!/bin/sh\nexec sleep ${marker}\n`, { mode: 0o755 });
        fs.writeFileSync(path.join(s, 'down'), '');
      }
      proc = spawn(scanner, [dir], { stdio: 'ignore', detached: true });
      await until(`${name} supervisors`, () => dirs().every((s) => fs.existsSync(path.join(s, 'supervise', 'control')) || fs.existsSync(path.join(s, 'supervise', 'lock'))));
      await new Promise((r) => setTimeout(r, 300));
    },
    up() {
      for (const s of dirs()) {
        const [c, a] = upCmd(s);
        spawn(c, a, { stdio: 'ignore' });
      }
    },
    down() {
      for (const s of dirs()) {
        const [c, a] = downCmd(s);
        spawn(c, a, { stdio: 'ignore' });
      }
    },
    async teardown() {
      if (proc) await stopGroup(proc, name);
      for (const p of childrenOf(marker)) process.kill(p, 'SIGKILL');
    },
  };
}

function supervisord(): System {
  let dir = '';
  let conf = '';
  const marker = '3604';
  return {
    name: 'supervisord 4',
    marker,
    needs: { programs: ['supervisord', 'supervisorctl'], debianPackage: 'supervisor' },
    async setup(d) {
      dir = d;
      conf = path.join(dir, 'supervisord.conf');
      const programs = Array.from({ length: N }, (_, i) => `[program:s${i}]\ncommand=sleep ${marker}\nautostart=false\nstartsecs=0\nstopwaitsecs=5\n`).join('\n');
      fs.writeFileSync(conf, `[unix_http_server]\nfile=${dir}/s.sock\n[supervisord]\nlogfile=${dir}/log\npidfile=${dir}/pid\nchildlogdir=${dir}\n[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n[supervisorctl]\nserverurl=unix://${dir}/s.sock\n${programs}`);
      sh('supervisord', ['-c', conf]);
      await until('supervisord socket', () => fs.existsSync(`${dir}/s.sock`));
    },
    up: () => void spawn('supervisorctl', ['-c', conf, 'start', 'all'], { stdio: 'ignore' }),
    down: () => void spawn('supervisorctl', ['-c', conf, 'stop', 'all'], { stdio: 'ignore' }),
    async teardown() {
      try {
        sh('supervisorctl', ['-c', conf, 'shutdown']);
      } catch {
        // Already down.
      }
      for (const p of childrenOf(marker)) process.kill(p, 'SIGKILL');
    },
  };
}

/** isinit driven by its command-line client, or by a program that speaks its socket protocol. */
function isinit(viaSocket: boolean): System {
  let dir = '';
  const marker = viaSocket ? '3605' : '3606';
  const env = () => ({ ...process.env, FLAVOR: 'abc', FLAVORKIT_ROOT: dir });
  const tell = (level: string) => {
    const socket = net.connect(underRoot(layout(loadFlavor('abc'), 'init'), dir).controlSocket);
    socket.on('connect', () => socket.end(`bench ${level}\n`));
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
  };
  const cli = (args: string[]) => spawn(process.execPath, [path.join(dir, 'isinit'), '-c', path.join(dir, 'tab'), ...args], { stdio: 'ignore', env: env() });
  return {
    name: viaSocket ? 'isinit (ours, request on its socket)' : 'isinit (ours, isinit client)',
    marker,
    async setup(d) {
      dir = d;
      // The bundle, as shipped: built for flavor abc, moved under a private root.
      execFileSync(process.execPath, [path.join(ROOT, 'bin/flavor'), 'build', 'abc'], { env: { ...process.env, FLAVORKIT_DIST_DIR: path.join(dir, 'dist') }, stdio: 'ignore' });
      fs.copyFileSync(path.join(dir, 'dist/abc/init/root/usr/local/abc-init/bin/isinit'), path.join(dir, 'isinit'));
      fs.writeFileSync(path.join(dir, 'tab'), Array.from({ length: N }, (_, i) => `bench:s${i}:1:respawn:sleep ${marker}`).join('\n'));
      execFileSync(process.execPath, [path.join(dir, 'isinit'), '-c', path.join(dir, 'tab'), '-d', '--grace', '2'], { env: env(), stdio: 'ignore' });
    },
    up: () => (viaSocket ? tell('1') : void cli(['bench', '1'])),
    down: () => (viaSocket ? tell('0') : void cli(['bench', '0'])),
    async teardown() {
      execFileSync(process.execPath, [path.join(dir, 'isinit'), '-c', path.join(dir, 'tab'), '-k'], { env: env(), stdio: 'ignore' });
      for (const p of childrenOf(marker)) process.kill(p, 'SIGKILL');
    },
  };
}

async function measure(system: System): Promise<{ up: number[]; restart: number[]; down: number[] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-init-${system.marker}-`));
  const out = { up: [] as number[], restart: [] as number[], down: [] as number[] };
  try {
    await system.setup(dir);
    for (let round = 0; round < ROUNDS; round++) {
      system.up();
      out.up.push(await until(`${system.name} up`, () => childrenOf(system.marker).length === N));
      // Let supervisors see a healthy run before the crash (runit guards restarts within 1 s).
      await new Promise((r) => setTimeout(r, 1200));
      const victim = childrenOf(system.marker)[0]!;
      process.kill(victim, 'SIGKILL');
      out.restart.push(await until(`${system.name} restart`, () => { const now = childrenOf(system.marker); return now.length === N && !now.includes(victim); }));
      system.down();
      out.down.push(await until(`${system.name} down`, () => childrenOf(system.marker).length === 0));
      await new Promise((r) => setTimeout(r, 300));
    }
  } finally {
    await system.teardown();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

const onPath = (program: string) => (process.env.PATH ?? '').split(':').some((dir) => dir && fs.existsSync(path.join(dir, program)));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

(async () => {
  const systems = [
    isinit(true),
    isinit(false),
    svscanLike('runit (sv)', '3601', 'runit', 'runsvdir', (d) => ['sv', ['up', d]], (d) => ['sv', ['down', d]]),
    svscanLike('s6', '3602', 's6', 's6-svscan', (d) => ['s6-svc', ['-u', d]], (d) => ['s6-svc', ['-d', d]]),
    supervisord(),
  ];
  const rows: Array<[string, number, number, number]> = [];
  for (const s of systems) {
    const missing = s.needs?.programs.filter((p) => !onPath(p)) ?? [];
    if (missing.length) {
      process.stderr.write(`${s.name}: skipped, ${missing.join(' and ')} not found; apt-get install ${s.needs!.debianPackage}\n`);
      continue;
    }
    const r = await measure(s);
    rows.push([s.name, median(r.up), median(r.restart), median(r.down)]);
    process.stderr.write(`${s.name}: up ${r.up.map((x) => x.toFixed(0)).join(',')} restart ${r.restart.map((x) => x.toFixed(1)).join(',')} down ${r.down.map((x) => x.toFixed(0)).join(',')}\n`);
  }
  const ours = rows[0]!;
  console.log(`| system | 50 up (ms) | crashed child restarted (ms) | stop 50 (ms) | up ours/this | stop ours/this |`);
  console.log(`|---|---|---|---|---|---|`);
  for (const [name, up, restart, down] of rows) {
    console.log(`| ${name} | ${up.toFixed(0)} | ${restart.toFixed(1)} | ${down.toFixed(0)} | ${(ours[1] / up).toFixed(2)} | ${(ours[3] / down).toFixed(2)} |`);
  }
})();
