import fs from 'node:fs';
import { LogFile, LostLines } from './log-file';
import { loadNative } from './native';

export const SEVERITIES = { emerg: 0, alert: 1, crit: 2, err: 3, warning: 4, notice: 5, info: 6, debug: 7 } as const;
export type Severity = keyof typeof SEVERITIES;
const FACILITY_DAEMON = 3;
const SYSLOG_SOCKET = '/dev/log';

interface UnixDgramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, cb?: (err?: Error) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  close(): void;
}

export interface LoggerOptions {
  identity: string;
  /** In the foreground every line also goes to stderr. */
  foreground: boolean;
  libDir: string;
  /** Lines at debug severity are dropped unless set. */
  debug?: boolean;
}

export interface Logger {
  readonly identity: string;
  log(severity: Severity, message: string): void;
  info(message: string): void;
  notice(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  debug(message: string): void;
  setDebug(on: boolean): void;
  close(): void;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** The local syslog wire form (RFC 3164 as syslogd reads it from /dev/log). */
export function syslogLine(severity: Severity, identity: string, pid: number, message: string, now = new Date()): string {
  const pri = FACILITY_DAEMON * 8 + SEVERITIES[severity];
  const two = (n: number) => String(n).padStart(2, '0');
  const stamp = `${MONTHS[now.getMonth()]} ${String(now.getDate()).padStart(2, ' ')} ${two(now.getHours())}:${two(now.getMinutes())}:${two(now.getSeconds())}`;
  return `<${pri}>${stamp} ${identity}[${pid}]: ${message.replace(/[\r\n]+/g, ' ')}`;
}

function stderrIsFile(): boolean {
  try {
    return fs.fstatSync(2).isFile();
  } catch {
    return false;
  }
}

/**
 * Log under the stamped identity: to syslog through /dev/log where it exists (a datagram
 * socket, which Node's own dgram cannot open), and to stderr in the foreground.
 */
export function createLogger(options: LoggerOptions): Logger {
  let debugOn = options.debug ?? false;
  let socket: UnixDgramSocket | null = null;
  if (fs.existsSync(SYSLOG_SOCKET)) {
    try {
      const unix = loadNative<{ createSocket(type: 'unix_dgram'): UnixDgramSocket }>('unix-dgram', options.libDir);
      socket = unix.createSocket('unix_dgram');
      // A syslogd that goes away must not take the daemon with it.
      socket.on('error', () => undefined);
    } catch (err) {
      process.stderr.write(`${options.identity}: syslog unavailable (${(err as Error).message}); logging to stderr\n`);
    }
  }
  const toStderr = options.foreground || socket === null;
  // A console that is a file (a detached daemon's) is written synchronously, so that a full disk
  // is a counted loss, never an error thrown into the daemon; a terminal or pipe keeps Node's
  // stream, whose errors (EPIPE, EIO) are counted the same way.
  const consoleFile = toStderr && stderrIsFile() ? LogFile.onDescriptor(2, { what: 'log', onRecovered: (note) => log('warning', note) }) : null;
  const consoleLost = new LostLines();
  if (toStderr && !consoleFile) process.stderr.on('error', (err) => consoleLost.lose(1, err));
  const syslogLost = new LostLines();
  const toConsole = (line: string) => {
    if (consoleFile) {
      consoleFile.write(line);
      return;
    }
    process.stderr.write(line);
    const note = process.stderr.writable ? consoleLost.recovered('log') : null;
    if (note) process.stderr.write(`${options.identity}: ${note}\n`);
  };
  const toSyslog = (severity: Severity, message: string) => {
    const line = Buffer.from(syslogLine(severity, options.identity, process.pid, message));
    let failed: unknown = null;
    try {
      // unix-dgram answers synchronously: an error, or "congestion" when syslogd's queue is full.
      socket?.send(line, 0, line.length, SYSLOG_SOCKET, (err) => (failed = err ?? null));
    } catch (err) {
      failed = err;
    }
    if (failed) {
      syslogLost.lose(1, failed);
      return;
    }
    const note = syslogLost.recovered('syslog');
    if (note) toSyslog('warning', note);
  };
  const log = (severity: Severity, message: string) => {
    if (severity === 'debug' && !debugOn) return;
    if (socket) toSyslog(severity, message);
    if (toStderr) toConsole(`${options.identity}: ${message}\n`);
  };
  return {
    identity: options.identity,
    log,
    info: (m) => log('info', m),
    notice: (m) => log('notice', m),
    warn: (m) => log('warning', m),
    error: (m) => log('err', m),
    debug: (m) => log('debug', m),
    setDebug: (on) => {
      debugOn = on;
    },
    close: () => {
      socket?.close();
      socket = null;
    },
  };
}
