import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { currentLayout, LogFile, runDaemon, UsageError, type DaemonContext } from '../../runtime';
import { getopt } from '../libc/getopt';
import { ipv4Number } from '../libc/netaddr';
import { PenlogRing } from './penlogd-ring';
import { atoi } from '../libc/scanf';

export const PENLOGD_USAGE =
  'Usage:\n' +
  '  penlogd [options] port\n' +
  '\n' +
  '  -d        debugging on\n' +
  '  -f        stay in foreground\n' +
  '  -j dir    run in chroot\n' +
  '  -l file   write log to file\n' +
  '  -b        unbuffer output (Testing Only!)\n' +
  '  -n N      number of pen log entries to cache [1000]\n' +
  '  -p file   write pid to file\n' +
  '  -u user   run as alternative user\n';

/** penlogd reads datagrams into a 1024-byte buffer; anything longer is cut there. */
const DATAGRAM_MAX = 1024;

export interface PenlogdOptions {
  debug: number;
  foreground: boolean;
  logFile: string | null;
  entries: number;
  pidFile: string | null;
  user: string | null;
  bindAddress: string;
  port: number;
}

/** penlogd's command line; `port` may also be `address:port` to bind one address only. */
export function parsePenlogdArgs(args: readonly string[]): PenlogdOptions | 'usage' {
  if (args.length === 1 && (args[0] === '-h' || args[0] === '--help')) return 'usage';
  let parsed;
  try {
    parsed = getopt(args, 'j:l:n:p:u:dfb');
  } catch (err) {
    if (err instanceof UsageError) throw new UsageError(`${err.message}; see the options above`);
    throw err;
  }
  const options: PenlogdOptions = { debug: 0, foreground: false, logFile: null, entries: 1000, pidFile: null, user: null, bindAddress: '0.0.0.0', port: 0 };
  for (const { opt, arg = '' } of parsed.options) {
    if (opt === 'd') options.debug++;
    else if (opt === 'f') options.foreground = true;
    else if (opt === 'l') options.logFile = path.resolve(arg);
    else if (opt === 'p') options.pidFile = path.resolve(arg);
    else if (opt === 'u') options.user = arg;
    else if (opt === 'n') {
      options.entries = atoi(arg);
      if (options.entries < 1) throw new UsageError(`-n ${arg}: the number of pen log entries to cache must be at least 1 (default 1000)`);
    } else if (opt === 'j') {
      throw new UsageError(`-j ${arg}: this penlogd cannot chroot itself; start it inside the chroot instead (chroot(8), or RootDirectory= in a systemd unit)`);
    }
    // -b (line-buffered log) is how this penlogd always writes: one write per record.
  }
  const operand = parsed.operands[0];
  if (operand === undefined) throw new UsageError('no port given; give the UDP port to receive log records on, e.g. "penlogd -f 10000"');
  let portText = operand;
  const colon = operand.lastIndexOf(':');
  if (colon >= 0) {
    options.bindAddress = operand.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    portText = operand.slice(colon + 1);
  }
  // atoi, as penlogd reads it, truncated to 16 bits as the socket address stores it.
  options.port = atoi(portText) & 0xffff;
  if (options.port === 0) throw new UsageError(`"${operand}" is not a UDP port; give a port number from 1 to 65535`);
  return options;
}

/**
 * Where the merged log goes: a file (reopened on HUP), or stdout. A record the disk cannot take
 * is dropped and counted, never fatal; `onRecovered` is told the count once writing works again.
 */
class MergedLog {
  private readonly out: LogFile;

  constructor(file: string | null, onRecovered: (note: string) => void) {
    const options = { what: 'merged log', mode: 0o644, onRecovered };
    if (file) fs.mkdirSync(path.dirname(file), { recursive: true });
    this.out = file ? LogFile.open(file, options) : LogFile.onDescriptor(1, options);
  }

  write(record: string): void {
    this.out.write(record, 'latin1');
  }

  /** After `mv log log.1; kill -HUP`: a fresh file under the old name. */
  reopen(): void {
    this.out.reopen();
  }

  close(): void {
    this.out.close();
  }
}

export async function penlogdMain(args: readonly string[]): Promise<number> {
  let options: PenlogdOptions | 'usage';
  try {
    options = parsePenlogdArgs(args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stdout.write(PENLOGD_USAGE);
    process.stderr.write(`penlogd: ${err.message}\n`);
    return 1;
  }
  if (options === 'usage') {
    process.stdout.write(PENLOGD_USAGE);
    return 0;
  }
  const opts = options;
  const base = currentLayout('pen');
  // penlogd is a daemon of its own beside pen: its own start lock and PID file.
  const layout = { ...base, startLock: base.files.penlogdLock };
  // Detached, stdout leads nowhere useful: without -l the merged log goes to the flavor's file.
  const logFile = opts.logFile ?? (opts.foreground ? null : base.files.mergedLog);
  let merged: MergedLog | null = null;

  await runDaemon({
    daemon: 'pen',
    layout,
    foreground: opts.foreground,
    pidFile: opts.pidFile ?? base.files.penlogdPid,
    user: opts.user ?? undefined,
    debug: opts.debug > 0,
    async start(ctx: DaemonContext) {
      const debug = (level: number, message: string) => {
        if (opts.debug >= level) ctx.log.debug(message);
      };
      merged = new MergedLog(logFile, (note) => ctx.log.warn(note));
      if (logFile) ctx.handOver(logFile);
      debug(1, logFile ? `Logging to ${logFile}` : 'Logging to stdout');
      const ring = new PenlogRing(opts.entries, debug);
      const sock = dgram.createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        sock.once('error', (err: NodeJS.ErrnoException) =>
          reject(new Error(`Problem binding UDP ${opts.bindAddress}:${opts.port} (${err.code}); choose a free port or stop what holds it`)),
        );
        sock.bind({ address: opts.bindAddress, port: opts.port }, () => resolve());
      });
      sock.removeAllListeners('error');
      sock.on('error', (err) => debug(1, `Error receiving data: ${err.message}`));
      sock.on('message', (msg, rinfo) => {
        const datagram = msg.subarray(0, DATAGRAM_MAX).toString('latin1');
        if (datagram.startsWith('+')) {
          ring.storePen(datagram);
          return;
        }
        const record = ring.rewriteWeb(datagram, ipv4Number(rinfo.address));
        if (record !== null) merged?.write(record);
      });
      ctx.onStop(() => {
        sock.close();
        merged?.close();
      });
      debug(1, 'Enter main loop');
    },
    reload(ctx) {
      if (opts.debug) ctx.log.debug(`Reopen log file ${logFile ?? 'stdout'}`);
      (merged as MergedLog | null)?.reopen();
    },
  });
  return 0;
}
