import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

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
  const server = net.createServer(onConnection);
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
 * form of pen's control protocol and of isinit's.
 */
export function lineRequests(
  handler: (line: string, socket: net.Socket) => Promise<string> | string,
  maxLine = 64 * 1024,
  errorReply: (message: string) => string = (message) => `error: ${message}\n`,
): (socket: net.Socket) => void {
  return (socket) => {
    let buffered = '';
    let answered = false;
    const answer = (line: string) => {
      answered = true;
      socket.pause();
      Promise.resolve()
        .then(() => handler(line, socket))
        .then(
          (reply) => socket.end(reply),
          (err: Error) => socket.end(errorReply(err.message)),
        );
    };
    socket.setEncoding('utf8');
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: string) => {
      if (answered) return;
      buffered += chunk;
      if (buffered.length > maxLine) {
        answered = true;
        socket.end(errorReply(`request longer than ${maxLine} bytes`));
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
