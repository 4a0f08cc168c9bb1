import dgram from 'node:dgram';
import { BatchedLogFile, LogFile } from '../runtime';
import { errnoProblem } from './errno-messages';
import type { RequestLogger } from './proxy';

/** The first line of a chunk as pen logs it: at most 100 bytes, up to CR/LF, non-ASCII as '.'. */
export function requestLine(chunk: Buffer): string {
  let out = '';
  for (let i = 0; i < chunk.length && i < 100; i++) {
    const b = chunk[i]!;
    if (b === 13 || b === 10) break;
    out += b >= 32 && b < 127 ? String.fromCharCode(b) : '.';
  }
  return out;
}

export interface OpenLog {
  logger: RequestLogger;
  /** The same target anew (a file after rotation); lines lost so far stay counted. */
  reopen(): void;
  close(): void;
}

/**
 * `-l FILE`: a line per chunk read from a client; `-l host:port`: the same sent to penlogd as
 * `+ client server request` datagrams.
 */
/** A log target names a file unless it is host:port (a file path may hold a colon after a '/'). */
export function isLogFile(target: string): boolean {
  return target.startsWith('/') || target.lastIndexOf(':') <= 0;
}

export function openRequestLog(target: string, onRecovered: (note: string) => void = () => undefined): OpenLog {
  if (!isLogFile(target)) {
    const colon = target.lastIndexOf(':');
    const host = target.slice(0, colon);
    const portText = target.slice(colon + 1);
    const port = Number(portText);
    if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
      throw new Error(`log target "${target}": the port must be a number from 1 to 65535; give a FILE or the host:port of a penlogd`);
    }
    const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    socket.on('error', () => undefined);
    socket.unref();
    return {
      logger: (client, server, chunk) => {
        try {
          socket.send(`+ ${client} ${server} ${requestLine(chunk)}\n`, port, host);
        } catch {
          // A log that cannot be sent never stops the traffic it describes.
        }
      },
      reopen: () => undefined,
      close: () => socket.close(),
    };
  }
  // Opened here, not by the stream, so that a file that cannot be written is an error now, not silence.
  // A full disk drops lines (counted, and told through onRecovered); it never stops the traffic.
  const opening = <T>(open: () => T): T => {
    try {
      return open();
    } catch (err) {
      throw new Error(`log target "${target}" ${errnoProblem(err, 'written')}; give a FILE pen can append to, or the host:port of a penlogd`);
    }
  };
  const file = opening(() => new BatchedLogFile(LogFile.open(target, { what: 'request log', mode: 0o644, onRecovered })));
  return {
    logger: (client, server, chunk) => file.write(`${client} ${Math.floor(Date.now() / 1000)} ${server} ${requestLine(chunk)}\n`),
    reopen: () => opening(() => file.reopen()),
    close: () => file.close(),
  };
}
