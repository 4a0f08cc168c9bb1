import dns from 'node:dns';
import fs from 'node:fs';
import net from 'node:net';
import util from 'node:util';
import type { Endpoint } from './address';
import { ffiProblem } from './ffi/libc';
import type { FastClose } from './state';

/*
 * pen's byte path: accept, connect, relay both ways, close. It runs on libuv's stream handles
 * directly (the objects under net.Socket: TCP and Pipe with readStart/onread, writeBuffer and
 * shutdown requests), which costs a fraction of net.Socket's CPU per connection, and falls back
 * to net where those handles are missing or do not behave as this module expects.
 */

/** Reading from the other side stops while more than this many bytes wait to be written. */
export const WRITE_QUEUE_BOUND = 64 * 1024;

/** What a side reports to the pair (or, while the backend connects, the connection) it belongs to. */
export interface SideOwner {
  /** `chunk` may be a view of a buffer the next read reuses: valid during this call, copied if kept. */
  data(from: Side, chunk: Buffer): void;
  end(from: Side): void;
  drained(side: Side): void;
  shutdownDone(side: Side): void;
  failed(side: Side): void;
}

/** One connected socket of a pair, on a libuv handle or on a net.Socket. */
export interface Side {
  readonly fd: number;
  /** Bytes queued for writing. */
  readonly queued: number;
  readonly remoteAddress: string | null;
  readonly remotePort: number;
  owner: SideOwner | null;
  startReading(): void;
  stopReading(): void;
  /** Queues `chunk`; false when the queue is over the bound (the owner hears `drained` later). */
  write(chunk: Buffer): boolean;
  /** Half-closes after the queued writes; the owner hears `shutdownDone`. */
  shutdown(): void;
  /** Closes at once; a second call does nothing. */
  close(): void;
  setNoDelay(on: boolean): void;
  setKeepAlive(on: boolean): void;
  /** The address and port this socket's peer connected to (TCP), for a PROXY header. */
  localEndpoint?(): { address: string; port: number } | null;
  /** Bytes read from this socket and relayed below the owner (its `data` not called), since the last call. */
  takeRelayed?(): number;
}

// ---------------------------------------------------------------------------------------------
// libuv stream handles

interface StreamHandle {
  fd: number;
  writeQueueSize: number;
  onread: ((this: StreamHandle, buffer?: ArrayBuffer) => void) | null;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: WriteRequest, chunk: Buffer): number;
  shutdown(req: ShutdownRequest): number;
  close(callback?: () => void): void;
  getpeername?(out: { address?: string; port?: number }): number;
  getsockname?(out: { address?: string; port?: number }): number;
  setNoDelay?(on: boolean): number;
  setKeepAlive?(on: boolean, delaySeconds: number): number;
  /** Reads go into this buffer from now on, and onread gets no buffer (Node's `onread: {buffer}`). */
  useUserBuffer?(buffer: Buffer): number;
  [SIDE]?: HandleSide;
}
interface ServerHandle {
  fd: number;
  open?(fd: number): number;
  onconnection: ((status: number, client?: StreamHandle) => void) | null;
  bind(address: string, port?: number): number;
  bind6?(address: string, port: number, flags: number): number;
  listen(backlog: number): number;
  close(callback?: () => void): void;
}
interface WriteRequest {
  handle: StreamHandle;
  buffer: Buffer | null;
  /** The bytes of the shared read buffer this write still reads, when it does. */
  pin?: Pin | null;
  oncomplete: (this: WriteRequest, status: number) => void;
}
interface ShutdownRequest {
  handle: StreamHandle;
  oncomplete: (this: ShutdownRequest, status: number) => void;
}
interface ConnectRequest {
  oncomplete: (status: number) => void;
  address?: string;
  port?: number;
}
type Ctor<T> = new (type?: number) => T;

/** The handle classes and shared state this module needs; null where the running Node lacks them. */
interface Bindings {
  TCP: Ctor<StreamHandle & ServerHandle & { bind(a: string, p: number): number; bind6(a: string, p: number, flags: number): number; connect(r: ConnectRequest, a: string, p: number): number; connect6(r: ConnectRequest, a: string, p: number): number }>;
  TCPConnectWrap: Ctor<ConnectRequest>;
  Pipe: Ctor<StreamHandle & ServerHandle & { connect(r: ConnectRequest, path: string): number }>;
  PipeConnectWrap: Ctor<ConnectRequest>;
  WriteWrap: Ctor<WriteRequest>;
  ShutdownWrap: Ctor<ShutdownRequest>;
  streamBaseState: Int32Array;
  /** Whether handles read into a buffer of ours (useUserBuffer); where not, Node allocates one per read. */
  userBuffer: boolean;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
  kLastWriteWasAsync: number;
  UV_EOF: number;
  UV_ENOTCONN: number;
  tcpSocket: number;
  tcpServer: number;
  pipeSocket: number;
  pipeServer: number;
}

const SIDE = Symbol('side');

let bindings: Bindings | null = null;

type ProcessWithBinding = NodeJS.Process & { binding?: (name: string) => Record<string, unknown> };

/** Loads the handle bindings and checks every member this module uses; the reason when unusable. */
function loadBindings(): Bindings | string {
  const binding = (process as ProcessWithBinding).binding;
  if (typeof binding !== 'function') return 'process.binding is not available';
  let tcp: Record<string, unknown>, pipe: Record<string, unknown>, stream: Record<string, unknown>, uv: Record<string, unknown>;
  try {
    tcp = binding.call(process, 'tcp_wrap');
    pipe = binding.call(process, 'pipe_wrap');
    stream = binding.call(process, 'stream_wrap');
    uv = binding.call(process, 'uv');
  } catch (err) {
    return `the handle bindings do not load (${(err as Error).message})`;
  }
  const missing: string[] = [];
  const fn = (owner: Record<string, unknown>, name: string) => {
    if (typeof owner[name] !== 'function') missing.push(name);
    return owner[name];
  };
  const num = (owner: Record<string, unknown> | undefined, name: string) => {
    if (typeof owner?.[name] !== 'number') missing.push(name);
    return owner?.[name] as number;
  };
  fn(tcp, 'TCP');
  fn(tcp, 'TCPConnectWrap');
  fn(pipe, 'Pipe');
  fn(pipe, 'PipeConnectWrap');
  fn(stream, 'WriteWrap');
  fn(stream, 'ShutdownWrap');
  if (missing.length) return `the handle bindings lack ${missing.join(', ')}`;
  const proto = (tcp.TCP as { prototype: Record<string, unknown> }).prototype;
  for (const m of ['readStart', 'readStop', 'writeBuffer', 'shutdown', 'close', 'getpeername', 'setNoDelay', 'setKeepAlive', 'bind', 'bind6', 'listen', 'connect', 'connect6']) {
    if (typeof proto[m] !== 'function') missing.push(`TCP.${m}`);
  }
  const state = stream.streamBaseState;
  if (!(state instanceof Int32Array)) missing.push('streamBaseState');
  const b: Bindings = {
    TCP: tcp.TCP as Bindings['TCP'],
    TCPConnectWrap: tcp.TCPConnectWrap as Bindings['TCPConnectWrap'],
    Pipe: pipe.Pipe as Bindings['Pipe'],
    PipeConnectWrap: pipe.PipeConnectWrap as Bindings['PipeConnectWrap'],
    WriteWrap: stream.WriteWrap as Bindings['WriteWrap'],
    ShutdownWrap: stream.ShutdownWrap as Bindings['ShutdownWrap'],
    streamBaseState: state as Int32Array,
    userBuffer: typeof proto.useUserBuffer === 'function' && typeof (pipe.Pipe as { prototype: Record<string, unknown> }).prototype.useUserBuffer === 'function',
    kReadBytesOrError: num(stream, 'kReadBytesOrError'),
    kArrayBufferOffset: num(stream, 'kArrayBufferOffset'),
    kLastWriteWasAsync: num(stream, 'kLastWriteWasAsync'),
    UV_EOF: num(uv, 'UV_EOF'),
    UV_ENOTCONN: num(uv, 'UV_ENOTCONN'),
    tcpSocket: num(tcp.constants as Record<string, unknown>, 'SOCKET'),
    tcpServer: num(tcp.constants as Record<string, unknown>, 'SERVER'),
    pipeSocket: num(pipe.constants as Record<string, unknown>, 'SOCKET'),
    pipeServer: num(pipe.constants as Record<string, unknown>, 'SERVER'),
  };
  if (missing.length) return `the handle bindings lack ${missing.join(', ')}`;
  return b;
}

/** The handle bindings, loaded now if detection has not loaded them; a clear error where they cannot load. */
function handleBindings(): Bindings {
  if (bindings) return bindings;
  const loaded = loadBindings();
  if (typeof loaded === 'string') throw new Error(`pen's handle data path cannot run on Node ${process.version}: ${loaded}; run it with ${DATA_PATH_ENV}=net`);
  return (bindings = loaded);
}

/** `handle.onread` where Node allocates each read: `this` is the handle; the byte count or error is in streamBaseState. */
function onHandleRead(this: StreamHandle, buffer?: ArrayBuffer): void {
  const b = bindings!;
  const nread = b.streamBaseState[b.kReadBytesOrError]!;
  passOn(this[SIDE], nread, nread > 0 ? Buffer.from(buffer!, b.streamBaseState[b.kArrayBufferOffset]!, nread) : null);
}

/*
 * Where the handles can read into a buffer of ours, every handle reads into one shared buffer and
 * its bytes are passed on as a view of it, valid while the owner's `data` runs: no allocation per
 * read. A write of such a view that the kernel does not take at once leaves libuv pointing into the
 * shared buffer until it completes; those bytes are kept aside as a pin, and while a pin lasts
 * each read is copied out of the shared buffer and the pinned bytes are put back, so the queued
 * write sends what was read. Pins are rare (a peer slower than its sender) and end with the write.
 */
const READ_BUFFER_SIZE = 64 * 1024;
let readBuffer: Buffer | null = null;
let readArrayBuffer: ArrayBufferLike | null = null;
/** Views of the read buffer by length, for the short reads that are most of them. */
const readViews: Array<Buffer | undefined> = [];
const CACHED_VIEWS = 4096;

interface Pin {
  offset: number;
  bytes: Buffer;
}
const pins: Pin[] = [];

function sharedReadBuffer(): Buffer {
  if (!readBuffer) {
    readBuffer = Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
    readArrayBuffer = readBuffer.buffer;
  }
  return readBuffer;
}

function readView(nread: number): Buffer {
  if (nread > CACHED_VIEWS) return readBuffer!.subarray(0, nread);
  return (readViews[nread] ??= readBuffer!.subarray(0, nread));
}

/** `handle.onread` with the shared read buffer (nothing is returned: the handle keeps reading into it). */
function onUserBufferRead(this: StreamHandle): void {
  const b = bindings!;
  const nread = b.streamBaseState[b.kReadBytesOrError]!;
  let chunk: Buffer | null = null;
  if (nread > 0) {
    if (pins.length === 0) chunk = readView(nread);
    else {
      chunk = Buffer.allocUnsafe(nread);
      readBuffer!.copy(chunk, 0, 0, nread);
      for (const pin of pins) if (pin.offset < nread) pin.bytes.copy(readBuffer!, pin.offset, 0, Math.min(pin.bytes.length, nread - pin.offset));
    }
  }
  passOn(this[SIDE], nread, chunk);
}

function passOn(side: HandleSide | undefined, nread: number, chunk: Buffer | null): void {
  if (!side?.owner || side.closed) return;
  if (chunk) side.owner.data(side, chunk);
  else if (nread === bindings!.UV_EOF) {
    side.reading = false;
    side.owner.end(side);
  } else if (nread < 0) side.owner.failed(side);
}

/** A copy of `chunk` where it is a view of the shared read buffer (for a writer that keeps it). */
function owned(chunk: Buffer): Buffer {
  return chunk.buffer === readArrayBuffer ? Buffer.from(chunk) : chunk;
}

function unpin(req: WriteRequest): void {
  const pin = req.pin;
  if (!pin) return;
  req.pin = null;
  pins.splice(pins.indexOf(pin), 1);
}

function onWriteDone(this: WriteRequest, status: number): void {
  const side = this.handle[SIDE];
  this.buffer = null;
  unpin(this);
  if (!side) return;
  side.writesQueued--;
  if (side.closed) return;
  if (status < 0) side.owner?.failed(side);
  else if (side.waitingForDrain && this.handle.writeQueueSize < WRITE_QUEUE_BOUND) {
    side.waitingForDrain = false;
    side.owner?.drained(side);
  }
}

function onShutdownDone(this: ShutdownRequest, status: number): void {
  const side = this.handle[SIDE];
  if (!side || side.closed) return;
  if (status < 0) side.owner?.failed(side);
  else side.owner?.shutdownDone(side);
}

class HandleSide implements Side {
  owner: SideOwner | null = null;
  reading = false;
  closed = false;
  waitingForDrain = false;
  /** Writes handed to libuv and not completed yet: while none is, nothing is queued. */
  writesQueued = 0;

  constructor(
    readonly handle: StreamHandle,
    readonly remoteAddress: string | null = null,
    readonly remotePort = 0,
  ) {
    handle[SIDE] = this;
    if (bindings!.userBuffer) {
      handle.useUserBuffer!(sharedReadBuffer());
      handle.onread = onUserBufferRead;
    } else handle.onread = onHandleRead;
  }

  get fd(): number {
    return this.closed ? -1 : this.handle.fd;
  }

  get queued(): number {
    return this.closed || this.writesQueued === 0 ? 0 : this.handle.writeQueueSize;
  }

  startReading(): void {
    if (this.reading || this.closed) return;
    this.reading = true;
    const err = this.handle.readStart();
    if (err < 0) this.owner?.failed(this);
  }

  stopReading(): void {
    if (!this.reading || this.closed) return;
    this.reading = false;
    this.handle.readStop();
  }

  write(chunk: Buffer): boolean {
    if (this.closed) return true;
    const b = bindings!;
    // A view of the shared read buffer goes as it is when nothing waits before it (then the kernel
    // usually takes it whole); behind a queue, a copy goes.
    const shared = chunk.buffer === readArrayBuffer;
    if (shared && this.writesQueued > 0) chunk = Buffer.from(chunk);
    // A write that completes at once leaves its request object untouched (libuv's try-write ran
    // before any request was made), so one object serves every such write.
    const req = spareWrite ?? new b.WriteWrap();
    spareWrite = null;
    const err = this.handle.writeBuffer(req, chunk);
    if (err < 0) {
      this.owner?.failed(this);
      return true;
    }
    if (b.streamBaseState[b.kLastWriteWasAsync] === 0) {
      spareWrite = req;
      return true;
    }
    // Queued: the request completes later, and the kernel reads the buffer until then.
    this.writesQueued++;
    req.handle = this.handle;
    req.oncomplete = onWriteDone;
    req.buffer = chunk;
    const queued = this.handle.writeQueueSize;
    if (shared && chunk.buffer === readArrayBuffer) {
      // What is queued is the end of the chunk, still in the shared buffer.
      const offset = chunk.byteOffset + chunk.length - Math.min(queued, chunk.length);
      req.pin = { offset, bytes: Buffer.from(readBuffer!.subarray(offset, chunk.byteOffset + chunk.length)) };
      pins.push(req.pin);
    }
    if (queued < WRITE_QUEUE_BOUND) return true;
    this.waitingForDrain = true;
    return false;
  }

  shutdown(): void {
    if (this.closed) return;
    const req = new bindings!.ShutdownWrap();
    // With nothing queued the FIN goes out at the loop's next turn, and closing the socket before
    // then sends it as well: the pair goes on at once, with no completion called back.
    const waits = this.queued > 0;
    if (waits) {
      req.handle = this.handle;
      req.oncomplete = onShutdownDone;
    }
    const err = this.handle.shutdown(req);
    // 1: done at once (no request is left to complete); ENOTCONN: the peer is gone, nothing to end.
    if ((err === 0 && !waits) || err === 1 || err === bindings!.UV_ENOTCONN) this.owner?.shutdownDone(this);
    else if (err < 0) this.owner?.failed(this);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.reading = false;
    this.handle.close();
  }

  setNoDelay(on: boolean): void {
    this.handle.setNoDelay?.(on);
  }

  setKeepAlive(on: boolean): void {
    this.handle.setKeepAlive?.(on, 0);
  }

  localEndpoint(): { address: string; port: number } | null {
    const out: { address?: string; port?: number } = {};
    return !this.closed && this.handle.getsockname?.(out) === 0 && out.address ? { address: out.address, port: out.port ?? 0 } : null;
  }
}

const noop = () => undefined;

/** What getpeername fills in, one object for every accept (its properties keep their shape). */
const peerName: { address?: string; port?: number; family?: string } = {};

/** A write request no write has used (the last one completed at once), or null. */
let spareWrite: WriteRequest | null = null;

// ---------------------------------------------------------------------------------------------
// net.Socket, where the handles cannot be used, and for TLS clients

class NetSide implements Side {
  owner: SideOwner | null = null;
  private waitingForDrain = false;

  constructor(readonly socket: net.Socket) {
    socket.pause();
    socket.on('data', (chunk: Buffer) => this.owner?.data(this, chunk));
    socket.on('end', () => this.owner?.end(this));
    socket.on('drain', () => {
      if (!this.waitingForDrain) return;
      this.waitingForDrain = false;
      this.owner?.drained(this);
    });
    socket.on('error', () => this.owner?.failed(this));
    // Not every error destroys a socket (a TLS renegotiation attack does not), and a peer may
    // close without an error: either way the pair goes. A socket that has read its EOF and
    // finished its own half-close closes by itself, which is no failure: the pair has heard both
    // ends already and may still be writing the other side's queue.
    socket.on('close', () => {
      if (!(socket.readableEnded && socket.writableFinished)) this.owner?.failed(this);
    });
  }

  get fd(): number {
    return (this.socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
  }

  get queued(): number {
    return this.socket.writableLength;
  }

  get remoteAddress(): string | null {
    return this.socket.remoteAddress ?? null;
  }

  get remotePort(): number {
    return this.socket.remotePort ?? 0;
  }

  startReading(): void {
    this.socket.resume();
  }

  stopReading(): void {
    this.socket.pause();
  }

  write(chunk: Buffer): boolean {
    // net may keep the chunk queued past this call.
    if (this.socket.write(owned(chunk))) return true;
    this.waitingForDrain = true;
    return false;
  }

  shutdown(): void {
    this.socket.end(() => this.owner?.shutdownDone(this));
  }

  close(): void {
    this.socket.destroy();
  }

  setNoDelay(on: boolean): void {
    this.socket.setNoDelay(on);
  }

  setKeepAlive(on: boolean): void {
    this.socket.setKeepAlive(on);
  }

  localEndpoint(): { address: string; port: number } | null {
    return this.socket.localAddress ? { address: this.socket.localAddress, port: this.socket.localPort ?? 0 } : null;
  }
}

/** A client accepted by a net or TLS server, as a side. */
export function netSide(socket: net.Socket): Side {
  socket.on('error', noop);
  return new NetSide(socket);
}

// ---------------------------------------------------------------------------------------------
// The relay

/** What the pair tells its connection: bytes each way (counted, logged, rewritten) and its end. */
export interface PairHooks {
  /** Bytes from the client; returns what goes to the server (pen's X-Forwarded-For may add some). */
  fromClient(chunk: Buffer): Buffer;
  fromServer(chunk: Buffer): void;
  /** Bytes the data path relayed without `fromClient`/`fromServer`, counted in batches. */
  relayed(fromClient: number, fromServer: number): void;
  /** The bytes need none of the hooks' per-chunk work (logging, rewriting): the data path may relay them below the pair. */
  readonly plainRelay: boolean;
  closed(): void;
}

/** pen's state bits of a connection. */
export const CONNECTING = 1;
export const CONNECTED = 2;
export const SERVER_EOF = 4;
export const CLIENT_EOF = 8;

/**
 * A client and its backend connection, relayed both ways: reading pauses while the other side's
 * write queue is over its bound, EOF is passed on as a half-close, the pair closes when both
 * directions have ended (or at the first EOF of a side `tcp_fastclose` names), and an error on
 * either side closes both.
 */
export class Pair implements SideOwner {
  state = CONNECTED;
  /** Bytes read from the client and from the server. */
  clientBytes = 0;
  serverBytes = 0;
  private closing = false;
  private closed = false;
  private pendingShutdowns = 0;
  private activity = 0;
  private seenActivity = 0;
  private idleSeconds = 0;

  constructor(
    readonly client: Side,
    readonly upstream: Side,
    private readonly fastClose: FastClose,
    private readonly hooks: PairHooks,
  ) {
    client.owner = this;
    upstream.owner = this;
    client.startReading();
    upstream.startReading();
  }

  private other(side: Side): Side {
    return side === this.client ? this.upstream : this.client;
  }

  data(from: Side, chunk: Buffer): void {
    this.activity++;
    let out = chunk;
    if (from === this.client) {
      this.clientBytes += chunk.length;
      out = this.hooks.fromClient(chunk);
    } else {
      this.serverBytes += chunk.length;
      this.hooks.fromServer(chunk);
    }
    if (!this.other(from).write(out)) from.stopReading();
  }

  drained(side: Side): void {
    const source = this.other(side);
    if (!(this.state & (source === this.client ? CLIENT_EOF : SERVER_EOF))) source.startReading();
  }

  end(from: Side): void {
    this.activity++;
    const fromClient = from === this.client;
    this.state |= fromClient ? CLIENT_EOF : SERVER_EOF;
    const fast = this.fastClose === 'both' || this.fastClose === (fromClient ? 'down' : 'up');
    if (fast) this.closing = true;
    const other = this.other(from);
    // Both ways ended, every byte read and none left to write: close sends the FIN itself, as pen's does.
    if ((this.state & (CLIENT_EOF | SERVER_EOF)) === (CLIENT_EOF | SERVER_EOF) && this.pendingShutdowns === 0 && other.queued === 0) {
      this.close();
      return;
    }
    this.pendingShutdowns++;
    other.shutdown();
  }

  shutdownDone(): void {
    this.pendingShutdowns--;
    if (this.pendingShutdowns === 0 && (this.closing || (this.state & (CLIENT_EOF | SERVER_EOF)) === (CLIENT_EOF | SERVER_EOF))) this.close();
  }

  failed(): void {
    this.close();
  }

  /** Whether the data path may relay this pair's bytes without calling `data` (then counted by `settle`). */
  get plain(): boolean {
    return this.hooks.plainRelay;
  }

  /** Adds what the data path relayed below the pair to its counters and its connection's. */
  settle(): void {
    const fromClient = this.client.takeRelayed?.() ?? 0;
    const fromServer = this.upstream.takeRelayed?.() ?? 0;
    if (fromClient === 0 && fromServer === 0) return;
    this.activity++;
    this.clientBytes += fromClient;
    this.serverBytes += fromServer;
    this.hooks.relayed(fromClient, fromServer);
  }

  /** Closes both sides at once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.settle();
    this.client.close();
    this.upstream.close();
    this.hooks.closed();
  }

  /** Called once a second: how long no byte and no EOF has moved, in seconds. */
  idleTick(): number {
    this.settle();
    if (this.activity !== this.seenActivity) {
      this.seenActivity = this.activity;
      this.idleSeconds = 0;
    } else this.idleSeconds++;
    return this.idleSeconds;
  }
}

// ---------------------------------------------------------------------------------------------
// Listening and connecting

export type DataPath = 'ffi' | 'handles' | 'net';

export interface DataPathChoice {
  path: DataPath;
  /** Why not the path asked for (or not the FFI loop, by default), when it is another. */
  reason: string | null;
}

/**
 * `net` or `handles` runs pen's byte path there whatever else this Node offers; unset (or `ffi`),
 * pen runs its epoll loop on libc where koffi loads and the loop serves the configuration.
 */
export const DATA_PATH_ENV = 'FLAVORKIT_PEN_DATA_PATH';

/** The data path the environment asks for (null: the default order); an unknown name is refused. */
export function wantedDataPath(env: NodeJS.ProcessEnv = process.env): DataPath | null {
  const wanted = env[DATA_PATH_ENV];
  if (wanted === undefined || wanted === '') return null;
  if (wanted === 'ffi' || wanted === 'handles' || wanted === 'net') return wanted;
  throw new Error(`${DATA_PATH_ENV}=${wanted} names no data path; use ffi, handles or net, or leave it unset`);
}

/**
 * Which byte path runs here, from what loads (no socket is opened): the FFI loop, unless the
 * environment asks for another, koffi or libc cannot load, or `ffiUnusable` says why the
 * configuration needs more than that loop serves (null: it serves it all); then the handles,
 * where this Node has them; net otherwise.
 */
export function detectDataPath(env: NodeJS.ProcessEnv = process.env, ffiUnusable: string | null = null): DataPathChoice {
  const wanted = wantedDataPath(env);
  if (wanted === 'net') return { path: 'net', reason: `${DATA_PATH_ENV}=net` };
  const ffi = wanted === 'handles' ? null : (ffiUnusable ?? ffiProblem());
  if (wanted !== 'handles' && ffi === null) return { path: 'ffi', reason: null };
  const loaded = loadBindings();
  if (typeof loaded === 'string') return { path: 'net', reason: ffi ? `${ffi}; ${loaded}` : loaded };
  bindings = loaded;
  return { path: 'handles', reason: ffi };
}

type Connector = (target: ConnectTarget, done: (side: Side | null) => void) => void;

/** The FFI loop's connect, on the thread that runs that loop. */
let ffiConnect: Connector | null = null;

export function useFfiConnect(connector: Connector): void {
  ffiConnect = connector;
}

function uvProblem(err: number): string {
  try {
    return util.getSystemErrorName(err);
  } catch {
    return `error ${err}`;
  }
}

/** A listener on handles. */
export interface Listener {
  close(): void;
  /** The listening socket's descriptor (for a successor to inherit). */
  fd(): number;
}

interface HandleListener extends Listener {
  /** The port bound, for TCP (0 for a UNIX socket). */
  port(): number;
}

/**
 * Listens on `endpoint` with handles, or on `inheritedFd`, a TCP socket already bound to it (and
 * listening, in the daemon this one succeeds); each client goes to `accept` with its address.
 */
export async function listenHandles(endpoint: Endpoint, backlog: number, accept: (client: Side) => void, inheritedFd: number | null = null): Promise<Listener> {
  const b = handleBindings();
  let server: ServerHandle;
  let err: number;
  if (inheritedFd !== null) {
    server = new b.TCP(b.tcpServer);
    err = server.open!(inheritedFd);
  } else if (endpoint.kind === 'unix') {
    fs.rmSync(endpoint.path, { force: true });
    server = new b.Pipe(b.pipeServer);
    err = server.bind(endpoint.path);
  } else {
    const host = net.isIP(endpoint.host) ? endpoint.host : (await dns.promises.lookup(endpoint.host)).address;
    const tcp = new b.TCP(b.tcpServer);
    server = tcp;
    err = net.isIPv6(host) ? tcp.bind6(host, endpoint.port, 0) : tcp.bind(host, endpoint.port);
  }
  if (err === 0) err = server.listen(backlog);
  if (err < 0) {
    server.close();
    throw Object.assign(new Error(uvProblem(err)), { code: uvProblem(err) });
  }
  const inet = endpoint.kind === 'inet';
  server.onconnection = (status, handle) => {
    // A failed accept (out of descriptors, say) drops that client; the listener goes on.
    if (status < 0 || !handle) return;
    let address: string | null = null;
    let port = 0;
    if (inet && handle.getpeername?.(peerName) === 0) {
      address = peerName.address ?? null;
      port = peerName.port ?? 0;
    }
    accept(new HandleSide(handle, address, port));
  };
  let closed = false;
  const listener: HandleListener = {
    close: () => {
      if (!closed) server.close();
      closed = true;
    },
    fd: () => (closed ? -1 : server.fd),
    port: () => {
      const out: { port?: number } = {};
      return inet && (server as unknown as { getsockname(o: object): number }).getsockname(out) === 0 ? (out.port ?? 0) : 0;
    },
  };
  return listener;
}

export interface ConnectTarget {
  host: string;
  port: number;
  unixPath: string | null;
  /** Local address to bind to, for TCP. */
  source: string | null;
  timeoutMs: number;
}

/**
 * Connects to a backend; `done` gets the side (which may be reading already: `done` gives it its
 * owner before it returns), or null on refusal, error or timeout.
 * A host that is a name rather than an address is connected through net, which resolves it.
 */
export function connect(path: DataPath, target: ConnectTarget, done: (side: Side | null) => void): void {
  if (path === 'ffi' && ffiConnect) ffiConnect(target, done);
  else if (path === 'handles' && (target.unixPath || ipFamily(target.host) !== 0)) connectHandle(target, done);
  else connectNet(target, done);
}

/** A backend connection under way on a handle. */
interface PendingConnect {
  side: HandleSide;
  done: (side: Side | null) => void;
  /** When it gives up, in performance.now() milliseconds. */
  deadline: number;
  /** Its place in `connecting`; -1 once it has an outcome. */
  index: number;
}

interface ConnectRequestOf extends ConnectRequest {
  [PENDING]?: PendingConnect;
}

const PENDING = Symbol('pending connect');

/** net.isIP of each backend host seen (bounded), so that a connect runs no address pattern. */
const familyOf = new Map<string, number>();

function ipFamily(host: string): number {
  let family = familyOf.get(host);
  if (family === undefined) {
    family = net.isIP(host);
    if (familyOf.size < 4096) familyOf.set(host, family);
  }
  return family;
}

/*
 * Connect timeouts: one timer for every connect under way, due at the earliest deadline, rather
 * than a timer set and cleared per connection.
 */
const connecting: PendingConnect[] = [];
let connectTimer: NodeJS.Timeout | null = null;

function watchConnect(pending: PendingConnect): void {
  pending.index = connecting.length;
  connecting.push(pending);
  if (!connectTimer) armConnectTimer(pending.deadline);
}

function armConnectTimer(deadline: number): void {
  // The handles being connected keep the process alive, not this timer.
  connectTimer = setTimeout(expireConnects, Math.max(1, Math.ceil(deadline - performance.now()))).unref();
}

function expireConnects(): void {
  connectTimer = null;
  const now = performance.now();
  const expired = connecting.filter((p) => p.deadline <= now);
  for (const p of expired) finishConnect(p, false);
  let next = Infinity;
  for (const p of connecting) next = Math.min(next, p.deadline);
  if (next < Infinity) armConnectTimer(next);
}

function finishConnect(pending: PendingConnect, ok: boolean): void {
  const at = pending.index;
  if (at < 0) return;
  pending.index = -1;
  const last = connecting.pop()!;
  if (last !== pending) {
    connecting[at] = last;
    last.index = at;
  }
  if (ok) pending.done(pending.side);
  else {
    pending.side.close();
    pending.done(null);
  }
}

function onConnectDone(this: ConnectRequestOf, status: number): void {
  const pending = this[PENDING]!;
  this[PENDING] = undefined;
  finishConnect(pending, status === 0);
}

const connectFailed = (pending: PendingConnect) => finishConnect(pending, false);

function connectHandle(target: ConnectTarget, done: (side: Side | null) => void): void {
  const b = handleBindings();
  const handle = target.unixPath ? new b.Pipe(b.pipeSocket) : new b.TCP(b.tcpSocket);
  const pending: PendingConnect = { side: new HandleSide(handle), done, deadline: performance.now() + target.timeoutMs, index: -1 };
  watchConnect(pending);
  const req: ConnectRequestOf = target.unixPath ? new b.PipeConnectWrap() : new b.TCPConnectWrap();
  req.oncomplete = onConnectDone;
  req[PENDING] = pending;
  let err: number;
  if (target.unixPath) err = (handle as InstanceType<Bindings['Pipe']>).connect(req, target.unixPath);
  else {
    const tcp = handle as InstanceType<Bindings['TCP']>;
    const v6 = ipFamily(target.host) === 6;
    err = target.source ? (v6 ? tcp.bind6(target.source, 0, 0) : tcp.bind(target.source, 0)) : 0;
    if (err === 0) err = v6 ? tcp.connect6(req, target.host, target.port) : tcp.connect(req, target.host, target.port);
  }
  // A connect that fails at once still answers asynchronously, as net does.
  if (err < 0) setImmediate(connectFailed, pending);
  // Reading starts with the connect, so that libuv registers the socket for input and output in
  // one epoll_ctl (and later only drops output) instead of adding it a second time once connected.
  // Nothing is read before the connect completes, and `done`, which runs then, sets the owner.
  else if (handle.readStart() === 0) pending.side.reading = true;
}

function connectNet(target: ConnectTarget, done: (side: Side | null) => void): void {
  const options: net.NetConnectOpts = target.unixPath
    ? { path: target.unixPath, allowHalfOpen: true }
    : { host: target.host, port: target.port, allowHalfOpen: true, ...(target.source ? { localAddress: target.source } : {}) };
  const socket = net.connect(options);
  let finished = false;
  const finish = (ok: boolean) => {
    if (finished) return;
    finished = true;
    socket.setTimeout(0);
    socket.off('error', fail);
    if (ok) done(netSide(socket));
    else {
      socket.on('error', noop);
      socket.destroy();
      done(null);
    }
  };
  const fail = () => finish(false);
  socket.setTimeout(target.timeoutMs, fail);
  socket.once('error', fail);
  socket.once('connect', () => finish(true));
}

/**
 * The byte path pen runs, as detectDataPath orders them; handles only when a loopback probe
 * through them (accept with the peer's address, connect, write, read, half-close both ways) gives
 * back what went in, net otherwise, with the reason.
 */
export async function chooseDataPath(env: NodeJS.ProcessEnv = process.env, ffiUnusable: string | null = null): Promise<DataPathChoice> {
  const found = detectDataPath(env, ffiUnusable);
  if (found.path !== 'handles') return found;
  const problem = await probeHandles().catch((err: Error) => err.message);
  return problem === null ? found : { path: 'net', reason: `${found.reason ? `${found.reason}; ` : ''}the handle probe failed: ${problem}` };
}

/** An echo over loopback through listenHandles, connect and Pair-less sides; null when it worked. */
async function probeHandles(): Promise<string | null> {
  const message = Buffer.from('pen handle probe');
  const accepted: Side[] = [];
  let peer: string | null = null;
  const listener = await listenHandles({ kind: 'inet', host: '127.0.0.1', port: 0 }, 1, (side) => {
    accepted.push(side);
    peer = side.remoteAddress;
    // Echo what arrives, then end as the client did.
    side.owner = {
      data: (from, chunk) => void from.write(Buffer.from(chunk)),
      end: (from) => from.shutdown(),
      drained: noop,
      shutdownDone: noop,
      failed: (from) => from.close(),
    };
    side.startReading();
  });
  const sides: Side[] = [];
  try {
    const port = (listener as HandleListener).port();
    const echoed = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer within 2 s')), 2000);
      connect('handles', { host: '127.0.0.1', port, unixPath: null, source: null, timeoutMs: 2000 }, (side) => {
        if (!side) {
          clearTimeout(timer);
          reject(new Error('connect failed'));
          return;
        }
        sides.push(side);
        const parts: Buffer[] = [];
        side.owner = {
          data: (_, chunk) => void parts.push(Buffer.from(chunk)),
          end: () => {
            clearTimeout(timer);
            resolve(Buffer.concat(parts).toString());
          },
          drained: noop,
          shutdownDone: noop,
          failed: () => {
            clearTimeout(timer);
            reject(new Error('the connection failed'));
          },
        };
        side.startReading();
        side.write(message);
        side.shutdown();
      });
    });
    if (echoed !== message.toString()) return `sent "${message}", read back "${echoed}"`;
    if (peer !== '127.0.0.1') return `the client's address at accept was ${peer}, not 127.0.0.1`;
    return null;
  } finally {
    for (const s of [...sides, ...accepted]) s.close();
    listener.close();
  }
}
