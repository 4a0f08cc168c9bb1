// depot benchmark: file/1 throughput and catalog/manifest latency of our depot against nginx
// serving the same repository files statically, in one run, with 50 concurrent clients; and
// search/1 rates and CPU per query on a generated 10,000-package repository, each query asked
// again and again and also never repeated (past the answer cache). Everything is started and stopped
// by PID; every wrk run is bounded in time.
//
//   npx tsx bench/depot/run.ts                       # 10 s per measurement
//   BENCH_SECONDS=5 BENCH_ROUNDS=3 BENCH_SEARCH_PACKAGES=10000 npx tsx bench/depot/run.ts
//   BENCH_CASES=search npx tsx bench/depot/run.ts    # only some parts: files, sample, search
//
// Needs the Debian packages wrk and nginx-light. Prints the tables; writes docs/benchmarks/depot.md
// when every part ran, unless BENCH_NO_WRITE=1.
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { buildFlavor } from '../../src/builder/build';
import { layout, loadFlavor } from '../../src/flavor';
import { FIXTURES_DIR } from '../../tools/places';
import { pkgQuote } from '../../src/depot/fmri';
import { DEFAULT_SEARCH_STREAMS } from '../../src/depot/search/service';
import { generateRepository, type PackageSpec } from '../../tools/repogen/generate';
import { syntheticRepository } from '../../tools/repogen/synthetic';
import { BenchProcesses, cpuTimes, fmt, loadAverage, peakRssMiB, ratio, wrkMs } from '../support/processes';
import { freePort } from '../../tools/ports';

const loadBefore = loadAverage();
const bench = new BenchProcesses('depot');
const { work } = bench;
const start = bench.start.bind(bench);

const ROOT = path.resolve(__dirname, '../..');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
/**
 * Ours and nginx are measured this many times per request, alternately, and their ratio is the
 * median of the rounds': on a shared machine a slow spell then weighs on both, not on one.
 */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SEARCH_PACKAGES = Number(process.env.BENCH_SEARCH_PACKAGES ?? 10000);
/** Clients asking the match-all search at once: as many as the depot streams large answers to by default. */
const MATCH_ALL_CLIENTS = DEFAULT_SEARCH_STREAMS;
/** Answers each of those clients asks for, one after the other. */
const MATCH_ALL_ROUNDS = 3;
/** The parts of the benchmark, each run unless BENCH_CASES names others. */
const ALL_PARTS = ['files', 'sample', 'search'] as const;
const PARTS = new Set((process.env.BENCH_CASES ?? ALL_PARTS.join(',')).split(',').map((p) => p.trim()));
for (const part of PARTS) {
  if (!(ALL_PARTS as readonly string[]).includes(part)) {
    process.stderr.write(`bench/depot: BENCH_CASES names "${part}"; the parts are ${ALL_PARTS.join(', ')} (comma-separated)\n`);
    bench.cleanup();
    process.exit(2);
  }
}
const PUB = 'bench';
const VERSION = '1.0,5.11-0:20250101T000000Z';
/** The servers measured side by side, ours first. */
const SERVERS = ['ours', 'nginx', 'nginx + log', 'nginx, no sendfile', 'bare Node'] as const;
type Server = (typeof SERVERS)[number];
const NGINX_VARIANTS: Array<[Server, NginxVariant]> = [
  ['nginx', { accessLog: false, sendfile: true }],
  ['nginx + log', { accessLog: true, sendfile: true }],
  ['nginx, no sendfile', { accessLog: false, sendfile: false }],
];
const SIZES = [
  ['1 KB', 1024],
  ['100 KB', 100 * 1024],
  ['10 MB', 10 * 1024 * 1024],
] as const;

const PAM_MARKER = '# written by bench/depot; removed when it ends';

/**
 * The flavor's PAM service for the wrong-password case, with pam_unix and its failure delay; null
 * when a PAM file of that name exists that the benchmark did not write (it is never overwritten).
 */
function writeBenchPam(): (() => void) | null {
  const file = `/etc/pam.d/${layout(loadFlavor('abc'), 'depot').pamService}`;
  if (fs.existsSync(file) && !fs.readFileSync(file, 'utf8').startsWith(PAM_MARKER)) return null;
  fs.writeFileSync(file, `${PAM_MARKER}\nauth required pam_unix.so\naccount required pam_unix.so\n`, { mode: 0o644 });
  return () => fs.rmSync(file, { force: true });
}

/** Runs `pester.ts` against a port while `during` measures; the pester is stopped by PID after. */
async function pestered<T>(port: number, mode: 'admin' | 'glob', during: () => T): Promise<T> {
  const pester = start(process.execPath, ['--import', 'tsx', path.join(__dirname, 'pester.ts'), String(port), mode]);
  // Its start (Node, the TypeScript loader) is over and its first requests are under way before
  // the measurement starts: a start overlapping one server's run would weigh on that one alone.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  try {
    return during();
  } finally {
    await bench.stop(pester, 'SIGTERM');
  }
}

/** CPU time (user + system, µs) of a process's children as they are now; children gone count 0. */
function childrenCpuUs(pid: number): number {
  const listed = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  return listed.reduce((sum, child) => {
    try {
      const t = cpuTimes(Number(child));
      return sum + t.user + t.sys;
    } catch {
      return sum;
    }
  }, 0);
}

/** Status of a GET, or 0 when nothing answers. */
function status(port: number, urlPath: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.setTimeout(60000, () => req.destroy());
  });
}

/** The body of an answer ('' on error). */
/** One answer read through and dropped: its size in bytes and how long it took (ms). */
function drain(port: number, urlPath: string): Promise<{ bytes: number; ms: number }> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('end', () => (res.statusCode === 200 ? resolve({ bytes, ms: Number(process.hrtime.bigint() - started) / 1e6 }) : reject(new Error(`${urlPath}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.setTimeout(120000, () => req.destroy(new Error(`${urlPath}: no answer in 120 s`)));
  });
}

/**
 * `clients` loops each asking `rounds` times for an answer too long for wrk's runs (a match-all
 * search takes seconds): the rate over the whole, and the median time per answer.
 */
async function answersInLoops(port: number, urlPath: string, clients: number, rounds: number): Promise<{ rps: number; p50: number; bytes: number; requests: number }> {
  const started = Date.now();
  const times: number[] = [];
  let bytes = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = 0; i < rounds; i++) {
        const one = await drain(port, urlPath);
        times.push(one.ms);
        bytes = one.bytes;
      }
    }),
  );
  times.sort((a, b) => a - b);
  return { rps: times.length / ((Date.now() - started) / 1000), p50: times[Math.floor(times.length / 2)]!, bytes, requests: times.length };
}

function body(port: number, urlPath: string): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve(text));
    });
    req.on('error', () => resolve(''));
    req.setTimeout(60000, () => req.destroy());
  });
}

async function waitFor(what: string, test: () => Promise<boolean>, timeoutMs = 120000): Promise<number> {
  const started = Date.now();
  while (!(await test())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - started;
}

/** Payloads of exact sizes that gzip cannot shrink, so the stored file has the size measured. */
function fileRepository(root: string): Array<{ label: string; hash: string; stored: number }> {
  const packages: PackageSpec[] = SIZES.map(([label, size], i) => ({
    stem: `bench/size${i}`,
    versions: [{ version: VERSION, summary: `payload of ${label}`, files: [{ path: `usr/share/bench/${i}.bin`, content: crypto.randomBytes(size) }] }],
  }));
  generateRepository(root, { publishers: [{ name: PUB, packages }], created: new Date(Date.UTC(2025, 0, 1)), lastModified: new Date(Date.UTC(2025, 0, 2)) });
  return SIZES.map(([label], i) => {
    const manifest = fs.readFileSync(path.join(root, 'publisher', PUB, 'pkg', pkgQuote(`bench/size${i}`), pkgQuote(VERSION)), 'utf8');
    const hash = /^file (\w+) /m.exec(manifest)![1]!;
    const stored = fs.statSync(path.join(root, 'publisher', PUB, 'file', hash.slice(0, 2), hash)).size;
    return { label, hash, stored };
  });
}

/**
 * nginx serving the repository's files; with `accessLog`, logging every request as ours does
 * (buffered: its fastest way); without `sendfile`, reading each file and writing it as ours must.
 */
function nginxConfig(dir: string, port: number, docroot: string, { accessLog, sendfile }: NginxVariant): string {
  return `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log error;
events { worker_connections 4096; }
http {
  access_log ${accessLog ? `${dir}/access.log combined buffer=64k flush=1s` : 'off'};
  sendfile ${sendfile ? 'on' : 'off'};
  tcp_nopush on;
  keepalive_requests 10000000;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  types { application/data gz; }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    root ${docroot};
  }
}
`;
}

interface NginxVariant {
  accessLog: boolean;
  sendfile: boolean;
}

interface Run {
  rps: number;
  mbps: number;
  p50: number;
  p99: number;
  errors: string;
  requests: number;
}

interface Measure extends Run {
  /** CPU time of the server per request, µs. */
  userUs: number;
  sysUs: number;
}

function toMB(value: string): number {
  const m = /^([\d.]+)(B|KB|MB|GB)$/.exec(value);
  if (!m) return NaN;
  return Number(m[1]) * { B: 1 / 1048576, KB: 1 / 1024, MB: 1, GB: 1024 }[m[2] as 'B' | 'KB' | 'MB' | 'GB'];
}

function wrk(port: number, urlPath: string, connections = CONNECTIONS, seconds = SECONDS, script: string[] = []): Run {
  const out = execFileSync('wrk', ['-t2', `-c${connections}`, `-d${seconds}s`, '--latency', '--timeout', '10s', ...script, `http://127.0.0.1:${port}${urlPath}`], {
    encoding: 'utf8',
    timeout: (seconds + 60) * 1000,
  });
  const errors = [/Socket errors:.*/.exec(out)?.[0], /Non-2xx or 3xx responses:.*/.exec(out)?.[0]].filter(Boolean).join('; ');
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
    mbps: toMB(/Transfer\/sec:\s+(\S+)/.exec(out)?.[1] ?? ''),
    p50: wrkMs(/^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? ''),
    p99: wrkMs(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? ''),
    errors,
    requests: Number(/(\d+) requests in/.exec(out)?.[1]),
  };
}

/** A wrk run with the CPU time the server process spent on it. */
function measure(pid: number, port: number, urlPath: string): Measure {
  const before = cpuTimes(pid);
  const m = wrk(port, urlPath);
  const after = cpuTimes(pid);
  return { ...m, userUs: (after.user - before.user) / m.requests, sysUs: (after.sys - before.sys) / m.requests };
}

/** The depot as it ships: flavor abc built into the scratch directory (bundles and native addons). */
async function buildOurDepot(): Promise<OurBuild> {
  process.env.FLAVORKIT_DIST_DIR = path.join(work, 'dist');
  const build = await buildFlavor('abc', { formats: [] });
  const daemon = build.daemons.find((d) => d.daemon === 'depot');
  const bundle = daemon?.bundles.find((b) => b.program === 'depot');
  if (!daemon || !bundle) throw new Error('the abc build has no depot bundle');
  return { root: daemon.root, bundle: path.relative(daemon.root, bundle.file) };
}

interface OurBuild {
  /** The staging root: every file at its installed path below it. */
  root: string;
  /** The depot program, relative to the root. */
  bundle: string;
}

/**
 * Our depot bundle, as a flavor abc daemon installed in a private root (a copy of the staging
 * root, so that it loads its native addons — PAM, syslog, FFI — from its own lib directory as an
 * installed package does), in the foreground; run as a command, as the init script runs it, so
 * that the Node options of its #! line apply.
 */
async function ourDepot(build: OurBuild, repo: string, name: string, extra: string[] = []): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const root = path.join(work, `root-${name}`);
  fs.cpSync(build.root, root, { recursive: true });
  // admin/0 over HTTP: the wrong-password case logs in on loopback.
  const child = start(path.join(root, build.bundle), ['-f', '--admin-over-http', ...extra, '-p', String(port), '-d', repo], {
    ...process.env,
    FLAVORKIT_ROOT: root,
  });
  await waitFor('our depot', async () => (await status(port, '/versions/0/')) === 200);
  return { port, child };
}

/** Ours against nginx and a bare Node server on files and metadata, and file/1 under wrong-password loops: the report's lines. */
async function filesPart(build: OurBuild): Promise<string[]> {
  const repo = path.join(work, 'files');
  const payloads = fileRepository(repo);

  const startNginx = async (name: string, variant: NginxVariant) => {
    const port = await freePort();
    const dir = path.join(work, name);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'nginx.conf'), nginxConfig(dir, port, repo, variant));
    const child = start('nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf')]);
    await waitFor(name, async () => (await status(port, '/pkg5.repository')) === 200);
    return { port, child };
  };
  // master_process off: the nginx process is its one worker, whose CPU time is measured.
  const servers: Array<{ name: Server; port: number; child: ChildProcess }> = [];
  for (const [name, variant] of NGINX_VARIANTS) servers.push({ name, ...(await startNginx(name.replace(/\W+/g, '-'), variant)) });
  const ours = await ourDepot(build, repo, 'files');
  servers.unshift({ name: 'ours', ...ours });

  // The same bytes under each server's URL: the depot's operations, nginx's file paths.
  const manifestName = (i: number) => `${pkgQuote(`bench/size${i}`)}/${pkgQuote(VERSION)}`;
  const cases: Array<{ label: string; kind: 'file' | 'metadata'; ours: string; nginx: string; bytes: number }> = [
    ...payloads.map((p) => ({
      label: `file/1, ${p.label}`,
      kind: 'file' as const,
      ours: `/${PUB}/file/1/${p.hash}`,
      nginx: `/publisher/${PUB}/file/${p.hash.slice(0, 2)}/${p.hash}`,
      bytes: p.stored,
    })),
    {
      label: 'catalog/1 catalog.attrs',
      kind: 'metadata',
      ours: `/${PUB}/catalog/1/catalog.attrs`,
      nginx: `/publisher/${PUB}/catalog/catalog.attrs`,
      bytes: fs.statSync(path.join(repo, 'publisher', PUB, 'catalog/catalog.attrs')).size,
    },
    {
      label: 'manifest/0',
      kind: 'metadata',
      ours: `/${PUB}/manifest/0/${encodeURIComponent('bench/size0')}@${encodeURIComponent(VERSION)}`,
      // The stored name holds %-escapes, which the URL escapes again.
      nginx: `/publisher/${PUB}/pkg/${manifestName(0).replace(/%/g, '%25')}`,
      bytes: fs.statSync(path.join(repo, 'publisher', PUB, 'pkg', manifestName(0))).size,
    },
  ];
  const urlOf = (server: Server, c: (typeof cases)[number]) => (server === 'ours' ? c.ours : server === 'bare Node' ? '/' : c.nginx);
  for (const c of cases) {
    for (const server of servers) {
      const code = await status(server.port, urlOf(server.name, c));
      if (code !== 200) throw new Error(`${server.name} answered ${code} to ${urlOf(server.name, c)}`);
    }
  }

  // Ours serves every case once before any is measured: a depot in service answers a mix, and a
  // process that has served only one kind of request runs it measurably faster than one that has
  // served them all.
  for (const c of cases) wrk(ours.port, c.ours, CONNECTIONS, 1);
  const rows: Array<{ label: string; bytes: number; by: Record<Server, Measure>; roundRatios: number[] }> = [];
  for (const c of cases) {
    // The bare Node server answers with this case's bytes: the most a Node server reaches here.
    const barePort = await freePort();
    const bare = start(process.execPath, ['--import', 'tsx', path.join(__dirname, 'node-baseline.ts'), String(barePort), path.join(repo, decodeURIComponent(c.nginx))]);
    await waitFor('the bare node server', async () => (await status(barePort, '/')) === 200);
    const measured = [...servers, { name: 'bare Node' as const, port: barePort, child: bare }];
    for (const server of measured) wrk(server.port, urlOf(server.name, c), CONNECTIONS, 1);
    const run = (server: (typeof measured)[number]) => measure(server.child.pid!, server.port, urlOf(server.name, c));
    const [oursServer, nginxServer] = [servers[0]!, servers.find((s) => s.name === 'nginx')!];
    const rounds: Array<{ ours: Measure; nginx: Measure }> = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Each goes first in every other round.
      if (r % 2 === 0) {
        const ours = run(oursServer);
        rounds.push({ ours, nginx: run(nginxServer) });
      } else {
        const nginx = run(nginxServer);
        rounds.push({ ours: run(oursServer), nginx });
      }
    }
    const medianRound = [...rounds].sort((x, y) => x.ours.rps / x.nginx.rps - y.ours.rps / y.nginx.rps)[Math.floor(rounds.length / 2)]!;
    const rest = measured.filter((s) => s.name !== 'ours' && s.name !== 'nginx');
    const by = { ...medianRound, ...Object.fromEntries(rest.map((server) => [server.name, run(server)])) } as Record<Server, Measure>;
    await bench.stop(bare);
    rows.push({ label: c.label, bytes: c.bytes, by, roundRatios: rounds.map((x) => x.ours.rps / x.nginx.rps) });
    process.stderr.write(`${c.label}: ${measured.map((s) => `${s.name} ${fmt(by[s.name].rps)} req/s (${fmt(by[s.name].userUs, 1)}+${fmt(by[s.name].sysUs, 1)} µs)`).join('; ')}; ours/nginx by round ${rounds.map((x) => ratio(x.ours.rps, x.nginx.rps)).join(' ')}\n`);
  }
  // The first case once more, now that ours has served every size for minutes and sat idle while
  // the others were measured: a depot in service is in this state, not in the one after warm-up.
  const first = cases[0]!;
  wrk(ours.port, first.ours, CONNECTIONS, 1);
  const revisit = { label: first.label, before: rows[0]!.by.ours, after: measure(ours.child.pid!, ours.port, first.ours) };
  process.stderr.write(`${first.label} again, last: ours ${fmt(revisit.after.rps)} req/s (${fmt(revisit.after.userUs, 1)}+${fmt(revisit.after.sysUs, 1)} µs)\n`);
  // file/1 of 1 KB again while 16 loops send admin/0 logins with a wrong password (pam_unix makes
  // each wait about 2 s): ours against nginx, both measured while the loops run, and just before
  // without them. Compared round by round: by now ours is in its state after every other case,
  // not in the one of the first row.
  const nginxServer = servers.find((s) => s.name === 'nginx')!;
  const removePam = writeBenchPam();
  const attackRounds: Array<{ quiet: { ours: Measure; nginx: Measure }; under: { ours: Measure; nginx: Measure }; pamMs: number }> = [];
  if (removePam) {
    try {
      // Ours first serves file requests beside the loops for a while, as a depot in service has
      // seen refused logins and connections closed after one answer: the first of them make V8
      // throw away the code of about 30 of Node's stream and HTTP functions it had optimized for
      // kept-alive answers (traced with --trace-deopt), and later loops none. Without this the
      // first round would measure that one-time recompilation, not what the loops cost.
      await pestered(ours.port, 'admin', () => wrk(ours.port, first.ours, CONNECTIONS, 3));
      for (let r = 0; r < ROUNDS; r++) {
        const measureOurs = () => measure(ours.child.pid!, ours.port, first.ours);
        const measureNginx = () => measure(nginxServer.child.pid!, nginxServer.port, first.nginx);
        // Here too each goes first in every other round (a literal's values are taken in order).
        const quiet = r % 2 === 0 ? { ours: measureOurs(), nginx: measureNginx() } : { nginx: measureNginx(), ours: measureOurs() };
        const under = await pestered(ours.port, 'admin', () => {
          // Each goes first in every other round; the PAM process is ours' child: its CPU time
          // over the measurement of ours.
          const nginxFirst = r % 2 === 1 ? measureNginx() : null;
          const pamBefore = childrenCpuUs(ours.child.pid!);
          const oursUnder = measureOurs();
          const pamMs = (childrenCpuUs(ours.child.pid!) - pamBefore) / 1000;
          return { ours: oursUnder, nginx: nginxFirst ?? measureNginx(), pamMs };
        });
        attackRounds.push({ quiet, under, pamMs: under.pamMs });
        process.stderr.write(`${first.label} under 16 wrong-password loops, round ${r + 1}: ours ${fmt(under.ours.rps)} req/s (${fmt(under.ours.userUs, 1)}+${fmt(under.ours.sysUs, 1)} µs), nginx ${fmt(under.nginx.rps)}; without: ours ${fmt(quiet.ours.rps)} (${fmt(quiet.ours.userUs, 1)}+${fmt(quiet.ours.sysUs, 1)} µs), nginx ${fmt(quiet.nginx.rps)}; PAM ${fmt(under.pamMs)} ms CPU\n`);
      }
    } finally {
      removePam();
    }
  } else process.stderr.write('the wrong-password case is skipped: a PAM file of the flavor exists that this benchmark did not write\n');
  const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!;
  const rss = { ours: peakRssMiB(ours.child.pid!), nginx: peakRssMiB(nginxServer.child.pid!) };
  for (const server of servers) await bench.stop(server.child);

  const lines: string[] = [];
  const others = SERVERS.filter((s) => s !== 'ours');
  lines.push(
    `Ours and nginx: the middle one of ${ROUNDS} alternated rounds by their ratio (all rounds' ratios in "ours/nginx by round"); the other servers: one run each, against that round of ours.`,
    '',
  );
  lines.push(`| request | stored bytes | ours req/s | ${others.map((s) => `${s} req/s | ours/${s}`).join(' | ')} | ours/nginx by round | ours MB/s | nginx MB/s | errors |`);
  lines.push(`|---|---:|---:|${others.map(() => '---:|---:|').join('')}---|---:|---:|---|`);
  for (const { label, bytes, by, roundRatios } of rows) {
    const errors = SERVERS.filter((s) => by[s].errors).map((s) => `${s}: ${by[s].errors}`);
    lines.push(
      `| ${label} | ${bytes} | ${fmt(by.ours.rps)} | ${others.map((s) => `${fmt(by[s].rps)} | ${ratio(by.ours.rps, by[s].rps)}`).join(' | ')} | ${roundRatios.map((r) => r.toFixed(2)).join(', ')} | ${fmt(by.ours.mbps, 1)} | ${fmt(by.nginx.mbps, 1)} | ${errors.join('; ') || '–'} |`,
    );
  }
  lines.push('', 'Latency and the CPU time each server spent per request (user + system, µs):', '');
  lines.push(`| request | ours p50 ms | nginx p50 ms | ours p99 ms | nginx p99 ms | ${SERVERS.map((s) => `${s} CPU µs/req`).join(' | ')} |`);
  lines.push(`|---|---:|---:|---:|---:|${SERVERS.map(() => '---:|').join('')}`);
  for (const { label, by } of rows) {
    lines.push(
      `| ${label} | ${fmt(by.ours.p50, 2)} | ${fmt(by.nginx.p50, 2)} | ${fmt(by.ours.p99, 2)} | ${fmt(by.nginx.p99, 2)} | ${SERVERS.map((s) => `${fmt(by[s].userUs, 1)} + ${fmt(by[s].sysUs, 1)}`).join(' | ')} |`,
    );
  }
  lines.push(
    '',
    `${revisit.label}, ours measured again after every other case: ${fmt(revisit.after.rps)} req/s, ${ratio(revisit.after.rps, rows[0]!.by.nginx.rps)} nginx's (first: ${fmt(revisit.before.rps)}, ${ratio(revisit.before.rps, rows[0]!.by.nginx.rps)}); CPU ${fmt(revisit.after.userUs, 1)} + ${fmt(revisit.after.sysUs, 1)} µs/req (first: ${fmt(revisit.before.userUs, 1)} + ${fmt(revisit.before.sysUs, 1)}).`,
  );
  if (attackRounds.length > 0) {
    const under = median(attackRounds.map((x) => x.under.ours.rps / x.under.nginx.rps));
    const quiet = median(attackRounds.map((x) => x.quiet.ours.rps / x.quiet.nginx.rps));
    const cpu = (m: Measure) => `${fmt(m.userUs, 1)} + ${fmt(m.sysUs, 1)}`;
    lines.push(
      '',
      `${first.label} while 16 loops log in to admin/0 with a wrong password (each from its own loopback address, one request at a time, pam_unix's ~2 s delay; \`bench/depot/pester.ts admin\`), measured in ${ROUNDS} rounds each right after the same pair without the loops, once ours has served file requests beside the loops for 3 s: ours/nginx ${under.toFixed(2)}× under the loops against ${quiet.toFixed(2)}× without (medians; by round ${attackRounds.map((x) => `${(x.under.ours.rps / x.under.nginx.rps).toFixed(2)} vs ${(x.quiet.ours.rps / x.quiet.nginx.rps).toFixed(2)}`).join(', ')}); ours' CPU per file request ${attackRounds.map((x) => `${cpu(x.under.ours)} vs ${cpu(x.quiet.ours)}`).join(', ')} µs; its PAM process used ${attackRounds.map((x) => fmt(x.pamMs)).join(', ')} ms of CPU over each ${SECONDS} s run of ours under the loops.`,
    );
  }
  lines.push('', `Peak RSS: ours ${fmt(rss.ours, 1)} MiB, nginx ${fmt(rss.nginx, 1)} MiB.`, '');
  return lines;
}

/** The peak memory of ours serving the sample repository without search: the report's lines. */
async function samplePart(build: OurBuild): Promise<string[]> {
  // The sample repository without search: every kind of request it serves, 2 s each with 50
  // clients, and the peak memory that took.
  const sample = await ourDepot(build, path.join(FIXTURES_DIR, 'pkg5/sample-repo'), 'sample', ['-S']);
  const mate = `${encodeURIComponent('library/desktop/mate/mate-common')}@${encodeURIComponent('1.16.0,5.11-2016.1.1.0:20161224T160903Z')}`;
  for (const url of ['/versions/0/', '/userland/catalog/1/catalog.attrs', `/userland/manifest/0/${mate}`, '/userland/file/1/db98339f55b9829e09f2b5c7e9281718f8442842', '/publisher/0/', '/status/0/', `/p5i/0/${encodeURIComponent('mate*')}`]) {
    wrk(sample.port, url, CONNECTIONS, 2);
  }
  const sampleRss = peakRssMiB(sample.child.pid!);
  await bench.stop(sample.child);
  return [`Ours serving the sample repository without search (versions, catalog.attrs, a manifest, a file, publisher, status and p5i, 2 s each at -c${CONNECTIONS}): peak RSS ${fmt(sampleRss, 1)} MiB.`, ''];
}

/** Search on a generated repository: each query repeated and never repeated, and beside pathological globs; the report's lines. */
async function searchPart(build: OurBuild): Promise<string[]> {
  // Search: a generated repository of SEARCH_PACKAGES packages, indexed at start.
  const big = path.join(work, 'search');
  const generated = Date.now();
  generateRepository(big, syntheticRepository({ packages: SEARCH_PACKAGES, publishers: [PUB], seed: 1 }));
  const generateMs = Date.now() - generated;
  const query = (q: string, type = 2) => `/search/1/${encodeURIComponent(`False_${type}_None_None_${q}`)}`;
  const startedAt = Date.now();
  const searcher = await ourDepot(build, big, 'search');
  const answered = async (port: number) => ![0, 503].includes(await status(port, query('pkg4242')));
  await waitFor('the first search answer', () => answered(searcher.port));
  const indexMs = Date.now() - startedAt;
  // The index answers as soon as it is built and is written to disk after: measured and
  // restarted once status/0 no longer says "indexing".
  const indexed = async (port: number) => !(await body(port, '/status/0/')).includes('"indexing"');
  await waitFor('the index on disk', () => indexed(searcher.port));
  await bench.stop(searcher.child, 'SIGTERM');
  const restartedAt = Date.now();
  const again = await ourDepot(build, big, 'search');
  await waitFor('a search after restart', () => answered(again.port));
  const warmMs = Date.now() - restartedAt;
  await waitFor('the index settled', () => indexed(again.port));
  const searches: Array<[string, string]> = [
    ['one package by name (`pkg4242`)', query('pkg4242')],
    ['a summary word (`archive`), actions', query('archive')],
    ['a summary word, packages (`<archive>`)', query('archive', 1)],
    ['a field query (`file:basename:file2-1.txt`)', query('file:basename:file2-1.txt')],
    ['a glob (`pkg42*`), packages', query('pkg42*', 1)],
  ];
  // The same queries, each request with a count of its own (larger than any hit list, so the
  // work is the same): no answer is ever repeated, so none comes from the depot's answer cache.
  const unrepeated = path.join(work, 'unrepeated.lua');
  fs.writeFileSync(
    unrepeated,
    [
      'local threads = 0',
      'function setup(thread) thread:set("first", threads * 100000000 + 100000); threads = threads + 1 end',
      'function init(args) n = first; template = wrk.path end',
      'function request() n = n + 1; return wrk.format(nil, (template:gsub("_None_None_", "_" .. n .. "_None_", 1))) end',
      '',
    ].join('\n'),
  );
  const searchRows: Array<{ label: string; m: Run; hits: number; cpuUs: string }> = [];
  const searchPid = again.child.pid!;
  for (const [label, url, script] of [...searches.map(([l, u]) => [l, u, []] as const), ...searches.map(([l, u]) => [`${l}, never repeated`, u, ['-s', unrepeated]] as const)]) {
    const hits = Math.max((await body(again.port, url)).split('\n').filter(Boolean).length - 1, 0);
    const before = cpuTimes(searchPid);
    const m = wrk(again.port, url, 10, SECONDS, [...script]);
    const after = cpuTimes(searchPid);
    const cpuUs = `${fmt((after.user - before.user) / m.requests)} + ${fmt((after.sys - before.sys) / m.requests)}`;
    searchRows.push({ label, m, hits, cpuUs });
    process.stderr.write(`search ${label}: ${hits} hits, ${fmt(m.rps)} req/s p50 ${fmt(m.p50, 2)} ms p99 ${fmt(m.p99, 2)} ms, CPU ${cpuUs} µs/query${m.errors ? `, ${m.errors}` : ''}\n`);
  }
  // The first query again, while 4 loops send a glob of 60 stars that matches nothing.
  const normal = searches[0]!;
  const beside = await pestered(again.port, 'glob', () => wrk(again.port, normal[1], 10));
  process.stderr.write(`search ${normal[0]} beside pathological globs: ${fmt(beside.rps)} req/s p50 ${fmt(beside.p50, 2)} ms p99 ${fmt(beside.p99, 2)} ms\n`);
  const searchRss = peakRssMiB(searchPid);
  // A query matching every posting, its answer streamed, by as many clients as the depot streams
  // answers to at once (searchStreams): its own peak RSS, apart from the target above.
  const before = cpuTimes(searchPid);
  const all = await answersInLoops(again.port, query('*'), MATCH_ALL_CLIENTS, MATCH_ALL_ROUNDS);
  const after = cpuTimes(searchPid);
  const allCpu = `${fmt((after.user - before.user) / 1000 / all.requests)} + ${fmt((after.sys - before.sys) / 1000 / all.requests)}`;
  const matchAllRss = peakRssMiB(searchPid);
  process.stderr.write(`search match-all: ${all.bytes} bytes, ${fmt(all.rps, 2)} req/s p50 ${fmt(all.p50, 0)} ms, CPU ${allCpu} ms/query, peak RSS ${fmt(matchAllRss, 1)} MiB\n`);
  const lines: string[] = [];
  lines.push(`search/1 on ${SEARCH_PACKAGES} packages (generated in ${generateMs} ms; first answer ${indexMs} ms after start, index built; ${warmMs} ms after a restart, index loaded from disk; peak RSS ${fmt(searchRss, 1)} MiB), wrk -c10:`, '');
  lines.push('| query | hits | req/s | p50 ms | p99 ms | CPU µs/query (user + system) |');
  lines.push('|---|---:|---:|---:|---:|---:|');
  for (const s of searchRows) lines.push(`| ${s.label} | ${s.hits} | ${fmt(s.m.rps)} | ${fmt(s.m.p50, 2)} | ${fmt(s.m.p99, 2)} | ${s.cpuUs} |`);
  lines.push(`| ${normal[0]}, beside 4 loops of a 60-star glob (\`pester.ts glob\`) | ${searchRows[0]!.hits} | ${fmt(beside.rps)} | ${fmt(beside.p50, 2)} | ${fmt(beside.p99, 2)} | – |`);
  lines.push('');
  lines.push(
    `Match-all (\`*\`, actions; an answer of ${fmt(all.bytes / 2 ** 20, 1)} MiB, streamed), ${MATCH_ALL_CLIENTS} clients asking ${MATCH_ALL_ROUNDS} times each: ` +
      `${fmt(all.rps, 2)} req/s, p50 ${fmt(all.p50, 0)} ms, CPU ${allCpu} ms/query (user + system); peak RSS after it ${fmt(matchAllRss, 1)} MiB.`,
  );
  return lines;
}

async function main(): Promise<void> {
  const build = await buildOurDepot();
  const lines: string[] = [];
  if (PARTS.has('files')) lines.push(...(await filesPart(build)));
  if (PARTS.has('sample')) lines.push(...(await samplePart(build)));
  if (PARTS.has('search')) lines.push(...(await searchPart(build)));
  bench.stopping = true;
  const machine = [
    `nproc: ${os.cpus().length}, memory: ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, kernel ${os.release()}, node ${process.version}`,
    `nginx: ${spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim().replace('nginx version: ', '')} (1 worker, sendfile on; access log off, and on in the combined format with a 64 KiB buffer for "nginx + log"; "nginx, no sendfile" reads and writes each file as a Node server must); ours (access log on): the depot bundle of a flavor abc build, one process`,
    `wrk -t2 -c${CONNECTIONS} -d${SECONDS}s --latency after 1 s of warm-up per server and request, ours and nginx ${ROUNDS} times alternately; all on 127.0.0.1`,
  ];
  const report = `${lines.join('\n')}\n`;
  process.stdout.write(`${report}\n${machine.join('\n')}\n`);
  // The table of record is written only by a run of every part.
  if (!process.env.BENCH_NO_WRITE && ALL_PARTS.every((part) => PARTS.has(part))) {
    const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    fs.mkdirSync(path.join(ROOT, 'docs/benchmarks'), { recursive: true });
    fs.writeFileSync(
      path.join(ROOT, 'docs/benchmarks/depot.md'),
      `# depot: ours vs nginx serving the same files\n\nMeasured ${when}; load average before the run: ${loadBefore}. Command: \`BENCH_SECONDS=${SECONDS} BENCH_ROUNDS=${ROUNDS} npx tsx bench/depot/run.ts\`.\n\n${report}\nMachine:\n${machine.map((m) => `* ${m}`).join('\n')}\n`,
    );
  }
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`bench/depot: ${(err as Error).stack ?? err}\n`);
    process.exitCode = 1;
  })
  .finally(() => bench.cleanup());
