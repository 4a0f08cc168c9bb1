// pen benchmark: wrk through Debian's pen 0.34.1, haproxy (tcp mode) and our pen, each in front
// of the same two nginx backends on loopback, with keep-alive and with `Connection: close`, all
// in one run. Everything is started and stopped by PID; every wrk run is bounded in time.
//
//   npx tsx bench/pen/run.ts                 # 10 s per measurement
//   BENCH_SECONDS=5 BENCH_ROUNDS=3 BENCH_CONNECTIONS=50 npx tsx bench/pen/run.ts
//   BENCH_CPU_PROF=/tmp/prof npx tsx bench/pen/run.ts   # also profile our pen
//
// Writes the table to stdout and to docs/benchmarks/pen.md (BENCH_NO_WRITE=1 to skip the file).
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { referenceFile } from '../../test/support/reference';
import { BenchProcesses, cpuTimes, fmt, freePort, loadAverage, peakRssMiB, ratio, wrkMs } from '../support/processes';

const loadBefore = loadAverage();
const bench = new BenchProcesses('pen');
const { work } = bench;
const start = bench.start.bind(bench);

const ROOT = path.resolve(__dirname, '../..');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const MODES = ['keepalive', 'close'] as const;
type Mode = (typeof MODES)[number];

interface Proxy {
  name: 'pen' | 'haproxy' | 'ours' | 'baseline' | 'lean';
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

async function waitForPort(port: number, what: string): Promise<void> {
  const deadline = Date.now() + 15000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not accept on 127.0.0.1:${port} within 15 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function nginx(port: number): Promise<ChildProcess> {
  const dir = path.join(work, `nginx-${port}`);
  fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log error;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  keepalive_requests 10000000;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / { default_type text/plain; return 200 "hello from ${port}\\n"; }
  }
}
`,
  );
  const child = start('nginx', ['-p', dir, '-c', conf]);
  await waitForPort(port, 'nginx');
  return child;
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

/** Our pen, bundled as the build would, if the daemon exists in this tree. */
function bundleOurs(): string | null {
  const entry = path.join(ROOT, 'src/pen/bin/pen.ts');
  if (!fs.existsSync(entry)) return null;
  const out = path.join(work, 'pen.js');
  execFileSync(
    path.join(ROOT, 'node_modules/.bin/esbuild'),
    [entry, '--bundle', '--platform=node', '--format=cjs', '--minify-syntax', `--outfile=${out}`, '--define:FLAVORKIT_FEATURES.tls=true', '--define:FLAVORKIT_FEATURES.udp=true', '--log-level=warning'],
    { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  return out;
}

function wrk(port: number, mode: Mode, seconds: number): { rps: number; p50: number; p99: number; requests: number; errors: string } {
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '--timeout', '5s'];
  if (mode === 'close') args.push('-H', 'Connection: close');
  args.push(`http://127.0.0.1:${port}/`);
  const out = execFileSync('wrk', args, { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p50 = wrkMs(/^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? 'NaNms');
  const p99 = wrkMs(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? 'NaNms');
  const errors = [/Socket errors:.*/.exec(out)?.[0], /Non-2xx or 3xx responses:.*/.exec(out)?.[0]].filter(Boolean).join('; ');
  const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
  return { rps, p50, p99, requests, errors };
}


async function main(): Promise<void> {
  const penBin = referenceFile('pen', 'usr/bin/pen');
  const geoip = path.dirname(referenceFile('libgeoip1', 'usr/lib/x86_64-linux-gnu/libGeoIP.so.1'));
  const backends = [await freePort(), await freePort()];
  for (const b of backends) await nginx(b);

  const proxies: Proxy[] = [];
  const penPort = await freePort();
  // -r: round robin across both backends (pen's default tracks the one client IP to one backend).
  const pen = start(penBin, ['-f', '-r', '-x', '10000', `127.0.0.1:${penPort}`, ...backends.map((b) => `127.0.0.1:${b}`)], { ...process.env, LD_LIBRARY_PATH: geoip });
  await waitForPort(penPort, 'Debian pen');
  proxies.push({ name: 'pen', label: 'Debian pen 0.34.1', port: penPort, child: pen });

  const haPort = await freePort();
  const haCfg = path.join(work, 'haproxy.cfg');
  fs.writeFileSync(haCfg, haproxyConfig(haPort, backends));
  const ha = start('haproxy', ['-db', '-f', haCfg]);
  await waitForPort(haPort, 'haproxy');
  proxies.push({ name: 'haproxy', label: 'haproxy (tcp, 1 thread)', port: haPort, child: ha });

  // Two Node references: the naive pipe proxy and a leaner one (see their files).
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_CPU_PROF)}`] : [];
  for (const [name, file, label] of [
    ['baseline', 'node-baseline', 'node baseline (net + pipe)'],
    ['lean', 'node-lean', 'node lean (data events, no pipe)'],
  ] as const) {
    const port = await freePort();
    const out = path.join(work, `${file}.js`);
    execFileSync(path.join(ROOT, 'node_modules/.bin/esbuild'), [path.join(__dirname, `${file}.ts`), '--bundle', '--platform=node', '--format=cjs', `--outfile=${out}`, '--log-level=warning'], { cwd: ROOT });
    const child = start(process.execPath, [...profile, out, `127.0.0.1:${port}`, ...backends.map((b) => `127.0.0.1:${b}`)]);
    await waitForPort(port, label);
    proxies.push({ name, label, port, child });
  }

  const bundle = bundleOurs();
  if (bundle) {
    const ourPort = await freePort();
    // BENCH_CPU_PROF=DIR writes V8 CPU profiles of the Node proxies there (node --cpu-prof).
    const ours = start(process.execPath, [...profile, bundle, '-f', '-r', '-x', '10000', `127.0.0.1:${ourPort}`, ...backends.map((b) => `127.0.0.1:${b}`)], {
      ...process.env,
      FLAVORKIT_ROOT: path.join(work, 'root'),
    });
    await waitForPort(ourPort, 'our pen');
    proxies.push({ name: 'ours', label: 'our pen (node, bundled)', port: ourPort, child: ours });
  } else {
    process.stderr.write('src/pen/bin/pen.ts is not in this tree: measuring Debian pen and haproxy only\n');
  }

  // Every proxy is measured in each of ROUNDS rounds, the order rotated from round to round; the
  // table shows the round whose ours/pen ratio is the median, so a slow spell of a shared machine
  // weighs on every proxy of a round rather than on one.
  const results: Result[] = [];
  const roundRatios = new Map<Mode, number[]>();
  for (const mode of MODES) {
    for (const p of proxies) wrk(p.port, mode, WARMUP_SECONDS);
    const rounds: Result[][] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const round: Result[] = [];
      for (let i = 0; i < proxies.length; i++) {
        const p = proxies[(i + r) % proxies.length]!;
        const before = cpuTimes(p.child.pid!);
        const w = wrk(p.port, mode, SECONDS);
        const after = cpuTimes(p.child.pid!);
        const userUs = (after.user - before.user) / w.requests;
        const sysUs = (after.sys - before.sys) / w.requests;
        round.push({ proxy: p.name, mode, rps: w.rps, p50: w.p50, p99: w.p99, userUs, sysUs, errors: w.errors });
        process.stderr.write(
          `round ${r + 1} ${p.name} ${mode}: ${fmt(w.rps)} req/s, p50 ${fmt(w.p50, 2)} ms, p99 ${fmt(w.p99, 2)} ms, CPU/req ${fmt(userUs, 1)} µs user + ${fmt(sysUs, 1)} µs sys${w.errors ? ` (${w.errors})` : ''}\n`,
        );
      }
      rounds.push(round);
    }
    const oursOverPen = (round: Result[]) => {
      const o = round.find((x) => x.proxy === 'ours');
      const p = round.find((x) => x.proxy === 'pen');
      return o && p ? o.rps / p.rps : 0;
    };
    roundRatios.set(mode, rounds.map(oursOverPen));
    results.push(...[...rounds].sort((a, b) => oursOverPen(a) - oursOverPen(b))[Math.floor(rounds.length / 2)]!);
  }
  const rss = new Map(proxies.map((p) => [p.name, peakRssMiB(p.child.pid!)]));
  bench.stopping = true;
  for (const p of proxies.filter((x) => x.name === 'ours' || x.name === 'baseline' || x.name === 'lean')) {
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
  const ratios: string[] = [];
  if (bundle) {
    ratios.push('| mode | req/s ours/pen | req/s ours/haproxy | p99 ours/pen | p99 ours/haproxy | peak RSS ours/pen | peak RSS ours/haproxy | req/s ours/pen by round |');
    ratios.push('|---|---:|---:|---:|---:|---:|---:|---|');
    for (const mode of MODES) {
      const o = get('ours', mode);
      const p = get('pen', mode);
      const h = get('haproxy', mode);
      ratios.push(
        `| ${mode} | ${ratio(o?.rps, p?.rps)} | ${ratio(o?.rps, h?.rps)} | ${ratio(o?.p99, p?.p99)} | ${ratio(o?.p99, h?.p99)} | ${ratio(rss.get('ours'), rss.get('pen'))} | ${ratio(rss.get('ours'), rss.get('haproxy'))} | ${(roundRatios.get(mode) ?? []).map((x) => `${x.toFixed(2)}×`).join(' ')} |`,
      );
    }
  } else {
    ratios.push('| mode | req/s pen/haproxy | p99 pen/haproxy | req/s baseline/pen | p99 baseline/pen | req/s lean/pen | p99 lean/pen |');
    ratios.push('|---|---:|---:|---:|---:|---:|---:|');
    for (const mode of MODES) {
      ratios.push(
        `| ${mode} | ${ratio(get('pen', mode)?.rps, get('haproxy', mode)?.rps)} | ${ratio(get('pen', mode)?.p99, get('haproxy', mode)?.p99)} | ${ratio(get('baseline', mode)?.rps, get('pen', mode)?.rps)} | ${ratio(get('baseline', mode)?.p99, get('pen', mode)?.p99)} | ${ratio(get('lean', mode)?.rps, get('pen', mode)?.rps)} | ${ratio(get('lean', mode)?.p99, get('pen', mode)?.p99)} |`,
      );
    }
  }
  const machine = [
    `nproc: ${os.cpus().length}`,
    `memory: ${execFileSync('free', ['-h'], { encoding: 'utf8' }).split('\n')[1].trim().split(/\s+/)[1]} total`,
    `kernel: ${os.release()}`,
    `node: ${process.version}`,
    `wrk: -t1 -c${CONNECTIONS} -d${SECONDS}s --latency (after ${WARMUP_SECONDS} s of warm-up per proxy and mode), ${ROUNDS} rounds with the proxies in rotated order, the table from the round with the median ours/pen ratio; close mode adds -H "Connection: close"`,
    `backends: two ${spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim().replace('nginx version: ', '')} processes (1 worker each, fixed 200 reply); all on 127.0.0.1`,
  ];
  const report = `${lines.join('\n')}\n\n${ratios.join('\n')}\n`;
  process.stdout.write(`${report}\n${machine.join('\n')}\n`);
  if (!process.env.BENCH_NO_WRITE) writeDoc(report, machine, Boolean(bundle));
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

`}Reproduce: \`npx tsx bench/pen/run.ts\` (env: BENCH_SECONDS, BENCH_WARMUP_SECONDS, BENCH_ROUNDS, BENCH_CONNECTIONS;
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
