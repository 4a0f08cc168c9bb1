import fs from 'node:fs';
import { currentLayout, createLogger, type Logger } from '../../runtime';
import { FgetsReader } from '../libc/fgets';
import { UsageError } from '../../runtime';
import { getopt } from '../libc/getopt';
import { atoi, sscanf } from '../libc/scanf';

export const MERGELOGS_USAGE =
  'Usage: mergelogs -p penlog [-j jitter] \\\n' +
  '        server1:logfile1 [server2:logfile2 ...]\n\n' +
  '  -c                Do not use penlog cache\n' +
  '  -d                Debugging (repeat for more)\n' +
  '  -p penlog         Log file from pen\n' +
  '  -j jitter         Jitter in seconds [2]\n' +
  '  -r filename       Where to put rejects\n' +
  '  -t seconds        Timezone\n' +
  '  server:logfile    Web server address and name of logfile\n';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

export class MergelogsError extends Error {
  constructor(
    message: string,
    readonly showUsage = false,
  ) {
    super(message);
  }
}

export interface MergelogsOptions {
  penLog: string;
  jitter: number;
  tz: number;
  cache: boolean;
  debug: number;
  servers: Array<{ address: string; file: string }>;
}

export function parseMergelogsArgs(args: readonly string[]): MergelogsOptions | 'usage' {
  if (args.length === 1 && (args[0] === '-h' || args[0] === '--help')) return 'usage';
  let parsed;
  try {
    parsed = getopt(args, 'p:j:t:cd');
  } catch (err) {
    if (err instanceof UsageError) throw new MergelogsError(`${err.message}; see the options above`, true);
    throw err;
  }
  const options: MergelogsOptions = { penLog: '', jitter: 600, tz: 0, cache: true, debug: 0, servers: [] };
  let penLog: string | null = null;
  for (const { opt, arg = '' } of parsed.options) {
    if (opt === 'p') penLog = arg;
    else if (opt === 'j') options.jitter = atoi(arg);
    else if (opt === 't') options.tz = atoi(arg);
    else if (opt === 'c') options.cache = false;
    else if (opt === 'd') options.debug++;
  }
  if (parsed.operands.length === 0) {
    throw new MergelogsError('no web server log given; name at least one as server:logfile, e.g. 10.0.0.1:access_log', true);
  }
  if (penLog === null) throw new MergelogsError("no pen log given (pfile null); name pen's -l file with -p, e.g. -p pen.log");
  options.penLog = penLog;
  for (const word of parsed.operands) {
    // The first ':' splits, as mergelogs does (server names are IPv4 addresses or host names).
    const colon = word.indexOf(':');
    if (colon < 0) throw new MergelogsError(`Bogus server '${word}': write server:logfile, e.g. 10.0.0.1:access_log`);
    options.servers.push({ address: word.slice(0, colon), file: word.slice(colon + 1) });
  }
  return options;
}

/** mktime() of a local broken-down time, normalising out-of-range fields as C does. */
function mktime(year: number, month: number, day: number, hour: number, minute: number, second: number): number {
  const d = new Date(2000, 0, 1, 0, 0, 0);
  d.setFullYear(year, month, day);
  d.setHours(hour, minute, second);
  const t = d.getTime();
  return Number.isNaN(t) ? -1 : Math.floor(t / 1000);
}

/**
 * The time of an access-log stamp (`09/Jan/2002:00:27:15 +0100`): the fields as mergelogs'
 * sscanf splits them, read as local time, then moved by the zone when it has the 5-character
 * ±hhmm form. (Debian's binary reads the zone from uninitialised stack memory after the first
 * line, so its result for non-+0000 stamps past the first line varies; this is what it does
 * for a first line, and for every +0000 line.)
 */
export function parseStamp(stamp: string): number {
  const f = sscanf(stamp, '%[^/]/%[^/]/%[^:]:%[^:]:%[^:]:%s %s').map(String);
  const [dd = '', mm = '', yy = '', hh = '', mi = '', ssField = ''] = f;
  // Without a further ':' the seconds field runs on into the zone ("15 +0100").
  const [ss, zoneInSeconds = ''] = ssField.split(/[ \t]+/);
  let tz = f[6] ?? zoneInSeconds;
  let t = mktime(atoi(yy), MONTHS.indexOf(mm), atoi(dd), atoi(hh), atoi(mi), atoi(ss));
  if (t !== -1 && tz.length === 5) {
    let d = 60 * atoi(tz.slice(3));
    tz = tz.slice(0, 3);
    d += 3600 * atoi(tz.slice(1));
    t = tz[0] === '+' ? t - d : t + d;
  }
  return t;
}

/** The stamp mergelogs writes: local time, always labelled +0000. */
export function formatStamp(t: number): string {
  const d = new Date(t * 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getDate())}/${MONTHS[d.getMonth()]}/${String(d.getFullYear()).padStart(4, '0')}:${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} +0000`;
}

interface ServerLog {
  address: string;
  reader: FgetsReader | null;
  t: number;
  cli: string;
  b1: string;
  tim: string;
  b2: string;
  uri: string;
  b3: string;
}

interface PenRecord {
  cli: string;
  ser: number;
  t: number;
  uri: string;
}

const ACCESS_LINE = '%[^ ] %[^[][%[^]]]%[^"]"%[^"]"%[^\n]';
const PEN_LINE = '%s %ld %s %[^\n]';

/** The merge: web-server lines in time order, each with the real client found in pen's log. */
export class Merger {
  private readonly servers: ServerLog[] = [];
  private readonly penLog: FgetsReader;
  private cache: PenRecord[] = [];

  constructor(
    private readonly options: MergelogsOptions,
    private readonly debug: (level: number, message: string) => void,
  ) {
    this.penLog = FgetsReader.open(options.penLog);
  }

  open(): void {
    for (const s of this.options.servers) {
      let reader: FgetsReader;
      try {
        reader = FgetsReader.open(s.file);
      } catch (err) {
        throw new MergelogsError(`Can't open logfile '${s.file}' (${(err as NodeJS.ErrnoException).code}); check the path after ${s.address}:`);
      }
      const server: ServerLog = { address: s.address, reader, t: 0, cli: '', b1: '', tim: '', b2: '', uri: '', b3: '' };
      this.servers.push(server);
      this.readServerLine(server);
    }
  }

  private readServerLine(s: ServerLog): void {
    for (;;) {
      const line = s.reader?.gets() ?? null;
      if (line === null) {
        s.reader?.close();
        s.reader = null;
        return;
      }
      const f = sscanf(line, ACCESS_LINE) as string[];
      if (f.length === 6) {
        [s.cli, s.b1, s.tim, s.b2, s.uri, s.b3] = f;
        s.t = parseStamp(s.tim);
        return;
      }
      this.debug(1, `Read ${f.length} fields`);
    }
  }

  private oldest(): ServerLog | null {
    let found: ServerLog | null = null;
    let t = -1;
    for (const s of this.servers) {
      if (s.reader && (t === -1 || s.t < t)) {
        found = s;
        t = s.t;
      }
    }
    return found;
  }

  private serverIndex(name: string): number {
    return this.servers.findIndex((s) => s.address === name);
  }

  private penRecord(line: string): PenRecord | null {
    const f = sscanf(line, PEN_LINE);
    if (f.length !== 4) return null;
    return { cli: String(f[0]), ser: this.serverIndex(String(f[2])), t: Number(f[1]) - this.options.tz, uri: String(f[3]) };
  }

  /** With the cache: pen's log is read once, keeping only records within the jitter window. */
  private bestClientCached(server: string, t: number, uri: string): string {
    const { jitter } = this.options;
    const ser = this.serverIndex(server);
    const keep = this.cache.findIndex((r) => r.t >= t - jitter);
    const drop = keep < 0 ? this.cache.length : keep;
    if (drop > 0) {
      this.debug(1, `uncache ${drop} lines\n`);
      this.cache = this.cache.slice(drop);
    }
    for (;;) {
      const last = this.cache[this.cache.length - 1];
      if (last && last.t > t + jitter) break;
      const line = this.penLog.gets();
      if (line === null) break;
      const record = this.penRecord(line);
      if (record) this.cache.push(record);
    }
    let best = server;
    let distance = Infinity;
    for (const r of this.cache) {
      if (r.ser !== ser || r.uri !== uri) continue;
      const d = Math.abs(t - r.t);
      if (d < distance) {
        distance = d;
        best = r.cli;
      }
    }
    return best;
  }

  /** Without the cache (-c): the whole pen log is searched for every line. */
  private bestClientScan(server: string, t: number, uri: string): string {
    this.penLog.rewind();
    let best = server;
    let distance = Infinity;
    for (let line = this.penLog.gets(); line !== null; line = this.penLog.gets()) {
      const f = sscanf(line, PEN_LINE);
      if (f.length !== 4 || String(f[2]) !== server || String(f[3]) !== uri) continue;
      const d = Math.abs(t - (Number(f[1]) - this.options.tz));
      if (d < distance) {
        distance = d;
        best = String(f[0]);
      }
    }
    if (distance > 600) this.debug(1, `Warning: time difference ${distance === Infinity ? "9223372036854775807" : distance}`);
    return best;
  }

  /** Runs the merge, handing each output line (with its newline) to `emit`. */
  run(emit: (line: string) => void): void {
    for (let s = this.oldest(); s; s = this.oldest()) {
      const cli = this.options.cache ? this.bestClientCached(s.address, s.t, s.uri) : this.bestClientScan(s.address, s.t, s.uri);
      this.debug(2, `\tclient = '${s.cli}' => '${cli}'`);
      emit(`${cli} ${s.b1}[${formatStamp(s.t)}]${s.b2}"${s.uri}"${s.b3}\n`);
      this.readServerLine(s);
    }
    this.penLog.close();
  }
}

/** Collects output and writes it in large blocks (a merged log can be big). */
class BlockWriter {
  private parts: string[] = [];
  private size = 0;

  add(line: string): void {
    this.parts.push(line);
    this.size += line.length;
    if (this.size >= 1 << 16) this.flush();
  }

  flush(): void {
    if (this.size === 0) return;
    const data = Buffer.from(this.parts.join(''), 'latin1');
    this.parts = [];
    this.size = 0;
    let done = 0;
    while (done < data.length) {
      try {
        done += fs.writeSync(1, data, done);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // The reader went away (mergelogs ... | head): stop quietly, as SIGPIPE stops Debian's.
        if (code === 'EPIPE') process.exit(1);
        if (code !== 'EAGAIN') throw err;
      }
    }
  }
}

export function mergelogsMain(args: readonly string[]): number {
  let logger: Logger | null = null;
  try {
    const options = parseMergelogsArgs(args);
    if (options === 'usage') {
      process.stdout.write(MERGELOGS_USAGE);
      return 0;
    }
    const layout = currentLayout('pen');
    const debug = (level: number, message: string) => {
      if (options.debug < level) return;
      logger ??= createLogger({ identity: layout.logIdentity, foreground: false, libDir: layout.libDir, debug: true });
      logger.debug(message);
    };
    let merger: Merger;
    try {
      merger = new Merger(options, debug);
    } catch (err) {
      throw new MergelogsError(`cannot open pen log '${options.penLog}' (pfp null: ${(err as NodeJS.ErrnoException).code}); give pen's -l file with -p`);
    }
    merger.open();
    const out = new BlockWriter();
    merger.run((line) => out.add(line));
    out.flush();
    return 0;
  } catch (err) {
    if (!(err instanceof MergelogsError)) throw err;
    if (err.showUsage) process.stdout.write(MERGELOGS_USAGE);
    process.stderr.write(`mergelogs: ${err.message}\n`);
    return 1;
  } finally {
    (logger as Logger | null)?.close();
  }
}
