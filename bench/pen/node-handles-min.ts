// The smallest relay on libuv's stream handles (process.binding('tcp_wrap')), written apart from
// src/pen/transport.ts: round robin over the backends, half-close, both sides closed on error or
// after both ends, crude backpressure, and nothing else. It is the floor a proxy on these handles
// can reach; node-handles.ts (pen's transport without pen) beside it shows what the transport adds.
//   node node-handles-min.js 127.0.0.1:PORT 127.0.0.1:B1 127.0.0.1:B2
//
// HANDLES_MIN, a comma-separated list, turns on the costlier side of a choice a relay on these
// handles makes (pen's transport does `peer`, for its client table, and none of the others):
//   peer      getpeername at each accept
//   alloc     Node allocates a buffer per read, instead of one shared read buffer (useUserBuffer)
//   shutdown  the second EOF is passed on as a half-close too, the pair closing when both complete,
//             instead of closing the pair at once
//   late      the backend starts reading once connected, instead of with its connect
import { bareArgs } from './bare-args';

/** The internal bindings are untyped (src/pen/transport.ts checks each member it uses; this relay does not). */
type Binding = Record<string, any>;
const binding = (process as unknown as { binding(name: string): Binding }).binding;
const { TCP, TCPConnectWrap, constants } = binding('tcp_wrap');
const { WriteWrap, ShutdownWrap, streamBaseState: state, kReadBytesOrError, kArrayBufferOffset, kLastWriteWasAsync } = binding('stream_wrap');
const { UV_EOF } = binding('uv');

const options = new Set((process.env.HANDLES_MIN ?? '').split(',').filter(Boolean));
for (const o of options) if (!['peer', 'alloc', 'shutdown', 'late'].includes(o)) throw new Error(`HANDLES_MIN: unknown option ${o}; use peer, alloc, shutdown, late`);
const PEER = options.has('peer');
const SHARED = !options.has('alloc');
const SHUTDOWN_BOTH = options.has('shutdown');
const LATE = options.has('late');

const BOUND = 64 * 1024;

/** A socket's handle with the relay's state on it. */
interface H {
  fd: number;
  writeQueueSize: number;
  onread: (this: H, ab?: ArrayBuffer) => void;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: object, b: Buffer): number;
  shutdown(req: object): number;
  close(): void;
  useUserBuffer(b: Buffer): void;
  getpeername(o: object): number;
  connect(req: object, host: string, port: number): number;
  peer: H | null;
  eof: boolean;
  closed: boolean;
  /** The side whose reading stopped because this one's queue is full. */
  paused: H | null;
  /** Writes queued in libuv: while none is, writeQueueSize is 0 and is not asked. */
  q: number;
}

// One read buffer for every handle; a queued write of a view of it keeps its bytes as a pin,
// put back after each read while the write lasts.
const shared = Buffer.allocUnsafeSlow(BOUND);
const pins: Array<{ at: number; bytes: Buffer }> = [];
const peerName = {};
let spare: Record<string, unknown> | null = null;

function closeBoth(h: H): void {
  for (const x of [h, h.peer]) {
    if (x && !x.closed) {
      x.closed = true;
      x.close();
    }
  }
}

/** Closes the pair once both ways ended and nothing is left to write. */
function settle(h: H): void {
  const p = h.peer!;
  if (h.eof && p.eof && h.q === 0 && p.q === 0) closeBoth(h);
}

function afterWrite(this: { handle: H; pin: { at: number; bytes: Buffer } | null }, status: number): void {
  const h = this.handle;
  if (this.pin) pins.splice(pins.indexOf(this.pin), 1);
  h.q--;
  if (h.closed) return;
  if (status < 0) return closeBoth(h);
  if (h.paused && h.writeQueueSize < BOUND) {
    h.paused.readStart();
    h.paused = null;
  }
  settle(h);
}

function afterShutdown(this: { handle: H }, status: number): void {
  const h = this.handle;
  if (h.closed) return;
  if (status < 0) return closeBoth(h);
  settle(h);
}

function onread(this: H, ab?: ArrayBuffer): void {
  const n = state[kReadBytesOrError] as number;
  const to = this.peer!;
  if (this.closed) return;
  if (n > 0) {
    let chunk: Buffer;
    if (!SHARED) chunk = Buffer.from(ab!, state[kArrayBufferOffset], n);
    else if (pins.length === 0) chunk = shared.subarray(0, n);
    else {
      chunk = Buffer.from(shared.subarray(0, n));
      for (const p of pins) if (p.at < n) p.bytes.copy(shared, p.at, 0, Math.min(p.bytes.length, n - p.at));
    }
    // Behind a queue, a view of the shared buffer would be overwritten before it is sent.
    if (SHARED && to.q > 0 && chunk.buffer === shared.buffer) chunk = Buffer.from(chunk);
    const req = spare ?? new WriteWrap();
    spare = null;
    if (to.writeBuffer(req, chunk) < 0) return closeBoth(this);
    if (state[kLastWriteWasAsync] === 0) {
      spare = req;
      return;
    }
    to.q++;
    req.handle = to;
    req.oncomplete = afterWrite;
    req.buffer = chunk;
    req.pin = null;
    if (chunk.buffer === shared.buffer) {
      const at = chunk.length - Math.min(to.writeQueueSize, chunk.length);
      req.pin = { at, bytes: Buffer.from(shared.subarray(at, chunk.length)) };
      pins.push(req.pin);
    }
    if (to.writeQueueSize >= BOUND) {
      this.readStop();
      to.paused = this;
    }
  } else if (n === UV_EOF) {
    this.eof = true;
    if (!SHUTDOWN_BOTH && to.eof && this.q === 0 && to.q === 0) return closeBoth(this);
    // Without a completion asked for, none calls into JavaScript; a queued write's completion
    // closes the pair when it is the last thing left.
    const req = new ShutdownWrap();
    if (SHUTDOWN_BOTH) {
      req.handle = to;
      req.oncomplete = afterShutdown;
    }
    if (to.shutdown(req) < 0) closeBoth(this);
  } else if (n < 0) closeBoth(this);
}

function prepare(h: H, peer: H): void {
  h.peer = peer;
  h.eof = false;
  h.closed = false;
  h.paused = null;
  h.q = 0;
  if (SHARED) h.useUserBuffer(shared);
  h.onread = onread;
}

function afterConnect(this: { client: H; server: H }, status: number): void {
  const { client, server } = this;
  if (status < 0) return closeBoth(client);
  if (LATE) server.readStart();
  client.readStart();
}

const { listen, servers } = bareArgs();
let next = 0;
const server = new TCP(constants.SERVER);
if (server.bind(listen.host, listen.port) < 0 || server.listen(4096) < 0) throw new Error(`cannot listen on ${listen.host}:${listen.port}`);
server.onconnection = (status: number, client?: H) => {
  if (status < 0 || !client) return;
  if (PEER) client.getpeername(peerName);
  const target = servers[next]!;
  next = (next + 1) % servers.length;
  const upstream: H = new TCP(constants.SOCKET);
  prepare(client, upstream);
  prepare(upstream, client);
  const req = new TCPConnectWrap();
  req.oncomplete = afterConnect;
  req.client = client;
  req.server = upstream;
  if (upstream.connect(req, target.host, target.port) < 0) return closeBoth(client);
  if (!LATE) upstream.readStart();
};
process.on('SIGTERM', () => process.exit(0));
