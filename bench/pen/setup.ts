// What the pen benchmarks share: backends, our bundle, wrk. Processes are started through
// BenchProcesses, so that each is stopped by PID.
import { execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { writeNginxConfig } from '../../tools/nginx';
import { waitForTcp } from '../../tools/ports';
import { wrkMs, type BenchProcesses } from '../support/processes';

export const ROOT = path.resolve(__dirname, '../..');

export type Mode = 'keepalive' | 'close';

export async function nginx(bench: BenchProcesses, port: number): Promise<ChildProcess> {
  const dir = path.join(bench.work, `nginx-${port}`);
  const conf = writeNginxConfig(
    dir,
    8192,
    `access_log off;
keepalive_requests 10000000;
server {
  listen 127.0.0.1:${port} backlog=4096;
  location / { default_type text/plain; return 200 "hello from ${port}\\n"; }
}`,
  );
  const child = bench.start('nginx', ['-p', dir, '-c', conf]);
  await waitForTcp(port, 'nginx');
  return child;
}

/**
 * Our pen, bundled as the build would, if the daemon exists in this tree; with its C relay round
 * built where the FFI loop looks for it outside a package (node_modules/.cache), as scripts/setup.sh
 * builds it, so that the default measured is the one that ships.
 */
export function bundleOurs(work: string): string | null {
  const entry = path.join(ROOT, 'src/pen/bin/pen.ts');
  if (!fs.existsSync(entry)) return null;
  const relay = path.join(__dirname, '../../src/builder/natives.ts');
  const source = path.join(ROOT, 'src/pen/ffi/relay.c');
  const library = path.join(ROOT, 'node_modules/.cache/flavorkit/pen-relay.so');
  // Rebuilt when its source is newer (an older revision's tree, as bench/pen/ab.ts bundles it, leaves it).
  if (fs.existsSync(relay) && fs.existsSync(source) && (!fs.existsSync(library) || fs.statSync(source).mtimeMs > fs.statSync(library).mtimeMs)) {
    const note = execFileSync(process.execPath, ['--import', 'tsx', '-e', `require(${JSON.stringify(relay)}).compileRelay(${JSON.stringify(ROOT)}, ${JSON.stringify(library)}).then((n) => n && console.log(n))`], { cwd: ROOT, encoding: 'utf8' });
    if (note.trim()) process.stderr.write(`${note.trim()}\n`);
  }
  const out = path.join(work, 'pen.js');
  execFileSync(
    path.join(ROOT, 'node_modules/.bin/esbuild'),
    [entry, '--bundle', '--platform=node', '--format=cjs', '--minify-syntax', `--outfile=${out}`, '--define:FLAVORKIT_FEATURES.tls=true', '--define:FLAVORKIT_FEATURES.udp=true', '--external:koffi', '--external:tsx', '--log-level=warning'],
    { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  return out;
}

/** A bare benchmark proxy of bench/pen (`node-handles`, say), bundled into `work`. */
export function bundleBare(work: string, file: string): string {
  const out = path.join(work, `${file}.js`);
  execFileSync(path.join(ROOT, 'node_modules/.bin/esbuild'), [path.join(__dirname, `${file}.ts`), '--bundle', '--platform=node', '--format=cjs', '--external:koffi', '--external:tsx', `--outfile=${out}`, '--log-level=warning'], { cwd: ROOT });
  return out;
}

export function wrk(port: number, mode: Mode, seconds: number, connections: number): { rps: number; p50: number; p99: number; requests: number; errors: string } {
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '--timeout', '5s'];
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


