// Our pen before and after a change, side by side with Debian pen: the bundle of a git revision
// (BENCH_BASE, HEAD by default) and the bundle of the working tree, both on the data path
// BENCH_DATA_PATH names (ffi by default; handles or net), in front of the same two nginx backends,
// rounds alternated so that all meet the same spells of load. On a shared machine only what is
// measured in the same rounds compares, and CPU time per request more reliably than req/s.
// BENCH_BARE=1 adds the working tree's bare proxy on that path (node-handles.ts or node-ffi.ts),
// pen's byte path without pen: what pen's own code costs on top of it. BENCH_BARE=min on handles
// adds the smallest relay on those handles too (node-handles-min.ts): the floor of the handle API.
//
//   BENCH_MODE=keepalive BENCH_ROUNDS=6 BENCH_SECONDS=4 npx tsx bench/pen/ab.ts
//   BENCH_BASE=HEAD~2 npx tsx bench/pen/ab.ts
//   BENCH_DATA_PATH=handles BENCH_BARE=1 BENCH_MODE=close npx tsx bench/pen/ab.ts
//   BENCH_DATA_PATH=handles BENCH_BARE=min BENCH_MODE=close npx tsx bench/pen/ab.ts
//
// Each pen's start-up line names the data path it runs; a pen on another one stops the run.
//
// Prints, per proxy, the median req/s, p99 and CPU µs per request (user + sys), and per round the
// after ÷ before ratios; writes no file.
import { execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { referenceFile } from '../../tools/reference';
import { freePort, waitForTcp } from '../../tools/ports';
import { BenchProcesses, cpuTimes, fmt, loadAverage } from '../support/processes';
import { bundleBare, bundleOurs, nginx, ROOT, wrk, type Mode } from './setup';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const MODE: Mode = process.env.BENCH_MODE === 'close' ? 'close' : 'keepalive';
const BASE = process.env.BENCH_BASE ?? 'HEAD';
const DATA_PATH = process.env.BENCH_DATA_PATH ?? 'ffi';
/** What pen logs at start for each data path. */
const PATH_LINES: Record<string, string> = { ffi: 'data path: an epoll loop on libc (FFI)', handles: 'data path: libuv stream handles', net: 'data path: net' };
/** The bare proxy on each data path that has one. */
const BARE: Record<string, string> = { ffi: 'node-ffi', handles: 'node-handles' };
if (!(DATA_PATH in PATH_LINES)) {
  process.stderr.write(`BENCH_DATA_PATH=${DATA_PATH} names no data path; use ffi, handles or net\n`);
  process.exit(2);
}
if (process.env.BENCH_BARE && !(DATA_PATH in BARE)) {
  process.stderr.write(`BENCH_BARE: there is no bare proxy on ${DATA_PATH}; use BENCH_DATA_PATH=ffi or handles\n`);
  process.exit(2);
}
if (process.env.BENCH_BARE === 'min' && DATA_PATH !== 'handles') {
  process.stderr.write('BENCH_BARE=min: the smallest relay runs on the handles; use BENCH_DATA_PATH=handles\n');
  process.exit(2);
}
const bench = new BenchProcesses('pen-ab');

interface Measured {
  rps: number;
  p99: number;
  user: number;
  sys: number;
}

/**
 * The tree of `revision`, bundled, with the working tree's packages but its own copy of koffi:
 * the FFI loop looks for its C round's library beside koffi (node_modules/.cache), and each
 * revision must load the library built from its own relay.c.
 */
function bundleRevision(revision: string): { bundle: string; nodePath: string } {
  const tree = path.join(bench.work, 'base');
  fs.mkdirSync(tree);
  const archive = execFileSync('git', ['archive', revision], { cwd: ROOT, maxBuffer: 1 << 30 });
  execFileSync('tar', ['-x', '-C', tree], { input: archive });
  const modules = path.join(tree, 'node_modules');
  fs.mkdirSync(modules);
  for (const entry of fs.readdirSync(path.join(ROOT, 'node_modules'))) {
    if (entry === '.cache') continue;
    if (entry === 'koffi') fs.cpSync(path.join(ROOT, 'node_modules', entry), path.join(modules, entry), { recursive: true, dereference: true });
    else fs.symlinkSync(path.join(ROOT, 'node_modules', entry), path.join(modules, entry));
  }
  const out = path.join(bench.work, 'before');
  fs.mkdirSync(out);
  execFileSync(process.execPath, ['--import', 'tsx', '-e', `require(${JSON.stringify(path.join(tree, 'bench/pen/setup.ts'))}).bundleOurs(${JSON.stringify(out)})`], { cwd: tree, stdio: 'inherit' });
  return { bundle: path.join(out, 'pen.js'), nodePath: modules };
}

function measure(child: ChildProcess, port: number): Measured {
  const before = cpuTimes(child.pid!);
  const r = wrk(port, MODE, SECONDS, CONNECTIONS);
  const after = cpuTimes(child.pid!);
  return { rps: r.rps, p99: r.p99, user: (after.user - before.user) / r.requests, sys: (after.sys - before.sys) / r.requests };
}

/**
 * Resolves once `child` has logged which data path it runs (and on the FFI loop, which rounds),
 * and fails when that is not DATA_PATH's (or not the C rounds, unless FLAVORKIT_PEN_FFI_ROUND=ts asks otherwise).
 */
function checkDataPath(child: ChildProcess, name: string): Promise<void> {
  const rounds = DATA_PATH === 'ffi' ? (process.env.FLAVORKIT_PEN_FFI_ROUND === 'ts' ? 'TypeScript' : 'C') : null;
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${name} logged no data path within 10 s: ${seen}`)), 10_000);
    child.stderr!.on('data', (d: Buffer) => {
      seen += d.toString();
      const line = /data path: [^\n]*/.exec(seen)?.[0];
      const roundsLine = /FFI loop: relaying in [^\n]*/.exec(seen)?.[0];
      if (!line || (rounds && !roundsLine)) return;
      clearTimeout(timer);
      if (!line.startsWith(PATH_LINES[DATA_PATH]!)) reject(new Error(`${name} runs "${line}", not ${DATA_PATH}`));
      else if (rounds && !roundsLine!.startsWith(`FFI loop: relaying in ${rounds} rounds`)) reject(new Error(`${name}: "${roundsLine}", not the ${rounds} rounds`));
      else resolve();
    });
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const load = loadAverage();
  const backends = [await freePort(), await freePort()];
  for (const b of backends) await nginx(bench, b);
  const servers = backends.map((b) => `127.0.0.1:${b}`);
  const geoip = path.dirname(referenceFile('libgeoip1', 'usr/lib/x86_64-linux-gnu/libGeoIP.so.1'));
  const proxies: Array<{ name: string; port: number; child: ChildProcess }> = [];
  const penPort = await freePort();
  proxies.push({ name: 'Debian pen', port: penPort, child: bench.start(referenceFile('pen', 'usr/bin/pen'), ['-f', '-r', '-x', '10000', `127.0.0.1:${penPort}`, ...servers], { ...process.env, LD_LIBRARY_PATH: geoip }) });
  await waitForTcp(penPort, 'Debian pen');
  const after = { bundle: bundleOurs(bench.work)!, nodePath: path.join(ROOT, 'node_modules') };
  for (const [name, { bundle, nodePath }] of [[`before (${BASE})`, bundleRevision(BASE)], ['after (working tree)', after]] as const) {
    const port = await freePort();
    const env = { ...process.env, FLAVORKIT_PEN_DATA_PATH: DATA_PATH, NODE_PATH: nodePath, FLAVORKIT_ROOT: path.join(bench.work, `root-${proxies.length}`) };
    const child = bench.start(process.execPath, [bundle, '-f', '-r', '-x', '10000', `127.0.0.1:${port}`, ...servers], env);
    proxies.push({ name, port, child });
    await Promise.all([checkDataPath(child, name), waitForTcp(port, name)]);
  }
  const bareFiles = !process.env.BENCH_BARE ? [] : process.env.BENCH_BARE === 'min' ? [BARE[DATA_PATH]!, 'node-handles-min'] : [BARE[DATA_PATH]!];
  for (const file of bareFiles) {
    const out = bundleBare(bench.work, file);
    const port = await freePort();
    const name = `bare on ${DATA_PATH} (${file}.ts, working tree)`;
    proxies.push({ name, port, child: bench.start(process.execPath, [out, `127.0.0.1:${port}`, ...servers], { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules') }) });
    await waitForTcp(port, name);
  }
  for (const p of proxies) wrk(p.port, MODE, 2, CONNECTIONS);
  const rounds: Measured[][] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Rotated: each proxy goes first, second and last as often as the others.
    const order = proxies.map((_, i) => (i + round) % proxies.length);
    const results: Measured[] = [];
    for (const i of order) results[i] = measure(proxies[i]!.child, proxies[i]!.port);
    rounds.push(results);
  }
  const lines = [`mode ${MODE}, data path ${DATA_PATH}, ${ROUNDS} rounds of ${SECONDS} s, wrk -c${CONNECTIONS}; load average ${load} before, ${loadAverage()} after`, '', '| proxy | req/s | p99 ms | CPU µs/req user + sys |', '|---|---:|---:|---:|'];
  proxies.forEach((p, i) => {
    const m = (f: (r: Measured) => number) => median(rounds.map((r) => f(r[i]!)));
    lines.push(`| ${p.name} | ${fmt(m((r) => r.rps))} | ${fmt(m((r) => r.p99), 2)} | ${fmt(m((r) => r.user), 2)} + ${fmt(m((r) => r.sys), 2)} |`);
  });
  const byRound = (f: (r: Measured) => number, a: number, b: number) => rounds.map((r) => (f(r[a]!) / f(r[b]!)).toFixed(2)).join(' ');
  lines.push('', 'by round, after ÷ before: req/s ' + byRound((r) => r.rps, 2, 1) + '; user ' + byRound((r) => r.user, 2, 1) + '; user + sys ' + byRound((r) => r.user + r.sys, 2, 1));
  lines.push('by round, ÷ Debian pen: req/s before ' + byRound((r) => r.rps, 1, 0) + ', after ' + byRound((r) => r.rps, 2, 0) + '; p99 before ' + byRound((r) => r.p99, 1, 0) + ', after ' + byRound((r) => r.p99, 2, 0));
  if (proxies.length > 3) lines.push('by round, ÷ the bare proxy: req/s after ' + byRound((r) => r.rps, 2, 3) + '; user + sys before ' + byRound((r) => r.user + r.sys, 1, 3) + ', after ' + byRound((r) => r.user + r.sys, 2, 3));
  if (proxies.length > 4) {
    lines.push('by round, ÷ the smallest relay: req/s after ' + byRound((r) => r.rps, 2, 4) + ', bare ' + byRound((r) => r.rps, 3, 4) + '; user + sys after ' + byRound((r) => r.user + r.sys, 2, 4) + ', bare ' + byRound((r) => r.user + r.sys, 3, 4));
    lines.push('by round, the smallest relay ÷ Debian pen: req/s ' + byRound((r) => r.rps, 4, 0) + '; user + sys ' + byRound((r) => r.user + r.sys, 4, 0));
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main()
  .catch((err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exitCode = 1;
  })
  .finally(() => bench.cleanup());
