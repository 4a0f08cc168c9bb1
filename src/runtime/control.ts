import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/**
 * The limits every control connection is held to, so that no local user can hold a daemon's
 * control open: a client has CONTROL_IDLE_MS of silence to send its request (and to take its
 * reply), and past CONTROL_CONNECTIONS_MAX open connections the one waiting longest for its
 * request is dropped to admit the newest.
 */
export const CONTROL_IDLE_MS = 10_000;
export const CONTROL_CONNECTIONS_MAX = 32;

/** Connections whose request is read and is being answered. */
const answering = new WeakSet<net.Socket>();

/**
 * A server for control connections: a client that half-closes after its request (shutdown of
 * its writing side) still gets its reply, and the number of open connections is bounded.
 */
export function controlServer(onConnection: (socket: net.Socket) => void, connectionsMax = CONTROL_CONNECTIONS_MAX): net.Server {
  const open = new Set<net.Socket>();
  return net.createServer({ allowHalfOpen: true }, (socket) => {
    if (open.size >= connectionsMax) {
      // The oldest is the one that has waited longest; a request being answered is not dropped.
      const oldest = [...open].find((s) => !answering.has(s));
      oldest?.destroy();
      if (oldest) open.delete(oldest);
    }
    open.add(socket);
    socket.once('close', () => {
      open.delete(socket);
      answering.delete(socket);
    });
    onConnection(socket);
  });
}

export interface ControlSocketOptions {
  path: string;
  /** File mode of the socket, e.g. 0o600: who may connect is decided by the file system. */
  mode: number;
  /** Group that may connect (with mode 0o660). */
  group?: number;
}

/**
 * Listens on a UNIX control socket. Call only while holding the start lock: a socket file left
 * by a crashed process is removed, which would otherwise steal a live daemon's socket.
 */
export async function listenControlSocket(
  options: ControlSocketOptions,
  onConnection: (socket: net.Socket) => void,
): Promise<net.Server> {
  fs.mkdirSync(path.dirname(options.path), { recursive: true });
  fs.rmSync(options.path, { force: true });
  const server = controlServer(onConnection);
  // The mode is applied through umask so that no moment exists with a wider mode.
  const oldMask = process.umask(0o777 & ~options.mode);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(oldMask);
  }
  fs.chmodSync(options.path, options.mode);
  if (options.group !== undefined) fs.chownSync(options.path, process.getuid?.() ?? 0, options.group);
  server.on('close', () => fs.rmSync(options.path, { force: true }));
  return server;
}

/**
 * Reads one request line per connection and writes the handler's reply, then closes: the
 * form of pen's control protocol and of isinit's. A connection silent for CONTROL_IDLE_MS while
 * its request is awaited, or while its reply waits to be taken, is dropped.
 */
export function lineRequests(
  handler: (line: string, socket: net.Socket) => Promise<string> | string,
  maxLine = 64 * 1024,
  errorReply: (message: string) => string = (message) => `error: ${message}\n`,
): (socket: net.Socket) => void {
  return (socket) => {
    let buffered = '';
    let answered = false;
    const idle = () => socket.setTimeout(CONTROL_IDLE_MS, () => socket.destroy());
    const reply = (text: string) => {
      idle();
      socket.end(text);
      // Read on, discarding, so that the client's close is seen and the connection released.
      socket.resume();
    };
    const answer = (line: string) => {
      answered = true;
      answering.add(socket);
      // The handler may take its time (a switch waits for its entries); only the client's silence counts.
      socket.setTimeout(0);
      socket.pause();
      Promise.resolve()
        .then(() => handler(line, socket))
        .then(reply, (err: Error) => reply(errorReply(err.message)));
    };
    idle();
    socket.setEncoding('utf8');
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: string) => {
      if (answered) return;
      buffered += chunk;
      if (buffered.length > maxLine) {
        answered = true;
        reply(errorReply(`request longer than ${maxLine} bytes`));
        return;
      }
      const newline = buffered.indexOf('\n');
      if (newline >= 0) answer(buffered.slice(0, newline).replace(/\r$/, ''));
    });
    // A client that half-closes without a newline still gets its answer.
    socket.on('end', () => {
      if (!answered) answer(buffered.replace(/\r$/, ''));
    });
  };
}
