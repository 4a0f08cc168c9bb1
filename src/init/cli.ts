import net from 'node:net';
import os from 'node:os';
import { currentLayout, parseLongOptions, reportUsage, UsageError } from '../runtime';
import { readInittab } from './inittab';
import { runInitDaemon } from './daemon';
import { levelWarnings } from './levels';
import type { ClusterInfo } from './cluster';
import type { Request } from './protocol';
import type { TagResult } from './supervisor';

const USAGE = `usage: isinit [-k] [-c config] [-s socket] [[group] level]
       isinit [-c config] [-s socket] --status [--json]
       isinit -f | -d [-c config] [-s socket] [--grace SECONDS]
       isinit --check [-c config]
  group level   switch GROUP to LEVEL (level alone: the group is this host's name; 0 stops the group)
  (nothing)     re-read the config file and re-apply every group's level
  -k            stop every entry and end the daemon
  -f, -d        run the daemon in the foreground, or detached
  --check       read the config file and report its errors and warnings; nothing is switched
  -c config     the isinittab (default: the flavor's)
  -s socket     the control socket (default: :::socket: of the config, else the flavor's)
Long forms: --kill, --config, --socket, --foreground, --detached, --help.`;

interface Options {
  kill: boolean;
  config: string;
  socket: string | null;
  daemon: 'foreground' | 'detached' | null;
  status: boolean;
  check: boolean;
  json: boolean;
  graceMs: number;
  words: string[];
}

function parseOptions(argv: string[], defaultConfig: string): Options {
  const { values, positionals } = parseLongOptions({
    args: argv,
    allowPositionals: true,
    options: {
      kill: { type: 'boolean', short: 'k' },
      config: { type: 'string', short: 'c' },
      socket: { type: 'string', short: 's' },
      foreground: { type: 'boolean', short: 'f' },
      detached: { type: 'boolean', short: 'd' },
      status: { type: 'boolean' },
      check: { type: 'boolean' },
      json: { type: 'boolean' },
      grace: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) throw new UsageError('');
  if (values.foreground && values.detached) throw new UsageError('-f and -d exclude each other: the daemon runs in the foreground or detached');
  if (positionals.length > 2) throw new UsageError(`at most a group and a level, not ${positionals.length} words`);
  const alone = values.foreground ? '-f' : values.detached ? '-d' : values.kill ? '-k' : values.status ? '--status' : values.check ? '--check' : null;
  if (alone && positionals.length > 0) {
    throw new UsageError(`${alone} takes no group or level ("${positionals.join(' ')}"); switch a group with a separate 'isinit GROUP LEVEL'`);
  }
  const seconds = Number(values.grace ?? 5);
  if (values.grace !== undefined && !(values.grace.trim() !== '' && seconds >= 0 && seconds <= 3600)) {
    throw new UsageError(`--grace takes a number of seconds from 0 to 3600, not "${values.grace}"`);
  }
  return {
    kill: values.kill ?? false,
    config: values.config ?? defaultConfig,
    socket: values.socket ?? null,
    daemon: values.foreground ? 'foreground' : values.detached ? 'detached' : null,
    status: values.status ?? false,
    check: values.check ?? false,
    json: values.json ?? false,
    graceMs: seconds * 1000,
    words: positionals,
  };
}

function request(socketPath: string, body: Request): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath);
    let data = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(body)}\n`));
    socket.on('data', (d: string) => (data += d));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        reject(new Error(`no isinit daemon listens on ${socketPath}; start it with 'isinit -d' or its init script`));
      } else reject(err);
    });
    socket.on('close', () => {
      try {
        resolve(JSON.parse(data) as Record<string, unknown>);
      } catch {
        reject(new Error(`the daemon on ${socketPath} gave no valid reply`));
      }
    });
  });
}

function describe(r: TagResult): string {
  const pid = r.pid ? ` (PID ${r.pid})` : '';
  const code = r.exitCode !== undefined ? ` exit ${r.exitCode}` : '';
  return `${r.group}:${r.tag} ${r.action}${pid}${code}${r.error ? `: ${r.error}` : ''}`;
}

interface StatusReply {
  groups?: Array<{ group: string; level: string | null; state: string }>;
  entries?: Array<{ group: string; tag: string; mode: string; state: string; pid: number | null }>;
  cluster?: ClusterInfo;
}

/** `isinit --status` for a person: every group with its level and entries, and the cluster's view. */
export function formatStatus(answer: StatusReply): string {
  const out: string[] = [];
  const c = answer.cluster;
  if (c) {
    out.push(
      `node ${c.node}: etcd ${c.reachable ? 'reachable' : 'UNREACHABLE'} at ${c.endpoints.join(', ')}; ` +
        `last confirmed keep-alive ${c.lastKeepAlive ?? 'none'}; claim until ${c.claimDeadline ?? 'none'} ` +
        `(lease ${c.leaseId ?? 'none'}, ${c.leaseTtlS} s, margin ${c.marginMs} ms)${c.error ? `; ${c.error}` : ''}`,
    );
  }
  const byGroup = new Map((c?.groups ?? []).map((g) => [g.group, g]));
  for (const g of answer.groups ?? []) {
    const shared = byGroup.get(g.group);
    let line = `${g.group}: level ${g.level ?? '(none yet)'}, ${g.state}`;
    if (shared) line += `; cluster level ${shared.desired ?? '(none yet)'}`;
    if (shared?.single) line += `; single-host, led by ${shared.leader ?? 'nobody'}${shared.claimLive ? ' (this host, claim live)' : ''}`;
    out.push(line);
    for (const e of (answer.entries ?? []).filter((x) => x.group === g.group)) {
      out.push(`  ${e.group}:${e.tag} ${e.mode} ${e.state}${e.pid ? ` PID ${e.pid}` : ''}`);
    }
  }
  return out.join('\n') + '\n';
}

export async function main(argv: string[]): Promise<number> {
  const layout = currentLayout('init');
  let o: Options;
  try {
    o = parseOptions(argv, layout.configFile);
  } catch (err) {
    if (err instanceof UsageError) return reportUsage('isinit', USAGE, err);
    throw err;
  }
  try {
    if (o.check) {
      // Errors throw (with their line) and exit 1; warnings are printed and the file is usable.
      const warnings = levelWarnings(readInittab(o.config), o.config);
      for (const warning of warnings) process.stderr.write(`isinit: ${warning}\n`);
      process.stdout.write(`${o.config}: ${warnings.length ? `usable, with ${warnings.length} warning(s)` : 'no problems found'}\n`);
      return 0;
    }
    if (o.daemon) {
      await runInitDaemon({ layout, configFile: o.config, socket: o.socket, foreground: o.daemon === 'foreground', graceMs: o.graceMs });
      return -1;
    }
    let socketPath = o.socket;
    if (!socketPath) {
      try {
        socketPath = readInittab(o.config).socket;
      } catch {
        // The client may not be able to read the daemon's file; the flavor's socket is the default.
      }
    }
    socketPath ??= layout.controlSocket;
    const body: Request = o.kill
      ? { op: 'kill' }
      : o.status
        ? { op: 'status' }
        : o.words.length === 0
          ? { op: 'reread' }
          : { op: 'switch', group: o.words.length === 2 ? o.words[0]! : os.hostname(), level: o.words.at(-1)! };
    const answer = await request(socketPath, body);
    if (o.json) process.stdout.write(`${JSON.stringify(answer)}\n`);
    else if (o.status && answer.ok) process.stdout.write(formatStatus(answer as StatusReply));
    else for (const r of (answer.results as TagResult[] | undefined) ?? []) process.stdout.write(`${describe(r)}\n`);
    if (typeof answer.notice === 'string' && !o.json) process.stdout.write(`isinit: ${answer.notice}\n`);
    for (const warning of (answer.warnings as string[] | undefined) ?? []) process.stderr.write(`isinit: ${warning}\n`);
    if (!answer.ok) {
      process.stderr.write(`isinit: ${String(answer.error)}\n`);
      return 1;
    }
    const results = (answer.results as TagResult[] | undefined) ?? [];
    return results.some((r) => r.action === 'failed' || r.action === 'error') ? 1 : 0;
  } catch (err) {
    process.stderr.write(`isinit: ${(err as Error).message}\n`);
    return 1;
  }
}
