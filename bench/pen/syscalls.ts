// System calls per request, counted with strace -c -f on the proxy process (all its threads) while
// wrk drives it: Debian's pen, our pen on its FFI epoll loop (C rounds, and TypeScript rounds), on its handle path and on net, and
// the bare Node proxies on the FFI loop, on handles (pen's transport, and the smallest relay on the
// same handles) and on net. In close mode (`Connection:
// close`: a new client and backend connection each) wrk keeps one connection (-c1); with
// keep-alive it keeps 50, as the throughput benchmark does, so that each epoll_wait reports what
// it would under load.
//
//   npx tsx bench/pen/syscalls.ts                    # BENCH_SECONDS (3) of traced requests per proxy
//   BENCH_MODE=keepalive npx tsx bench/pen/syscalls.ts
//
// Prints a markdown table: calls per request, by system call. strace slows every proxy down, so
// only the counts mean anything, not the rates; and slowed down, a proxy finds fewer events ready
// per epoll_wait than at full speed. BENCH_COUNTER=perf counts instead with `perf stat` on the
// kernel's system-call tracepoints (all threads, little slowdown), with 50 clients in both modes
// as the throughput benchmark runs: the calls per request at the benchmark's own batching.
//
//   BENCH_COUNTER=perf npx tsx bench/pen/syscalls.ts
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { referenceFile } from '../../tools/reference';
import { freePort, waitForTcp } from '../../tools/ports';
import { BenchProcesses, fmt } from '../support/processes';
import { bundleBare, bundleOurs, nginx, ROOT, wrk, type Mode } from './setup';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const MODE: Mode = process.env.BENCH_MODE === 'keepalive' ? 'keepalive' : 'close';
const COUNTER = process.env.BENCH_COUNTER === 'perf' ? 'perf' : 'strace';
const CONNECTIONS = MODE === 'close' && COUNTER === 'strace' ? 1 : 50;
const bench = new BenchProcesses('pen-syscalls');

/** strace -c's summary as calls per system call. */
function parseSummary(text: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const line of text.split('\n')) {
    const t = line.trim().split(/\s+/);
    if (t.length < 5 || !/^[\d.]+$/.test(t[0]!) || t.at(-1) === 'total') continue;
    calls.set(t.at(-1)!, Number(t[3]));
  }
  return calls;
}

async function traced(child: ChildProcess, port: number): Promise<{ perRequest: Map<string, number>; requests: number }> {
  wrk(port, MODE, 1, CONNECTIONS);
  const out = path.join(bench.work, `strace-${child.pid}.txt`);
  const strace = spawn('strace', ['-c', '-f', '-q', '-o', out, '-p', String(child.pid)], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 500));
  const { requests } = wrk(port, MODE, SECONDS, CONNECTIONS);
  const exited = new Promise((r) => strace.once('exit', r));
  process.kill(strace.pid!, 'SIGINT');
  await exited;
  const perRequest = new Map([...parseSummary(fs.readFileSync(out, 'utf8'))].map(([k, v]) => [k, v / requests]));
  return { perRequest, requests };
}

/** `perf stat -x, -I` interval lines summed per system call (the tracepoint's name without its prefix). */
function parsePerfIntervals(text: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [, count, , event] = line.trim().split(',');
    const name = /^syscalls:sys_enter_(\w+)$/.exec(event ?? '')?.[1];
    if (name && /^\d+$/.test(count ?? '')) calls.set(name, (calls.get(name) ?? 0) + Number(count));
  }
  return calls;
}

async function countedByPerf(child: ChildProcess, port: number): Promise<{ perRequest: Map<string, number>; requests: number }> {
  wrk(port, MODE, 1, CONNECTIONS);
  const out = path.join(bench.work, `perf-${child.pid}.csv`);
  const perf = spawn('perf', ['stat', '-x,', '-I', '1000', '-o', out, '-e', 'syscalls:sys_enter_*', '-p', String(child.pid)], { stdio: 'ignore' });
  const exited = new Promise((r) => perf.once('exit', r));
  // perf attaches to some 350 tracepoints first (seconds); its first interval line says it counts.
  const deadline = Date.now() + 30_000;
  while (!(fs.existsSync(out) && fs.readFileSync(out, 'utf8').includes('sys_enter_'))) {
    if (perf.exitCode !== null || Date.now() > deadline) throw new Error('perf stat did not start counting (it needs the Debian package linux-perf and root, or kernel.perf_event_paranoid -1)');
    await new Promise((r) => setTimeout(r, 200));
  }
  // The idle second or so counted before wrk starts adds a few timer calls, not a call per request.
  const { requests } = wrk(port, MODE, SECONDS, CONNECTIONS);
  process.kill(perf.pid!, 'SIGINT');
  await exited;
  const perRequest = new Map([...parsePerfIntervals(fs.readFileSync(out, 'utf8'))].map(([k, v]) => [k, v / requests]));
  return { perRequest, requests };
}

async function main(): Promise<void> {
  const backends = [await freePort(), await freePort()];
  for (const b of backends) await nginx(bench, b);
  const targets = backends.map((b) => `127.0.0.1:${b}`);
  const bundle = bundleOurs(bench.work);
  if (!bundle) throw new Error('src/pen/bin/pen.ts is missing');
  const [lean, handles, handlesMin, ffi] = ['node-lean', 'node-handles', 'node-handles-min', 'node-ffi'].map((file) => bundleBare(bench.work, file));
  const geoip = path.dirname(referenceFile('libgeoip1', 'usr/lib/x86_64-linux-gnu/libGeoIP.so.1'));
  const proxies: Array<[string, (port: number) => ChildProcess]> = [
    ['Debian pen', (port) => bench.start(referenceFile('pen', 'usr/bin/pen'), ['-f', '-r', '-x', '10000', `127.0.0.1:${port}`, ...targets], { ...process.env, LD_LIBRARY_PATH: geoip })],
    ['ours, FFI', (port) => bench.start(process.execPath, [bundle, '-f', '-r', '-x', '10000', `127.0.0.1:${port}`, ...targets], { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules'), FLAVORKIT_ROOT: path.join(bench.work, 'root-f'), FLAVORKIT_PEN_DATA_PATH: 'ffi' })],
    ['ours, FFI, TypeScript rounds', (port) => bench.start(process.execPath, [bundle, '-f', '-r', '-x', '10000', `127.0.0.1:${port}`, ...targets], { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules'), FLAVORKIT_ROOT: path.join(bench.work, 'root-t'), FLAVORKIT_PEN_DATA_PATH: 'ffi', FLAVORKIT_PEN_FFI_ROUND: 'ts' })],
    ['ours, handles', (port) => bench.start(process.execPath, [bundle, '-f', '-r', '-x', '10000', `127.0.0.1:${port}`, ...targets], { ...process.env, FLAVORKIT_ROOT: path.join(bench.work, 'root-h'), FLAVORKIT_PEN_DATA_PATH: 'handles' })],
    ['ours, net', (port) => bench.start(process.execPath, [bundle, '-f', '-r', '-x', '10000', `127.0.0.1:${port}`, ...targets], { ...process.env, FLAVORKIT_ROOT: path.join(bench.work, 'root-n'), FLAVORKIT_PEN_DATA_PATH: 'net' })],
    ['bare, FFI', (port) => bench.start(process.execPath, [ffi, `127.0.0.1:${port}`, ...targets], { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules') })],
    ['bare, handles', (port) => bench.start(process.execPath, [handles, `127.0.0.1:${port}`, ...targets])],
    ['smallest, handles', (port) => bench.start(process.execPath, [handlesMin!, `127.0.0.1:${port}`, ...targets], { ...process.env, HANDLES_MIN: '' })],
    ['smallest + getpeername', (port) => bench.start(process.execPath, [handlesMin!, `127.0.0.1:${port}`, ...targets], { ...process.env, HANDLES_MIN: 'peer' })],
    ['bare, net', (port) => bench.start(process.execPath, [lean, `127.0.0.1:${port}`, ...targets])],
  ];
  const columns: Array<{ name: string; perRequest: Map<string, number>; requests: number }> = [];
  for (const [name, launch] of proxies) {
    const port = await freePort();
    const child = launch(port);
    await waitForTcp(port, name);
    columns.push({ name, ...(await (COUNTER === 'perf' ? countedByPerf : traced)(child, port)) });
    await bench.stop(child, 'SIGKILL');
  }
  const names = [...new Set(columns.flatMap((c) => [...c.perRequest.keys()]))].sort((a, b) => (columns[0]!.perRequest.get(b) ?? 0) - (columns[0]!.perRequest.get(a) ?? 0));
  const lines = [`| system call | ${columns.map((c) => c.name).join(' | ')} |`, `|---|${columns.map(() => '---:').join('|')}|`];
  for (const n of names) {
    const cells = columns.map((c) => c.perRequest.get(n) ?? 0);
    if (cells.every((x) => x < 0.05)) continue;
    lines.push(`| ${n} | ${cells.map((x) => fmt(x, 2)).join(' | ')} |`);
  }
  lines.push(`| **total** | ${columns.map((c) => `**${fmt([...c.perRequest.values()].reduce((a, b) => a + b, 0), 1)}**`).join(' | ')} |`);
  lines.push(`| requests traced | ${columns.map((c) => c.requests).join(' | ')} |`);
  process.stdout.write(`${MODE} mode, wrk -c${CONNECTIONS}, counted by ${COUNTER}\n\n${lines.join('\n')}\n`);
}

main()
  .catch((err) => {
    process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
    process.exitCode = 1;
  })
  .finally(() => {
    bench.stopping = true;
    bench.cleanup();
  });
