import fs from 'node:fs';
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
  const log = (severity: Severity, message: string) => {
    if (severity === 'debug' && !debugOn) return;
    if (socket) {
      const line = Buffer.from(syslogLine(severity, options.identity, process.pid, message));
      socket.send(line, 0, line.length, SYSLOG_SOCKET, () => undefined);
    }
    if (toStderr) process.stderr.write(`${options.identity}: ${message}\n`);
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
