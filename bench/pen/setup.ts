// What the pen benchmarks share: backends, our bundle, wrk. Processes are started through
// BenchProcesses, so that each is stopped by PID.
import { execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { wrkMs, type BenchProcesses } from '../support/processes';

export const ROOT = path.resolve(__dirname, '../..');

export type Mode = 'keepalive' | 'close';

export async function waitForPort(port: number, what: string): Promise<void> {
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

export async function nginx(bench: BenchProcesses, port: number): Promise<ChildProcess> {
  const dir = path.join(bench.work, `nginx-${port}`);
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
  const child = bench.start('nginx', ['-p', dir, '-c', conf]);
  await waitForPort(port, 'nginx');
  return child;
}

/** Our pen, bundled as the build would, if the daemon exists in this tree. */
export function bundleOurs(work: string): string | null {
  const entry = path.join(ROOT, 'src/pen/bin/pen.ts');
  if (!fs.existsSync(entry)) return null;
  const out = path.join(work, 'pen.js');
  execFileSync(
    path.join(ROOT, 'node_modules/.bin/esbuild'),
    [entry, '--bundle', '--platform=node', '--format=cjs', '--minify-syntax', `--outfile=${out}`, '--define:FLAVORKIT_FEATURES.tls=true', '--define:FLAVORKIT_FEATURES.udp=true', '--external:koffi', '--log-level=warning'],
    { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] },
  );
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


