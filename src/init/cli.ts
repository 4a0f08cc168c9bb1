import net from 'node:net';
import os from 'node:os';
import { currentLayout } from '../runtime';
import { readInittab } from './inittab';
import { runInitDaemon } from './daemon';
import type { Request } from './protocol';
import type { TagResult } from './supervisor';

const USAGE = `usage: isinit [-k] [-c config] [-s socket] [[group] level]
       isinit [-c config] [-s socket] --status [--json]
       isinit -f | -d [-c config] [-s socket] [--grace SECONDS]
  group level   switch GROUP to LEVEL (level alone: the group is this host's name; 0 stops the group)
  (nothing)     re-read the config file and re-apply every group's level
  -k            stop every entry and end the daemon
  -f, -d        run the daemon in the foreground, or detached
  -c config     the isinittab (default: the flavor's)
  -s socket     the control socket (default: :::socket: of the config, else the flavor's)`;

class UsageError extends Error {}

interface Options {
  kill: boolean;
  config: string;
  socket: string | null;
  daemon: 'foreground' | 'detached' | null;
  status: boolean;
  json: boolean;
  graceMs: number;
  words: string[];
}

function parseArgs(argv: string[], defaultConfig: string): Options {
  const o: Options = { kill: false, config: defaultConfig, socket: null, daemon: null, status: false, json: false, graceMs: 5000, words: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '-k': o.kill = true; break;
      case '-c': o.config = value(); break;
      case '-s': o.socket = value(); break;
      case '-f': o.daemon = 'foreground'; break;
      case '-d': o.daemon = 'detached'; break;
      case '--status': o.status = true; break;
      case '--json': o.json = true; break;
      case '--grace': {
        const seconds = Number(value());
        if (!(seconds >= 0 && seconds <= 3600)) throw new UsageError('--grace takes a number of seconds from 0 to 3600');
        o.graceMs = seconds * 1000;
        break;
      }
      case '-h': case '--help': throw new UsageError('');
      default:
        if (arg.startsWith('-')) throw new UsageError(`unknown option ${arg}`);
        o.words.push(arg);
    }
  }
  if (o.words.length > 2) throw new UsageError('at most a group and a level');
  return o;
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

export async function main(argv: string[]): Promise<number> {
  const layout = currentLayout('init');
  let o: Options;
  try {
    o = parseArgs(argv, layout.configFile);
  } catch (err) {
    const message = (err as Error).message;
    process.stderr.write(message ? `isinit: ${message}\n${USAGE}\n` : `${USAGE}\n`);
    return message ? 2 : 0;
  }
  try {
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
    if (o.json || o.status) process.stdout.write(`${JSON.stringify(answer, null, o.json ? 0 : 2)}\n`);
    else for (const r of (answer.results as TagResult[] | undefined) ?? []) process.stdout.write(`${describe(r)}\n`);
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
