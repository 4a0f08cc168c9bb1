import net from 'node:net';
import { currentLayout } from '../../runtime';
import { GaiError, resolveHost, resolveService } from '../libc/netaddr';

export const PENCTL_USAGE = 'usage: penctl host:port command\n';

/** pen's request buffer: penctl refuses a command line that does not fit in it. */
const REQUEST_MAX = 1024;

/**
 * First words pen's control protocol understands (0.34.1 do_cmd). A first argument that is one
 * of these, and so no address, sends the command to this flavor's own control socket.
 */
const COMMAND_WORDS = new Set([
  'abort_on_error', 'acl', 'ascii', 'blacklist', 'client_acl', 'clients_max', 'close', 'connection',
  'conn_max', 'control', 'control_acl', 'debug', 'dsr_if', 'dsr_ip', 'dummy', 'epoll', 'exit', 'hash',
  'http', 'idle_timeout', 'idlers', 'include', 'keepalive', 'kqueue', 'listen', 'log', 'mode', 'no',
  'peek', 'pending_max', 'pid', 'poll', 'prio', 'recent', 'roundrobin', 'select', 'server', 'servers',
  'socket', 'source', 'ssl_ciphers', 'ssl_client_renegotiation_interval', 'ssl_ocsp_response',
  'ssl_option', 'ssl_sni_path', 'status', 'stubborn', 'tarpit_acl', 'tcp_fastclose', 'tcp_nodelay',
  'timeout', 'tracking', 'transparent', 'web_stats', 'weight', 'write',
]);

export class PenctlError extends Error {}

export type ControlTarget = { kind: 'unix'; path: string; label: string } | { kind: 'tcp'; host: string; port: string; label: string };

export interface PenctlRequest {
  target: ControlTarget;
  /** The bytes sent: the words joined by single spaces, then a newline. */
  line: string;
}

const looksLikeAddress = (word: string) => word.includes('/') || word.includes(':');

/**
 * penctl's argument handling: `penctl host:port|/path/to/socket command words...`, as
 * Debian's; a command with no address goes to the flavor's control socket.
 */
export function parsePenctlArgs(args: readonly string[], controlSocket: () => string): PenctlRequest | 'usage' {
  if (args.length === 1 && (args[0] === '-h' || args[0] === '--help')) return 'usage';
  if (args.length === 0) {
    throw new PenctlError(
      'no command given; give a pen command, e.g. "penctl servers" (this flavor\'s control socket) or "penctl host:port servers"',
    );
  }
  let target: ControlTarget;
  let words: readonly string[];
  const first = args[0];
  if (!looksLikeAddress(first) && COMMAND_WORDS.has(first)) {
    const path = controlSocket();
    target = { kind: 'unix', path, label: path };
    words = args;
  } else {
    if (args.length === 1) {
      throw new PenctlError(
        looksLikeAddress(first)
          ? `no command given after ${first}; add one, e.g. "penctl ${first} servers"`
          : `"${first}" is neither host:port, a socket path nor a pen command; use "penctl host:port command" or "penctl command" for this flavor's control socket`,
      );
    }
    if (Buffer.byteLength(first) + 1 > REQUEST_MAX) throw new PenctlError(`Overlong arg '${first}'; the address must be shorter than ${REQUEST_MAX} bytes`);
    if (first.includes('/')) {
      target = { kind: 'unix', path: first, label: first };
    } else {
      // The last ':' splits, so that ::1:10080 is IPv6 localhost port 10080.
      const colon = first.lastIndexOf(':');
      if (colon < 0) throw new PenctlError(`no port given in "${first}"; write host:port (e.g. 127.0.0.1:10080) or a socket path`);
      target = { kind: 'tcp', host: first.slice(0, colon), port: first.slice(colon + 1), label: first };
    }
    words = args.slice(1);
  }
  const line = `${words.join(' ')}\n`;
  if (Buffer.byteLength(line) >= REQUEST_MAX - 1) {
    throw new PenctlError(`Overlong argument list; shorten the command to less than ${REQUEST_MAX - 2} bytes`);
  }
  return { target, line };
}

async function connect(target: ControlTarget): Promise<net.Socket> {
  let options: net.NetConnectOpts;
  if (target.kind === 'unix') {
    options = { path: target.path };
  } else {
    let port: number;
    let address: string;
    try {
      port = resolveService(target.port, 'tcp');
      address = (await resolveHost(target.host)).address;
    } catch (err) {
      if (err instanceof GaiError) throw new PenctlError(`${err.message} (${err.detail}); give host:port with a reachable host and a numeric port`);
      throw err;
    }
    options = { host: address, port };
  }
  return new Promise((resolve, reject) => {
    const socket = net.connect(options);
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const hint =
        target.kind === 'unix'
          ? `is pen running with its control socket at ${target.path}?`
          : `is pen running with -C ${target.label}?`;
      reject(new PenctlError(`error connecting to server ${target.label} (${err.code ?? err.message}); ${hint}`));
    });
  });
}

/** Sends one command and copies pen's whole reply to `out`. */
export async function sendCommand(request: PenctlRequest, out: NodeJS.WritableStream): Promise<void> {
  const socket = await connect(request.target);
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      if (!out.write(chunk)) {
        socket.pause();
        out.once('drain', () => socket.resume());
      }
    });
    socket.once('end', () => resolve());
    socket.once('error', (err: NodeJS.ErrnoException) => reject(new PenctlError(`error reading from socket (${err.code ?? err.message})`)));
    socket.write(request.line, 'utf8');
  });
  socket.destroy();
}

/** The penctl program; returns its exit status. */
export async function penctlMain(args: readonly string[]): Promise<number> {
  try {
    const request = parsePenctlArgs(args, () => currentLayout('pen').controlSocket);
    if (request === 'usage') {
      process.stdout.write(PENCTL_USAGE);
      return 0;
    }
    await sendCommand(request, process.stdout);
    return 0;
  } catch (err) {
    if (!(err instanceof PenctlError)) throw err;
    process.stderr.write(`penctl: ${err.message}\n`);
    if (/^no command given|neither host:port/.test(err.message)) process.stderr.write(PENCTL_USAGE);
    return 1;
  }
}
