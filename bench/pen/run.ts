// pen benchmark: wrk through Debian's pen 0.34.1, haproxy (tcp mode), bare Node proxies (on net, on
// libuv handles and on the FFI epoll loop) and our pen (on its FFI epoll loop, on its handle path and forced onto net), each in front of the same two nginx backends on loopback, with keep-alive and with `Connection: close`, all
// in one run. Everything is started and stopped by PID; every wrk run is bounded in time.
//
//   npx tsx bench/pen/run.ts                 # 10 s per measurement
//   BENCH_SECONDS=5 BENCH_ROUNDS=3 BENCH_CONNECTIONS=50 npx tsx bench/pen/run.ts
//   BENCH_CPU_PROF=/tmp/prof npx tsx bench/pen/run.ts   # also profile our pen
//   BENCH_PROXIES=ours,handles npx tsx bench/pen/run.ts   # only these (Debian pen always runs; names in PROXY_NAMES)
//   BENCH_MODES=close npx tsx bench/pen/run.ts            # one mode only (printed, not written to the file)
//
// Writes the table to stdout and to docs/benchmarks/pen.md (BENCH_NO_WRITE=1 to skip the file).
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { referenceFile } from '../../tools/reference';
import { BenchProcesses, cpuTimes, fmt, loadAverage, peakRssMiB, ratio } from '../support/processes';
import { freePort, waitForTcp } from '../../tools/ports';
import { bundleBare, bundleOurs, nginx, ROOT, wrk, type Mode } from './setup';


const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** BENCH_MODES=close (or keepalive) measures one mode only. */
const MODES: readonly Mode[] = (process.env.BENCH_MODES ?? 'keepalive,close').split(',').map((m) => {
  if (m !== 'keepalive' && m !== 'close') {
    process.stderr.write(`BENCH_MODES names no mode "${m}"; use keepalive, close or both, comma-separated\n`);
    process.exit(2);
  }
  return m;
});
/** What BENCH_PROXIES may name, and what each is. */
const PROXY_NAMES = {
  pen: 'Debian pen (always measured)',
  haproxy: 'haproxy',
  baseline: 'bare net proxy with pipe()',
  lean: 'bare net proxy with data events',
  handles: 'bare proxy on the libuv handles',
  'handles-min': 'the smallest relay on the libuv handles (node-handles-min.ts)',
  'handles-min-peer': 'the same with getpeername at accept',
  'handles-min-alloc': 'the same with a buffer allocated per read',
  'handles-min-shutdown': 'the same passing the second EOF on as a half-close',
  'handles-min-late': 'the same starting the backend read once connected',
  'handles-min-all': 'the same with all four of the above',
  ffi: 'bare proxy on the FFI epoll loop',
  'ours-ffi': 'our pen on its FFI path (C rounds, the default)',
  'ours-ffi-ts': 'our pen on its FFI path with the TypeScript rounds (FLAVORKIT_PEN_FFI_ROUND=ts)',
  ours: 'our pen on its handle path',
  'ours-checks': 'our pen on its handle path with HTTP health checks',
  'ours-net': 'our pen on net',
} as const;

/** The proxies to measure; all when unset. A name not in PROXY_NAMES stops the run before it starts. */
const ONLY = process.env.BENCH_PROXIES ? new Set(['pen', ...process.env.BENCH_PROXIES.split(',').map((n) => n.trim()).filter(Boolean)]) : null;
const unknown = [...(ONLY ?? [])].filter((n) => !(n in PROXY_NAMES));
if (unknown.length > 0) {
  process.stderr.write(`BENCH_PROXIES names no proxy ${unknown.map((n) => `"${n}"`).join(', ')}; give some of:\n${Object.entries(PROXY_NAMES).map(([n, what]) => `  ${n.padEnd(12)} ${what}`).join('\n')}\n`);
  process.exit(2);
}
const wanted = (name: string) => !ONLY || ONLY.has(name);

const loadBefore = loadAverage();
const bench = new BenchProcesses('pen');
const { work } = bench;
const start = bench.start.bind(bench);

interface Proxy {
  name: keyof typeof PROXY_NAMES;
  label: string;
  port: number;
  child: ChildProcess;
}

interface Result {
  proxy: Proxy['name'];
  mode: Mode;
  rps: number;
  p50: number;
  p99: number;
  /** CPU time the proxy process spent per request, µs, in user space and in the kernel. */
  userUs: number;
  sysUs: number;
  errors: string;
}

function haproxyConfig(port: number, backends: number[]): string {
  return `global
  maxconn 8000
  nbthread 1
defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend bench
  bind 127.0.0.1:${port}
  default_backend nginx
backend nginx
  balance roundrobin
${backends.map((b, i) => `  server s${i} 127.0.0.1:${b}`).join('\n')}
`;
}

async function main(): Promise<void> {
  const penBin = referenceFile('pen', 'usr/bin/pen');
  const geoip = path.dirname(referenceFile('libgeoip1', 'usr/lib/x86_64-linux-gnu/libGeoIP.so.1'));
  const backends = [await freePort(), await freePort()];
  for (const b of backends) await nginx(bench, b);

  const proxies: Proxy[] = [];
  const penPort = await freePort();
  // -r: round robin across both backends (pen's default tracks the one client IP to one backend).
  const pen = start(penBin, ['-f', '-r', '-x', '10000', `127.0.0.1:${penPort}`, ...backends.map((b) => `127.0.0.1:${b}`)], { ...process.env, LD_LIBRARY_PATH: geoip });
  await waitForTcp(penPort, 'Debian pen');
  proxies.push({ name: 'pen', label: 'Debian pen 0.34.1', port: penPort, child: pen });

  if (wanted('haproxy')) {
    const haPort = await freePort();
    const haCfg = path.join(work, 'haproxy.cfg');
    fs.writeFileSync(haCfg, haproxyConfig(haPort, backends));
    const ha = start('haproxy', ['-db', '-f', haCfg]);
    await waitForTcp(haPort, 'haproxy');
    proxies.push({ name: 'haproxy', label: 'haproxy (tcp, 1 thread)', port: haPort, child: ha });
  }

  // Two Node references: the naive pipe proxy and a leaner one (see their files).
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_CPU_PROF)}`] : [];
  for (const [name, file, label] of [
    ['baseline', 'node-baseline', 'node baseline (net + pipe)'],
    ['lean', 'node-lean', 'node lean (data events, no pipe)'],
    ['handles', 'node-handles', 'node bare on libuv handles (transport.ts)'],
    // The smallest relay on the same handles, and with the costlier side of each of its choices (HANDLES_MIN).
    ['handles-min', 'node-handles-min', 'node smallest relay on libuv handles'],
    ['handles-min-peer', 'node-handles-min', 'smallest relay + getpeername'],
    ['handles-min-alloc', 'node-handles-min', 'smallest relay + buffer per read'],
    ['handles-min-shutdown', 'node-handles-min', 'smallest relay + second shutdown'],
    ['handles-min-late', 'node-handles-min', 'smallest relay + backend read after connect'],
    ['handles-min-all', 'node-handles-min', 'smallest relay + all four'],
    ['ffi', 'node-ffi', 'node bare on the FFI epoll loop (ffi/loop.ts)'],
  ] as const) {
    if (!wanted(name)) continue;
    const port = await freePort();
    const out = bundleBare(work, file);
    const variant = name === 'handles-min-all' ? 'peer,alloc,shutdown,late' : name.startsWith('handles-min-') ? name.slice('handles-min-'.length) : '';
    const child = start(process.execPath, [...profile, out, `127.0.0.1:${port}`, ...backends.map((b) => `127.0.0.1:${b}`)], { ...process.env, HANDLES_MIN: variant, NODE_PATH: path.join(ROOT, 'node_modules') });
    await waitForTcp(port, label);
    proxies.push({ name, label, port, child });
  }

  const bundle = bundleOurs(work);
  if (bundle) {
    // Ours on the FFI epoll loop, on the handles and forced onto net, the last fallback.
    // And on handles with an HTTP health check on each backend every 100 ms, the checks' cost.
    const checks = backends.flatMap((_, i) => ['-o', `server ${i} check http GET / 200 inter 100ms rise 2 fall 3`]);
    for (const [name, label, env, extra] of [
      ['ours-ffi', 'our pen (bundled, FFI epoll loop)', { FLAVORKIT_PEN_DATA_PATH: 'ffi' }, []],
      ['ours-ffi-ts', 'our pen (bundled, FFI loop, TypeScript rounds)', { FLAVORKIT_PEN_DATA_PATH: 'ffi', FLAVORKIT_PEN_FFI_ROUND: 'ts' }, []],
      // With and without checks next to each other, so that both meet the same spell of load.
      ['ours', 'our pen (bundled, handles)', { FLAVORKIT_PEN_DATA_PATH: 'handles' }, []],
      ['ours-checks', 'our pen (handles, HTTP checks every 100 ms)', { FLAVORKIT_PEN_DATA_PATH: 'handles' }, checks],
      ['ours-net', 'our pen (bundled, net fallback)', { FLAVORKIT_PEN_DATA_PATH: 'net' }, []],
    ] as const) {
      if (!wanted(name)) continue;
      const ourPort = await freePort();
      // BENCH_CPU_PROF=DIR writes V8 CPU profiles of the Node proxies there (node --cpu-prof).
      const ours = start(process.execPath, [...profile, bundle, '-f', '-r', '-x', '10000', ...extra, `127.0.0.1:${ourPort}`, ...backends.map((b) => `127.0.0.1:${b}`)], {
        ...process.env,
        ...env,
        // koffi stays outside the bundle (its addon loads by path), as in the packages.
        NODE_PATH: path.join(ROOT, 'node_modules'),
        FLAVORKIT_ROOT: path.join(work, `root-${name}`),
      });
      await waitForTcp(ourPort, label);
      proxies.push({ name, label, port: ourPort, child: ours });
    }
  } else {
    process.stderr.write('src/pen/bin/pen.ts is not in this tree: measuring Debian pen and haproxy only\n');
  }

  // The checks' own cost, apart from any traffic: CPU time of our pen with and without them over
  // the same idle spell (a share of one core; req/s under load can lose at most about that much).
  const idleCost = await idleCheckCost(proxies);

  // Every proxy is measured in each of ROUNDS rounds, the order rotated from round to round; the
  // table shows the round whose ours/pen ratio is the median, so a slow spell of a shared machine
  // weighs on every proxy of a round rather than on one.
  const results: Result[] = [];
  /** Every measurement of every round: CPU per request is also given as its median over the rounds. */
  const everyRound: Result[] = [];
  const roundRatios = new Map<string, number[]>();
  // Our pen with health checks over our pen without, round by round: their cost in req/s.
  const checkRatios = new Map<Mode, number[]>();
  const measured = (name: Proxy['name']) => proxies.some((p) => p.name === name);
  const ratioIn = (round: Result[], top: Proxy['name'], bottom: Proxy['name']) => {
    const t = round.find((x) => x.proxy === top);
    const b = round.find((x) => x.proxy === bottom);
    return t && b ? t.rps / b.rps : 0;
  };
  for (const mode of MODES) {
    for (const p of proxies) wrk(p.port, mode, WARMUP_SECONDS, CONNECTIONS);
    const rounds: Result[][] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const round: Result[] = [];
      for (let i = 0; i < proxies.length; i++) {
        const p = proxies[(i + r) % proxies.length]!;
        const before = cpuTimes(p.child.pid!);
        const w = wrk(p.port, mode, SECONDS, CONNECTIONS);
        const after = cpuTimes(p.child.pid!);
        const userUs = (after.user - before.user) / w.requests;
        const sysUs = (after.sys - before.sys) / w.requests;
        round.push({ proxy: p.name, mode, rps: w.rps, p50: w.p50, p99: w.p99, userUs, sysUs, errors: w.errors });
        process.stderr.write(
          `round ${r + 1} ${p.name} ${mode}: ${fmt(w.rps)} req/s, p50 ${fmt(w.p50, 2)} ms, p99 ${fmt(w.p99, 2)} ms, CPU/req ${fmt(userUs, 1)} µs user + ${fmt(sysUs, 1)} µs sys${w.errors ? ` (${w.errors})` : ''}\n`,
        );
      }
      rounds.push(round);
      everyRound.push(...round);
    }
    const overPen = (name: Proxy['name']) => (round: Result[]) => ratioIn(round, name, 'pen');
    // The median round by our pen on the FFI path (the path with targets against pen), else on the handles.
    const oursOverPen = overPen(measured('ours-ffi') ? 'ours-ffi' : 'ours');
    for (const name of ['ours-ffi', 'ours'] as const) if (measured(name)) roundRatios.set(`${mode}|${name}`, rounds.map(overPen(name)));
    if (measured('ours-checks') && measured('ours')) checkRatios.set(mode, rounds.map((round) => ratioIn(round, 'ours-checks', 'ours')));
    results.push(...[...rounds].sort((a, b) => oursOverPen(a) - oursOverPen(b))[Math.floor(rounds.length / 2)]!);
  }
  const rss = new Map(proxies.map((p) => [p.name, peakRssMiB(p.child.pid!)]));
  bench.stopping = true;
  for (const p of proxies.filter((x) => x.name !== 'pen' && x.name !== 'haproxy')) {
    if (!process.env.BENCH_CPU_PROF) break;
    // A clean stop, so that node writes the profile.
    await bench.stop(p.child, 'SIGTERM');
  }

  const get = (name: Proxy['name'], mode: Mode) => results.find((r) => r.proxy === name && r.mode === mode);
  const lines: string[] = [];
  lines.push('| mode | proxy | req/s | p50 ms | p99 ms | CPU µs/req user | CPU µs/req sys | peak RSS MiB | errors |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---|');
  for (const mode of MODES) {
    for (const p of proxies) {
      const r = get(p.name, mode)!;
      lines.push(
        `| ${mode} | ${p.label} | ${fmt(r.rps)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.userUs, 1)} | ${fmt(r.sysUs, 1)} | ${fmt(rss.get(p.name)!, 1)} | ${r.errors || '–'} |`,
      );
    }
  }
  // Every proxy against Debian's pen, in the same round: req/s, p99, CPU per request and peak RSS.
  const ratios: string[] = [];
  ratios.push('| mode | proxy | req/s ÷ pen | p99 ÷ pen | CPU/req ÷ pen (user+sys) | peak RSS ÷ pen |');
  ratios.push('|---|---|---:|---:|---:|---:|');
  for (const mode of MODES) {
    const p = get('pen', mode);
    for (const x of proxies.filter((q) => q.name !== 'pen')) {
      const r = get(x.name, mode);
      ratios.push(`| ${mode} | ${x.label} | ${ratio(r?.rps, p?.rps)} | ${ratio(r?.p99, p?.p99)} | ${ratio(r && r.userUs + r.sysUs, p && p.userUs + p.sysUs)} | ${ratio(rss.get(x.name), rss.get('pen'))} |`);
    }
  }
  // One round's figures are one sample per proxy; CPU per request over all rounds holds better.
  const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!;
  ratios.push('', `| mode | proxy | CPU µs/req user + sys, median of ${ROUNDS} rounds | ÷ pen |`, '|---|---|---:|---:|');
  for (const mode of MODES) {
    const cpu = (name: Proxy['name']) => {
      const mine = everyRound.filter((r) => r.mode === mode && r.proxy === name);
      return { user: median(mine.map((r) => r.userUs)), sys: median(mine.map((r) => r.sysUs)), total: median(mine.map((r) => r.userUs + r.sysUs)) };
    };
    const pen = cpu('pen');
    for (const x of proxies) {
      const c = cpu(x.name);
      ratios.push(`| ${mode} | ${x.label} | ${fmt(c.user, 1)} + ${fmt(c.sys, 1)} | ${ratio(c.total, pen.total)} |`);
    }
  }
  if (bundle) {
    ratios.push('', '| mode | ours | req/s ours/pen by round |', '|---|---|---|');
    for (const mode of MODES) {
      for (const name of ['ours-ffi', 'ours'] as const) {
        if (!roundRatios.has(`${mode}|${name}`)) continue;
        ratios.push(`| ${mode} | ${name === 'ours' ? 'handles' : 'FFI'} | ${(roundRatios.get(`${mode}|${name}`) ?? []).map((x) => `${x.toFixed(2)}×`).join(' ')} |`);
      }
    }
    if (checkRatios.size > 0) ratios.push('', '| mode | req/s with health checks ÷ without, by round | median |', '|---|---|---:|');
    for (const mode of MODES) {
      if (!checkRatios.has(mode)) continue;
      const byRound = checkRatios.get(mode) ?? [];
      const median = [...byRound].sort((x, y) => x - y)[Math.floor(byRound.length / 2)];
      ratios.push(`| ${mode} | ${byRound.map((x) => `${x.toFixed(3)}×`).join(' ')} | ${median?.toFixed(3) ?? '–'}× |`);
    }
    if (idleCost) ratios.push('', idleCost);
  }
  const machine = [
    `nproc: ${os.cpus().length}`,
    `memory: ${execFileSync('free', ['-h'], { encoding: 'utf8' }).split('\n')[1].trim().split(/\s+/)[1]} total`,
    `kernel: ${os.release()}`,
    `node: ${process.version}`,
    `wrk: -t1 -c${CONNECTIONS} -d${SECONDS}s --latency (after ${WARMUP_SECONDS} s of warm-up per proxy and mode), ${ROUNDS} rounds with the proxies in rotated order, the table from the round with the median ours/pen ratio (FFI path when measured)${ONLY ? `; proxies: ${[...ONLY].join(', ')}` : ''}; close mode adds -H "Connection: close"`,
    `backends: two ${spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim().replace('nginx version: ', '')} processes (1 worker each, fixed 200 reply); all on 127.0.0.1`,
  ];
  const report = `${lines.join('\n')}\n\n${ratios.join('\n')}\n`;
  process.stdout.write(`${report}\n${machine.join('\n')}\n`);
  // The file's table has both modes; a run of one mode prints only.
  if (new Set(MODES).size < 2 && !process.env.BENCH_NO_WRITE) process.stderr.write(`BENCH_MODES=${MODES.join(',')}: docs/benchmarks/pen.md is written by runs of both modes only\n`);
  else if (!process.env.BENCH_NO_WRITE) writeDoc(report, machine, Boolean(bundle));
}

/** CPU of `ours` and `ours-checks` over 10 idle seconds, as a sentence; null without them. */
async function idleCheckCost(proxies: Proxy[]): Promise<string | null> {
  const without = proxies.find((p) => p.name === 'ours');
  const withChecks = proxies.find((p) => p.name === 'ours-checks');
  if (!without || !withChecks) return null;
  const seconds = 10;
  const busy = (p: Proxy) => {
    const t = cpuTimes(p.child.pid!);
    return t.user + t.sys;
  };
  const before = [busy(without), busy(withChecks)];
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const [a, b] = [busy(without) - before[0]!, busy(withChecks) - before[1]!].map((us) => us / seconds / 1e4);
  return `Idle for ${seconds} s, CPU of one core: ${a!.toFixed(2)} % without checks, ${b!.toFixed(2)} % with an HTTP check of each backend every 100 ms (the checks: ${(b! - a!).toFixed(2)} %).`;
}

function writeDoc(table: string, machine: string[], withOurs: boolean): void {
  const file = path.join(ROOT, 'docs/benchmarks/pen.md');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  // Hand-written analysis below this marker survives a new run.
  const marker = '<!-- notes: kept across runs -->';
  const previous = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const notes = previous.includes(marker) ? previous.slice(previous.indexOf(marker)) : `${marker}\n`;
  fs.writeFileSync(
    file,
    `# pen: Debian pen 0.34.1 vs haproxy${withOurs ? ' vs ours' : ''}

Measured ${when}; load average before the run: ${loadBefore}. Compare ratios within one run
rather than absolute figures across runs.

wrk drives each proxy in turn, in the same run, in front of the same two nginx backends
(round robin: pen \`-r\`, haproxy \`balance roundrobin\`), once with HTTP keep-alive and once
with \`Connection: close\` (a new client and backend connection per request). Peak RSS is the
proxy's VmHWM after all its runs.

${table}
${withOurs ? '' : `**Our pen is not in this run**: no built bundle was found; \`npm run build\` first.

`}Reproduce: \`npx tsx bench/pen/run.ts\` (env: BENCH_SECONDS, BENCH_WARMUP_SECONDS, BENCH_ROUNDS, BENCH_CONNECTIONS,
BENCH_PROXIES to measure some of the proxies only;
BENCH_CPU_PROF=DIR also writes a CPU profile of our pen).
Needs the Debian packages wrk, haproxy, nginx-light (Debian's pen and libgeoip1 are extracted
with apt-get download, not installed).

Machine:
${machine.map((m) => `* ${m}`).join('\n')}

${notes}`,
  );
}

main()
  .catch((err) => {
    process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
    process.exitCode = 1;
  })
  .finally(() => bench.cleanup());
