import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { currentLayout } from '../../runtime';
import { loadNative } from '../../runtime/native';
import { STAMP_ORIGIN } from '../../runtime/stamp-source';

/*
 * The libc calls pen's FFI byte path makes, through koffi (loaded lazily: where it cannot load,
 * pen runs another data path). Every pointer argument is a Buffer the caller keeps referenced
 * for the whole call, so the kernel never reads or writes collected memory.
 */

export interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, length: number): number;
  getsockopt(fd: number, level: number, name: number, value: Buffer, length: Buffer): number;
  bind(fd: number, address: Buffer, length: number): number;
  listen(fd: number, backlog: number): number;
  accept4(fd: number, address: Buffer, length: Buffer, flags: number): number;
  connect(fd: number, address: Buffer, length: number): number;
  getsockname(fd: number, address: Buffer, length: Buffer): number;
  /** `buffer` may also be a pointer from `address`, which crosses into koffi more cheaply. */
  recv(fd: number, buffer: Buffer | bigint, length: number, flags: number): number;
  send(fd: number, buffer: Buffer | bigint, length: number, flags: number): number;
  /** Where a buffer's bytes lie: valid while the buffer is referenced. */
  address(buffer: Buffer): bigint;
  shutdown(fd: number, how: number): number;
  close(fd: number): number;
  epoll_create1(flags: number): number;
  epoll_ctl(epfd: number, op: number, fd: number, event: Buffer | null): number;
  epoll_wait(epfd: number, events: Buffer, max: number, timeoutMs: number): number;
  eventfd(initval: number, flags: number): number;
  read(fd: number, buffer: Buffer, length: number): number;
  getrlimit(resource: number, limits: Buffer): number;
  /** fcntl with an int argument (F_GETFL, F_SETFL). */
  fcntl(fd: number, cmd: number, arg: number): number;
  /** errno of the last call on this thread. */
  errno(): number;
  /** The loop's hot part in C (./relay.c), or null where that library is not here (the loop runs its rounds itself). */
  relay: Relay | null;
  /** Why the loop runs its rounds in TypeScript, when relay is null. */
  relayNote: string | null;
}

/** The functions of ./relay.c; `loop` is the address of the loop's `struct pen_loop`. */
export interface Relay {
  /** pen_relay_round: one round from event `start` (-1: a new round); the index it stopped at, or the event count. */
  round(loop: bigint, timeoutMs: number, start: number): number;
  /** pen_connect: a connecting, registered socket, or -errno. `source` may be null. */
  connect(loop: bigint, address: Buffer, length: number, source: Buffer | null, sourceLength: number, events: number): number;
}

/** The version of ./relay.c this loop speaks (PEN_RELAY_VERSION there). */
export const RELAY_VERSION = 4;
/** `ts` makes the FFI loop run its rounds in TypeScript even where the C round loads. */
export const FFI_ROUND_ENV = 'FLAVORKIT_PEN_FFI_ROUND';
/** The C round's library, as the build names it beside koffi. */
export const RELAY_LIBRARY = 'pen-relay.so';
/** Set on an event whose recv failed in the C round (PEN_RELAY_RECV_FAILED there). */
export const RELAY_RECV_FAILED = 0x40000000;
/** Set on an event whose input the C round relayed up to the peer's FIN (PEN_RELAY_EOF there). */
export const RELAY_EOF = 0x10000000;
/** Set on a listener's event when accept4 ran out of descriptors in the C round (PEN_RELAY_ACCEPT_FULL there). */
export const RELAY_ACCEPT_FULL = 0x20000000;
/** peer[] of a listener the C round accepts on (PEN_LISTENER there). */
export const RELAY_LISTENER = -1;
/** Words per client in the C round's accepted array (PEN_ACCEPT_WORDS there). */
export const RELAY_ACCEPT_WORDS = 8;
/** The C round's result words, and where in them it counts the clients accepted, the closes put off and the reads asked for (its RESULT_* enum). */
export const RELAY_RESULT_WORDS = 7;
export const RELAY_RESULT_ACCEPTED = 4;
export const RELAY_RESULT_CLOSING = 5;
export const RELAY_RESULT_READING = 6;

/**
 * Where the C round's library lies: in a package, in the libDir beside koffi's addon; from the
 * sources (and bundles run against them), in node_modules/.cache, where scripts/setup.sh builds it.
 */
function relayLibraryPaths(koffiEntry: string): string[] {
  const paths = [path.join(path.dirname(koffiEntry), '..', '.cache', 'flavorkit', RELAY_LIBRARY)];
  if (STAMP_ORIGIN === 'stamped') paths.unshift(path.join(currentLayout('pen').libDir, RELAY_LIBRARY));
  return paths;
}

/** Whether the environment asks for the TypeScript rounds; an unknown value is refused. */
export function tsRoundsWanted(): boolean {
  const wanted = process.env[FFI_ROUND_ENV];
  if (wanted !== undefined && wanted !== '' && wanted !== 'c' && wanted !== 'ts') throw new Error(`${FFI_ROUND_ENV}=${wanted} names no round; use c or ts, or leave it unset`);
  return wanted === 'ts';
}

function loadRelay(koffi: typeof import('koffi'), tsRounds: boolean): { relay: Relay | null; note: string | null } {
  if (tsRounds) return { relay: null, note: `${FFI_ROUND_ENV}=ts` };
  let entry: string;
  try {
    entry = createRequire(__filename).resolve('koffi');
  } catch {
    entry = path.join(currentLayout('pen').libDir, 'node_modules', 'koffi', 'index.cjs');
  }
  const file = relayLibraryPaths(entry).find((p) => fs.existsSync(p));
  if (!file) return { relay: null, note: `${RELAY_LIBRARY} was not built (no C compiler at build time)` };
  try {
    const lib = koffi.load(file);
    const version = (lib.func('int pen_relay_version(void)') as () => number)();
    if (version !== RELAY_VERSION) return { relay: null, note: `${file} is version ${version}, not ${RELAY_VERSION}; rebuild it` };
    const relay: Relay = {
      round: lib.func('int pen_relay_round(void *, int, int)') as Relay['round'],
      connect: lib.func('int pen_connect(void *, void *, int, void *, int, int)') as Relay['connect'],
    };
    return { relay, note: null };
  } catch (err) {
    return { relay: null, note: `${file} does not load: ${(err as Error).message.split('\n')[0]}` };
  }
}

// Linux values, the same on x86-64 and arm64.
export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_ERROR = 4;
export const SO_KEEPALIVE = 9;
export const IPPROTO_TCP = 6;
export const TCP_NODELAY = 1;
export const SHUT_WR = 1;
export const MSG_NOSIGNAL = 0x4000;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLL_CTL_MOD = 3;
export const EPOLLIN = 0x1;
export const EPOLLOUT = 0x4;
export const EPOLLERR = 0x8;
export const EPOLLHUP = 0x10;
export const EPOLLRDHUP = 0x2000;
/** Edge-triggered: an event when readiness arrives, not in every round while it lasts. */
export const EPOLLET = 0x80000000 | 0;
export const EFD_NONBLOCK = 0o4000;
export const EFD_CLOEXEC = 0o2000000;
export const RLIMIT_NOFILE = 7;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const O_NONBLOCK = 0o4000;
export const EINTR = 4;
export const EAGAIN = 11;
export const EMFILE = 24;
export const ENFILE = 23;
export const ENOTCONN = 107;
export const EINPROGRESS = 115;

/** struct epoll_event is packed on x86-64 (12 bytes), naturally aligned elsewhere (16). */
export const EPOLL_EVENT_SIZE = process.arch === 'x64' ? 12 : 16;
export const EPOLL_DATA_OFFSET = process.arch === 'x64' ? 4 : 8;

let loaded: Libc | string | null = null;

/** libc through koffi, or why it cannot be had here. */
export function loadLibc(): Libc | string {
  if (loaded !== null) return loaded;
  if (process.platform !== 'linux') return (loaded = 'the FFI data path needs Linux (epoll)');
  const tsRounds = tsRoundsWanted();
  try {
    // Loaded here, not imported: the addon loads only where this path runs, from the package's libDir.
    const koffi = loadNative<typeof import('koffi')>('koffi', currentLayout('pen').libDir);
    const lib = koffi.load('libc.so.6');
    const f = (signature: string) => lib.func(signature) as (...args: unknown[]) => number;
    loaded = {
      socket: f('int socket(int, int, int)'),
      setsockopt: f('int setsockopt(int, int, int, void *, uint32_t)'),
      getsockopt: f('int getsockopt(int, int, int, void *, void *)'),
      bind: f('int bind(int, void *, uint32_t)'),
      listen: f('int listen(int, int)'),
      accept4: f('int accept4(int, void *, void *, int)'),
      connect: f('int connect(int, void *, uint32_t)'),
      getsockname: f('int getsockname(int, void *, void *)'),
      // ssize_t read as int: a call moves at most one buffer (64 KiB, or a bounded pending write),
      // and a 32-bit result converts to a JavaScript number more cheaply.
      recv: f('int recv(int, void *, size_t, int)'),
      send: f('int send(int, void *, size_t, int)'),
      shutdown: f('int shutdown(int, int)'),
      close: f('int close(int)'),
      epoll_create1: f('int epoll_create1(int)'),
      epoll_ctl: f('int epoll_ctl(int, int, int, void *)'),
      epoll_wait: f('int epoll_wait(int, void *, int, int)'),
      eventfd: f('int eventfd(unsigned int, int)'),
      read: f('long read(int, void *, size_t)'),
      getrlimit: f('int getrlimit(int, void *)'),
      // Declared with its one int argument: on Linux's x86-64 and arm64 ABIs a variadic int travels as a fixed one.
      fcntl: f('int fcntl(int, int, int)'),
      address: (buffer: Buffer) => koffi.address(buffer),
      errno: () => koffi.errno(),
      ...(({ relay, note }) => ({ relay, relayNote: note }))(loadRelay(koffi, tsRounds)),
    } as Libc;
  } catch (err) {
    loaded = `koffi cannot load libc here (${(err as Error).message.split('\n')[0]})`;
  }
  return loaded;
}

// ---------------------------------------------------------------------------------------------
// Socket addresses

function ipv6Bytes(address: string): Buffer {
  const out = Buffer.alloc(16);
  let text = address;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = v4[1]!.split('.').map(Number);
    text = `${text.slice(0, v4.index)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parts = (s: string) => (s === '' ? [] : s.split(':'));
  const h = parts(head);
  const t = tail === undefined ? [] : parts(tail);
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** A sockaddr_in, sockaddr_in6 or sockaddr_un for `host`:`port` or a UNIX socket path. */
export function sockaddr(host: string, port: number, unixPath: string | null = null): Buffer {
  if (unixPath !== null) {
    const path = Buffer.from(unixPath);
    if (path.length > 107) throw new Error(`${unixPath}: a UNIX socket path has at most 107 bytes`);
    const out = Buffer.alloc(2 + path.length + 1);
    out.writeUInt16LE(AF_UNIX, 0);
    path.copy(out, 2);
    return out;
  }
  if (net.isIPv4(host)) {
    const out = Buffer.alloc(16);
    out.writeUInt16LE(AF_INET, 0);
    out.writeUInt16BE(port, 2);
    host.split('.').forEach((b, i) => (out[4 + i] = Number(b)));
    return out;
  }
  if (!net.isIPv6(host)) throw new Error(`${host} is not an IP address`);
  const out = Buffer.alloc(28);
  out.writeUInt16LE(AF_INET6, 0);
  out.writeUInt16BE(port, 2);
  ipv6Bytes(host).copy(out, 8);
  return out;
}

/** The address and port in a sockaddr the kernel filled in; null address for other families. */
export function peerOf(addr: Buffer): { address: string | null; port: number } {
  const family = addr.readUInt16LE(0);
  if (family === AF_INET) return { address: `${addr[4]}.${addr[5]}.${addr[6]}.${addr[7]}`, port: addr.readUInt16BE(2) };
  if (family !== AF_INET6) return { address: null, port: 0 };
  const port = addr.readUInt16BE(2);
  // An IPv4 client of a dual-stack listener, written as Node writes it.
  if (addr.readUInt32BE(8) === 0 && addr.readUInt32BE(12) === 0 && addr.readUInt32BE(16) === 0xffff) {
    return { address: `::ffff:${addr[20]}.${addr[21]}.${addr[22]}.${addr[23]}`, port };
  }
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(addr.readUInt16BE(8 + i * 2));
  // The longest run of two or more zero groups becomes "::" (RFC 5952).
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (list: number[]) => list.map((g) => g.toString(16)).join(':');
  const address = best < 0 ? hex(groups) : `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLength))}`;
  return { address, port };
}

/** Why the FFI data path cannot run here (koffi, libc, epoll), or null when it can. */
export function ffiProblem(): string | null {
  const libc = loadLibc();
  if (typeof libc === 'string') return libc;
  const epfd = libc.epoll_create1(SOCK_CLOEXEC);
  if (epfd < 0) return `epoll_create1 failed (errno ${libc.errno()})`;
  libc.close(epfd);
  return null;
}
