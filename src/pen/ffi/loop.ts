import dns from 'node:dns';
import net from 'node:net';
import { Pair, type ConnectTarget, type Side, type SideOwner } from '../transport';
import {
  AF_INET, EAGAIN, EINPROGRESS, EINTR, EMFILE, ENFILE, ENOTCONN, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD,
  EPOLL_DATA_OFFSET, EPOLL_EVENT_SIZE, EPOLLERR, EPOLLET, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLRDHUP, EFD_CLOEXEC,
  EFD_NONBLOCK, F_GETFL, F_SETFL, IPPROTO_TCP, MSG_NOSIGNAL, O_NONBLOCK, peerOf, RLIMIT_NOFILE, SHUT_WR, SO_KEEPALIVE, SO_REUSEADDR, SOCK_CLOEXEC,
  RELAY_ACCEPT_FULL, RELAY_ACCEPT_WORDS, RELAY_EOF, RELAY_LISTENER, RELAY_RECV_FAILED, RELAY_RESULT_ACCEPTED, RELAY_RESULT_CLOSING, RELAY_RESULT_READING, RELAY_RESULT_WORDS, SOCK_NONBLOCK, SOCK_STREAM, sockaddr, SOL_SOCKET,
  TCP_NODELAY, type Libc, type Relay,
} from './libc';

/*
 * pen's byte path as an epoll loop calling libc: accept4 (the client's address comes with it),
 * non-blocking connect with a deadline, recv into one shared buffer and send straight on, what
 * send could not take kept per descriptor until the socket is writable (reading from the other
 * side stops meanwhile), shutdown for half-close, close. The loop runs on its own thread and
 * blocks in epoll_wait; between rounds it lets that thread's event loop run (timers, messages).
 *
 * Each connected socket is registered once, edge-triggered, and stays registered until close
 * (which takes it out of the set): pausing and resuming a side is a flag, not an epoll_ctl. The
 * loop remembers per side what the kernel has announced (bytes or an EOF to read), so a side
 * that resumes reads without waiting for another event. A recv that fills less than the buffer
 * has emptied the socket; if the peer's FIN had already been announced (EPOLLRDHUP), that read
 * was the last one and the EOF is passed on without a recv that returns 0.
 *
 * Where the C round (./relay.c) loads, each round is one call into it: it closes the descriptors
 * the loop has done with since the last round, waits, accepts the clients waiting on each listener
 * that reports (registering them), and relays the input of every pair that needs nothing but
 * relaying (both sides open and reading, nothing waiting to be written, no EOF or error seen
 * before, no per-chunk hooks) up to the peer's FIN, counting the bytes per descriptor; the loop
 * takes the accepted clients, passes on the EOFs it reports and handles the events it leaves;
 * the reads the loop puts off (a side that resumes with input waiting) become events of the next
 * call, so that a plain pair's are relayed there too. The loop keeps its table of which
 * descriptors those are (`updateRelay`) current at every change of a side's state, and clears a
 * descriptor's entry before it puts off its close. A backend socket is made, connected and
 * registered by one call into the library too. So a close-mode connection crosses into C twice
 * (its connect and its half-close) besides its share of the rounds, not once per system call.
 */

/** Events taken per epoll_wait. */
const MAX_EVENTS = 256;
/** Bytes one recv may read: pen's own buffer size. */
const READ_SIZE = 64 * 1024;
/** The most descriptors the per-descriptor tables cover, whatever RLIMIT_NOFILE allows. */
const FD_TABLE_MAX = 1 << 20;
/** How long the loop may block, and run without letting its thread's event loop turn, ms. */
const SLICE_MS = 20;
/** After running out of descriptors, the listener rests this long before accepting again, ms. */
const ACCEPT_PAUSE_MS = 100;
/** Clients taken from the listener per report of it. */
const ACCEPT_BATCH = 16;
/** Clients the C round may accept per round, descriptors whose close may wait for the next round, and reads it may be asked for (at most half of MAX_EVENTS: they take the events' room). */
const ACCEPTED_MAX = 256;
const CLOSING_MAX = 1024;
const READING_MAX = 128;
/** How often connect deadlines are checked, ms. */
const DEADLINE_SCAN_MS = 50;
/** Reads up to this many bytes are passed on as views made once per length (requests, short answers). */
const KEPT_VIEWS = 4096;

/** A connected socket waits for input and for the peer's FIN; output is added when bytes wait. */
const SOCKET_EVENTS = EPOLLIN | EPOLLRDHUP | EPOLLET;
const READABLE = EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR;
const WRITABLE = EPOLLOUT | EPOLLHUP | EPOLLERR;

interface Listening {
  fd: number;
  accept: (side: FfiSide) => void;
}

/** One connected socket of a pair, owned by the loop. */
export class FfiSide implements Side {
  owner: SideOwner | null = null;
  reading = false;
  closed = false;
  /** The kernel announced something to read (bytes, an EOF or an error) that no recv has taken yet. */
  canRead = false;
  /** The peer's FIN was announced: once the socket is empty, the EOF follows. */
  peerDone = false;
  /** An error was announced: after the bytes before it, a recv reports it. */
  errored = false;
  /** Waiting in the loop's list of sides to read after this round. */
  queuedRead = false;
  /** Bytes send could not take yet; the only copy the loop makes of relayed data. */
  pending: Buffer | null = null;
  shutdownWanted = false;
  /** Bytes the C round relayed from this socket before it closed, not yet taken by the pair. */
  private unsettled = 0;

  constructor(
    private readonly loop: FfiLoop,
    readonly fd: number,
    readonly remoteAddress: string | null = null,
    readonly remotePort = 0,
  ) {}

  get queued(): number {
    return this.pending?.length ?? 0;
  }

  startReading(): void {
    if (this.reading || this.closed) return;
    this.reading = true;
    this.loop.updateRelay(this);
    // Called from an owner's callbacks: what waits is read after this round's events, not here.
    if (this.canRead) this.loop.readSoon(this);
  }

  stopReading(): void {
    if (!this.reading) return;
    this.reading = false;
    this.loop.updateRelay(this);
  }

  /** The other side of this side's pair, when that pair may be relayed below it. */
  peer(): FfiSide | null {
    const pair = this.owner;
    if (!(pair instanceof Pair) || !pair.plain) return null;
    const other = pair.client === this ? pair.upstream : pair.client;
    return other instanceof FfiSide ? other : null;
  }

  takeRelayed(): number {
    const n = this.unsettled + (this.closed ? 0 : this.loop.takeRelayed(this.fd));
    this.unsettled = 0;
    return n;
  }

  /**
   * The C round read `n` bytes from this socket, and send on the other side took `sent` of them
   * (-1: none, with `errno`): what Pair.data and write do with a read whose write waits.
   */
  relayStopped(n: number, sent: number, errno: number): void {
    // After a full buffer more may wait: read when reading resumes.
    this.canRead = n === READ_SIZE;
    const to = this.peer();
    if (!to) return;
    if (sent < 0 && errno !== EAGAIN) {
      to.owner?.failed(to);
      return;
    }
    to.pending = Buffer.from(this.loop.readBuffer.subarray(Math.max(0, sent), n));
    this.loop.watchOutput(to);
    this.loop.updateRelay(to);
    this.stopReading();
  }

  /** The C round relayed this socket's input up to the peer's FIN: the EOF is passed on; `ev` may also report output. */
  relayEnded(ev: number): void {
    this.peerDone = true;
    this.ended();
    if (!this.closed && this.pending && ev & WRITABLE) this.writable();
  }

  write(chunk: Buffer): boolean {
    if (this.closed || chunk.length === 0) return true;
    if (this.pending) {
      this.pending = Buffer.concat([this.pending, chunk]);
      return false;
    }
    const loop = this.loop;
    // The bytes just read (a view of the read buffer from its start) go by the buffer's address.
    const bytes = chunk === loop.lastRead ? loop.readPointer : chunk;
    const sent = loop.libc.send(this.fd, bytes, chunk.length, MSG_NOSIGNAL);
    if (sent === chunk.length) return true;
    if (sent < 0 && this.loop.libc.errno() !== EAGAIN) {
      this.owner?.failed(this);
      return true;
    }
    // A copy: the chunk may be a view of the loop's read buffer, which the next recv overwrites.
    this.pending = Buffer.from(chunk.subarray(Math.max(0, sent)));
    this.loop.watchOutput(this);
    this.loop.updateRelay(this);
    return false;
  }

  shutdown(): void {
    if (this.closed) return;
    if (this.pending) {
      this.shutdownWanted = true;
      this.loop.updateRelay(this);
      return;
    }
    const err = this.loop.libc.shutdown(this.fd, SHUT_WR);
    if (err < 0 && this.loop.libc.errno() !== ENOTCONN) this.owner?.failed(this);
    else this.owner?.shutdownDone(this);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.reading = false;
    this.pending = null;
    // Out of the C round's table before the descriptor closes (and may be reused).
    this.loop.updateRelay(this);
    this.unsettled += this.loop.takeRelayed(this.fd);
    this.loop.release(this);
  }

  setNoDelay(on: boolean): void {
    this.loop.setOption(this.fd, IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0);
  }

  setKeepAlive(on: boolean): void {
    this.loop.setOption(this.fd, SOL_SOCKET, SO_KEEPALIVE, on ? 1 : 0);
  }

  /** What epoll reported for this socket. */
  event(ev: number): void {
    if (ev & READABLE) {
      this.canRead = true;
      if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        if (ev & (EPOLLRDHUP | EPOLLHUP)) this.peerDone = true;
        if (ev & EPOLLERR) this.errored = true;
        this.loop.updateRelay(this);
      }
      if (this.reading) this.readable();
      if (this.closed) return;
    }
    if (this.pending && ev & WRITABLE) this.writable();
  }

  /** One recv, passed on; what more there may be is read in the next round. */
  readable(): void {
    const loop = this.loop;
    const n = loop.libc.recv(this.fd, loop.readPointer, READ_SIZE, 0);
    if (n > 0) {
      const emptied = n < READ_SIZE;
      // After the peer's FIN or an error the socket stays readable (the EOF, the error) until a read says so.
      if (emptied && !this.peerDone && !this.errored) this.canRead = false;
      this.owner?.data(this, loop.readView(n));
      if (this.closed || !this.reading) return;
      // A reset is reported as one (by the next recv), not taken for an EOF.
      if (!emptied || this.errored) loop.readSoon(this);
      else if (this.peerDone) this.ended();
    } else if (n === 0) this.ended();
    else {
      const errno = loop.libc.errno();
      if (errno === EAGAIN) {
        // Nothing to read after all: whatever error was announced is not the socket's.
        this.canRead = false;
        if (this.errored) {
          this.errored = false;
          loop.updateRelay(this);
        }
      } else if (errno === EINTR) loop.readSoon(this);
      else this.owner?.failed(this);
    }
  }

  private ended(): void {
    this.reading = false;
    this.canRead = false;
    this.loop.updateRelay(this);
    this.owner?.end(this);
  }

  /** The socket is writable again: what waits goes out; the owner hears when all has. */
  writable(): void {
    const pending = this.pending!;
    const sent = this.loop.libc.send(this.fd, pending, pending.length, MSG_NOSIGNAL);
    if (sent < 0) {
      const errno = this.loop.libc.errno();
      if (errno !== EAGAIN && errno !== EINTR) this.owner?.failed(this);
      return;
    }
    if (sent < pending.length) {
      // The kernel's buffer is full again: its next room comes as another event.
      this.pending = pending.subarray(sent);
      return;
    }
    this.pending = null;
    this.loop.updateRelay(this);
    if (this.shutdownWanted) {
      this.shutdownWanted = false;
      this.shutdown();
    }
    if (!this.closed) this.owner?.drained(this);
  }
}

export class FfiLoop {
  /** Where every recv reads to; held by the loop for its whole life, so its address stays valid. */
  readonly readBuffer = Buffer.alloc(READ_SIZE);
  /**
   * The read buffer's address, made once: a BigInt passes into koffi without the look into a
   * Buffer, and unlike a number above 2^31 it is not boxed anew at every call.
   */
  readonly readPointer: bigint;
  /** The view readView gave last: what a side writes on is known to be the read buffer's by this. */
  lastRead: Buffer | null = null;
  /**
   * Views of the read buffer's first n bytes, by n. What a side passes on is read at once or
   * copied (the next recv overwrites it), so the same view object can serve every read of a length.
   */
  private readonly views: Array<Buffer | undefined> = new Array<Buffer | undefined>(KEPT_VIEWS + 1).fill(undefined);
  readonly epfd: number;
  /** Becomes readable when another thread has a message for this one. */
  readonly wakeFd: number;
  private readonly events = Buffer.alloc(MAX_EVENTS * EPOLL_EVENT_SIZE);
  /** The same memory as 32-bit words: an event's flags, descriptor and generation. */
  private readonly eventWords = new Int32Array(this.events.buffer, this.events.byteOffset, this.events.length >> 2);
  /** One epoll_event for epoll_ctl, and the small buffers the kernel fills in. */
  private readonly ctlEvent = Buffer.alloc(16);
  private readonly addressBuffer = Buffer.alloc(128);
  private readonly lengthBuffer = Buffer.alloc(4);
  private readonly optionBuffer = Buffer.alloc(4);
  private readonly wakeBuffer = Buffer.alloc(8);
  /** Per descriptor: the events registered with epoll (0: not registered), and a generation
   * that tells an event for a closed descriptor from one for its reuse in the same round. */
  private readonly interest: Int32Array;
  private readonly generation: Uint32Array;
  /** The C round, and what it shares with the loop (./relay.c says what each array means). */
  private readonly relay: Relay | null;
  /** Per descriptor: its peer's descriptor + 1 while the C round may relay its input, else 0. */
  private readonly relayPeer: Int32Array;
  /** The peer's generation when marked: a peer closed since is never written to. */
  private readonly relayPeerGeneration: Uint32Array;
  /** Bytes the C round read from each descriptor, until the pair takes them. */
  private readonly relayed: Float64Array;
  private readonly relayResult = new Int32Array(new ArrayBuffer(RELAY_RESULT_WORDS * 4));
  /** Clients the C round accepted (RELAY_ACCEPT_WORDS each), descriptors whose close it is to make, and descriptors (with their generations) to read. */
  private readonly accepted: Int32Array;
  private readonly closing: Int32Array;
  private readonly reading: Int32Array;
  /** The sides in `reading`, whose queuedRead ends with the next round. */
  private readonly readingSides: FfiSide[] = [];
  /** The address of the `struct pen_loop` that tells the C round where all of these lie; the struct's memory. */
  private readonly relayLoop: bigint;
  private readonly relayLoopMemory: Buffer;
  private readonly sides: Array<FfiSide | null>;
  /** Backend connects under way, by descriptor: who hears the outcome, and by when. */
  private readonly connectDone: Array<((side: Side | null) => void) | null>;
  private readonly connectDeadline: Float64Array;
  /** The descriptors of those connects, densely, for the deadline scan; and each one's place there. */
  private readonly connectList: Int32Array;
  private readonly connectIndex: Int32Array;
  private connectCount = 0;
  private nextDeadlineScan = 0;
  /** Sides to read after this round's events (resumed, or not emptied by their last read). */
  private readQueue: FfiSide[] = [];
  private readQueueNext: FfiSide[] = [];
  private readonly listeners = new Map<number, Listening>();
  /** Backend addresses as sockaddrs, by host and port, kept for the calls that read them. */
  private readonly addresses = new Map<string, Map<number, Buffer>>();
  private addressCount = 0;
  private readonly unixAddresses = new Map<string, Buffer>();
  /** Client IPv4 addresses as text, by their 32 bits (see ipv4): a returning client costs no string. */
  private readonly ipv4Text = new Map<number, string>();
  private acceptPausedUntil = 0;
  private stopped = false;
  onWake: () => void = () => undefined;
  readonly tableSize: number;

  constructor(readonly libc: Libc) {
    this.readPointer = libc.address(this.readBuffer);
    const limits = Buffer.alloc(16);
    const soft = libc.getrlimit(RLIMIT_NOFILE, limits) === 0 ? Number(limits.readBigUInt64LE(0)) : 1024;
    this.tableSize = Math.min(Math.max(soft, 1024), FD_TABLE_MAX);
    this.interest = new Int32Array(this.tableSize);
    // Off the JavaScript heap (an ArrayBuffer's memory never moves), as the C round reads them by address.
    this.generation = new Uint32Array(new ArrayBuffer(this.tableSize * 4));
    this.relay = libc.relay;
    const c = this.relay !== null;
    this.relayPeer = new Int32Array(new ArrayBuffer(c ? this.tableSize * 4 : 0));
    this.relayPeerGeneration = new Uint32Array(new ArrayBuffer(c ? this.tableSize * 4 : 0));
    this.relayed = new Float64Array(new ArrayBuffer(c ? this.tableSize * 8 : 0));
    this.accepted = new Int32Array(new ArrayBuffer(c ? ACCEPTED_MAX * RELAY_ACCEPT_WORDS * 4 : 0));
    this.closing = new Int32Array(new ArrayBuffer(c ? CLOSING_MAX * 4 : 0));
    this.reading = new Int32Array(new ArrayBuffer(c ? READING_MAX * 2 * 4 : 0));
    this.relayLoopMemory = Buffer.from(new ArrayBuffer(c ? 18 * 8 : 0));
    this.relayLoop = c ? libc.address(this.relayLoopMemory) : 0n;
    this.sides = new Array<FfiSide | null>(this.tableSize).fill(null);
    this.connectDone = new Array<((side: Side | null) => void) | null>(this.tableSize).fill(null);
    this.connectDeadline = new Float64Array(this.tableSize);
    this.connectList = new Int32Array(this.tableSize);
    this.connectIndex = new Int32Array(this.tableSize);
    this.epfd = libc.epoll_create1(SOCK_CLOEXEC);
    if (this.epfd < 0) throw new Error(`epoll_create1 failed (errno ${libc.errno()})`);
    this.wakeFd = libc.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (this.wakeFd < 0) throw new Error(`eventfd failed (errno ${libc.errno()})`);
    this.ctl(EPOLL_CTL_ADD, this.wakeFd, EPOLLIN);
    if (c) this.describeLoop();
  }

  /** Fills in the `struct pen_loop` of ./relay.c: the arrays' addresses, then the sizes, 8 bytes each. */
  private describeLoop(): void {
    const at = (array: ArrayBufferView) => this.libc.address(Buffer.from(array.buffer, array.byteOffset, array.byteLength));
    const pointers = [at(this.events), at(this.relayPeer), at(this.generation), at(this.relayPeerGeneration), at(this.relayed), this.readPointer, at(this.accepted), at(this.closing), at(this.reading), at(this.relayResult)];
    const sizes = [this.epfd, MAX_EVENTS, this.tableSize, READ_SIZE, ACCEPTED_MAX, CLOSING_MAX, READING_MAX, SOCKET_EVENTS >>> 0];
    [...pointers, ...sizes.map(BigInt)].forEach((value, i) => this.relayLoopMemory.writeBigInt64LE(value, i * 8));
  }

  private ctl(op: number, fd: number, events: number): number {
    const e = this.ctlEvent;
    e.writeInt32LE(events, 0);
    e.writeUInt32LE(fd, EPOLL_DATA_OFFSET);
    e.writeUInt32LE(this.generation[fd] ?? 0, EPOLL_DATA_OFFSET + 4);
    return this.libc.epoll_ctl(this.epfd, op, fd, e);
  }

  /** Registers a connected (or connecting) socket, once for its life. */
  private register(fd: number, events: number): void {
    this.ctl(EPOLL_CTL_ADD, fd, events);
    this.interest[fd] = events;
  }

  setOption(fd: number, level: number, name: number, value: number): void {
    this.optionBuffer.writeInt32LE(value, 0);
    this.libc.setsockopt(fd, level, name, this.optionBuffer, 4);
  }

  /** A side has bytes waiting to be written: it must hear when the socket has room. */
  watchOutput(side: FfiSide): void {
    const fd = side.fd;
    const had = this.interest[fd]!;
    if (had & EPOLLOUT) return;
    // Registered for output once and kept: an edge comes only after send has found the buffer full.
    this.ctl(EPOLL_CTL_MOD, fd, had | EPOLLOUT);
    this.interest[fd] = had | EPOLLOUT;
  }

  /** The first `n` bytes of the read buffer. */
  readView(n: number): Buffer {
    let view = n > KEPT_VIEWS ? undefined : this.views[n];
    if (view === undefined) {
      view = this.readBuffer.subarray(0, n);
      if (n <= KEPT_VIEWS) this.views[n] = view;
    }
    return (this.lastRead = view);
  }

  /**
   * Reads `side` after this round's events: with the C round, as an event of its next call (which
   * relays it there when its pair is plain), else (or when that list is full) here after this round.
   */
  readSoon(side: FfiSide): void {
    if (side.queuedRead) return;
    side.queuedRead = true;
    const asked = this.relay ? this.relayResult[RELAY_RESULT_READING]! : READING_MAX;
    if (asked >= READING_MAX) {
      this.readQueueNext.push(side);
      return;
    }
    this.reading[2 * asked] = side.fd;
    this.reading[2 * asked + 1] = this.generation[side.fd]! | 0;
    this.relayResult[RELAY_RESULT_READING] = asked + 1;
    this.readingSides.push(side);
  }

  /** Closes a side's descriptor (which leaves the epoll set with it). */
  release(side: FfiSide): void {
    const fd = side.fd;
    if (this.sides[fd] === side) this.sides[fd] = null;
    this.forget(fd);
  }

  /** Marks whether the C round may relay `side`'s input and its peer's, from their state now. */
  updateRelay(side: FfiSide): void {
    if (!this.relay) return;
    const other = side.peer();
    this.markRelay(side, other);
    if (other) this.markRelay(other, side);
  }

  private markRelay(from: FfiSide, to: FfiSide | null): void {
    const plain = to !== null && from.reading && !from.closed && !from.peerDone && !from.errored && !to.closed && to.pending === null && !to.shutdownWanted;
    if (!plain) {
      this.relayPeer[from.fd] = 0;
      return;
    }
    this.relayPeer[from.fd] = to.fd + 1;
    this.relayPeerGeneration[from.fd] = this.generation[to.fd]!;
  }

  /** Bytes the C round read from `fd` since the last call. */
  takeRelayed(fd: number): number {
    if (!this.relay) return 0;
    const n = this.relayed[fd]!;
    if (n !== 0) this.relayed[fd] = 0;
    return n;
  }

  /**
   * Done with `fd`: its events from now on are stale. With the C round its close waits for the
   * start of the next round (before its epoll_wait), one call for all of them; until then the
   * number cannot be reused, and the bumped generation marks what was reported for it as stale.
   */
  private forget(fd: number): void {
    this.interest[fd] = 0;
    this.generation[fd] = (this.generation[fd]! + 1) >>> 0;
    // Once the loop has stopped, no round will close it.
    if (!this.relay || this.stopped) {
      this.libc.close(fd);
      return;
    }
    this.relayPeer[fd] = 0;
    this.relayed[fd] = 0;
    const waiting = this.relayResult[RELAY_RESULT_CLOSING]!;
    if (waiting >= CLOSING_MAX) {
      this.libc.close(fd);
      return;
    }
    this.closing[waiting] = fd;
    this.relayResult[RELAY_RESULT_CLOSING] = waiting + 1;
  }

  /** The closes put off, made now (the loop stops). */
  private closePutOff(): void {
    if (!this.relay) return;
    const waiting = this.relayResult[RELAY_RESULT_CLOSING]!;
    for (let i = 0; i < waiting; i++) this.libc.close(this.closing[i]!);
    this.relayResult[RELAY_RESULT_CLOSING] = 0;
  }

  private problem(call: string): Error {
    return Object.assign(new Error(`${call} failed (errno ${this.libc.errno()})`), { errno: this.libc.errno() });
  }

  /** Listens on a TCP address; each client goes to `accept` with the address accept4 gave. */
  listen(host: string, port: number, backlog: number, accept: (side: FfiSide) => void): { fd: number; port: number } {
    const address = sockaddr(host, port);
    const fd = this.libc.socket(address.readUInt16LE(0), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw this.problem('socket');
    this.setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    if (this.libc.bind(fd, address, address.length) < 0 || this.libc.listen(fd, backlog) < 0) {
      const err = this.problem('bind/listen');
      this.libc.close(fd);
      throw err;
    }
    return this.accepting(fd, accept);
  }

  /**
   * Accepts on `fd`, a listening TCP socket inherited from the pen this one succeeds (which may
   * still accept on it until it hands over): made non-blocking, so that a client the other
   * process took first costs an EAGAIN, not a blocked loop.
   */
  adopt(fd: number, accept: (side: FfiSide) => void): { fd: number; port: number } {
    const flags = this.libc.fcntl(fd, F_GETFL, 0);
    if (flags < 0 || this.libc.fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) throw this.problem(`fcntl on the inherited listener ${fd}`);
    return this.accepting(fd, accept);
  }

  private accepting(fd: number, accept: (side: FfiSide) => void): { fd: number; port: number } {
    this.lengthBuffer.writeUInt32LE(this.addressBuffer.length, 0);
    if (this.libc.getsockname(fd, this.addressBuffer, this.lengthBuffer) < 0) throw this.problem('getsockname');
    this.listeners.set(fd, { fd, accept });
    // The C round accepts on it.
    if (this.relay) this.relayPeer[fd] = RELAY_LISTENER;
    // Level-triggered: a listener with clients still queued is reported again next round.
    this.ctl(EPOLL_CTL_ADD, fd, EPOLLIN);
    return { fd, port: peerOf(this.addressBuffer).port };
  }

  closeListener(fd: number): void {
    if (!this.listeners.delete(fd)) return;
    if (this.relay) this.relayPeer[fd] = 0;
    // What this round still holds for it is stale, should its number come back in the same round.
    this.generation[fd] = (this.generation[fd]! + 1) >>> 0;
    this.libc.close(fd);
  }

  /** The address in a sockaddr accept4 filled in, as text. */
  private peerAddress(addr: Buffer): string | null {
    return addr.readUInt16LE(0) === AF_INET ? this.ipv4(addr.readInt32LE(4)) : peerOf(addr).address;
  }

  /** An IPv4 address as text, from its 4 bytes (network order) read as one little-endian word; built once per address. */
  private ipv4(word: number): string {
    let text = this.ipv4Text.get(word);
    if (text === undefined) {
      if (this.ipv4Text.size >= 4096) this.ipv4Text.clear();
      text = `${word & 0xff}.${(word >>> 8) & 0xff}.${(word >>> 16) & 0xff}.${word >>> 24}`;
      this.ipv4Text.set(word, text);
    }
    return text;
  }

  /**
   * Clients queued on the listener, up to ACCEPT_BATCH per report, as pen takes them (until
   * EAGAIN): one epoll_wait then serves several connections. The bound keeps relaying going
   * between accepts under a storm; the listener stays reported while clients remain queued.
   */
  private acceptFrom(listening: Listening): void {
    for (let taken = 0; taken < ACCEPT_BATCH; taken++) {
      if (!this.acceptOne(listening) || this.stopped || !this.listeners.has(listening.fd)) return;
    }
  }

  /** Takes one client; false when none was waiting or the listener must rest. */
  private acceptOne(listening: Listening): boolean {
    const libc = this.libc;
    this.lengthBuffer.writeUInt32LE(this.addressBuffer.length, 0);
    const fd = libc.accept4(listening.fd, this.addressBuffer, this.lengthBuffer, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const errno = libc.errno();
      if (errno === EMFILE || errno === ENFILE) this.rest(listening);
      return false;
    }
    if (fd >= this.tableSize) {
      libc.close(fd);
      return true;
    }
    // Registered now, read once the owner starts reading: what arrives meanwhile is remembered.
    this.register(fd, SOCKET_EVENTS);
    this.took(listening, fd, this.peerAddress(this.addressBuffer), this.addressBuffer.readUInt16BE(2));
    return true;
  }

  /** Out of descriptors: the listener, level-triggered, stays readable; it rests rather than spin. */
  private rest(listening: Listening): void {
    this.ctl(EPOLL_CTL_DEL, listening.fd, 0);
    this.acceptPausedUntil = Date.now() + ACCEPT_PAUSE_MS;
  }

  /** A client accepted and registered: its side goes to the listener's owner. */
  private took(listening: Listening, fd: number, address: string | null, port: number): void {
    const side = new FfiSide(this, fd, address, port);
    this.sides[fd] = side;
    listening.accept(side);
  }

  /** The clients the C round accepted (and registered) in its last call. */
  private takeAccepted(): void {
    const count = this.relayResult[RELAY_RESULT_ACCEPTED]!;
    if (count === 0) return;
    this.relayResult[RELAY_RESULT_ACCEPTED] = 0;
    const a = this.accepted;
    for (let i = 0, at = 0; i < count; i++, at += RELAY_ACCEPT_WORDS) {
      const fd = a[at]!;
      const listening = this.listeners.get(a[at + 1]!);
      this.interest[fd] = SOCKET_EVENTS;
      if (!listening || this.stopped) {
        this.forget(fd);
        continue;
      }
      this.took(listening, fd, this.acceptedAddress(at), a[at + 3]!);
    }
  }

  /** The address of the client at word `at` of the accepted array (family, port, 16 address bytes). */
  private acceptedAddress(at: number): string | null {
    const a = this.accepted;
    if (a[at + 2] === AF_INET) return this.ipv4(a[at + 4]!);
    // Other families as a sockaddr, as accept4 fills one in.
    const addr = this.addressBuffer.fill(0);
    addr.writeUInt16LE(a[at + 2]!, 0);
    addr.writeUInt16BE(a[at + 3]!, 2);
    Buffer.from(a.buffer, a.byteOffset + (at + 4) * 4, 16).copy(addr, 8);
    return peerOf(addr).address;
  }

  /** The sockaddr for a backend; null when the host is not an address. */
  private sockaddrFor(target: ConnectTarget): Buffer | null {
    if (target.unixPath) {
      let address = this.unixAddresses.get(target.unixPath);
      if (!address) {
        if (this.unixAddresses.size >= 1024) this.unixAddresses.clear();
        address = sockaddr('', 0, target.unixPath);
        this.unixAddresses.set(target.unixPath, address);
      }
      return address;
    }
    let byPort = this.addresses.get(target.host);
    let address = byPort?.get(target.port);
    if (address) return address;
    if (!net.isIP(target.host)) return null;
    // Bounded: a config that keeps changing addresses does not grow this without end.
    if (this.addressCount >= 1024) {
      this.addresses.clear();
      this.addressCount = 0;
      byPort = undefined;
    }
    address = sockaddr(target.host, target.port);
    if (!byPort) this.addresses.set(target.host, (byPort = new Map()));
    byPort.set(target.port, address);
    this.addressCount++;
    return address;
  }

  /** Connects to a backend; `done` gets the side, or null on refusal, error or timeout, always later. */
  connect(target: ConnectTarget, done: (side: Side | null) => void): void {
    let address: Buffer | null;
    try {
      address = this.sockaddrFor(target);
    } catch {
      setImmediate(done, null);
      return;
    }
    if (!address) {
      // A name set at run time (`server N address NAME`): resolved, then connected.
      dns.lookup(target.host, (err, host) => (err ? done(null) : this.connect({ ...target, host }, done)));
      return;
    }
    const source = target.source && !target.unixPath ? sockaddr(target.source, 0) : null;
    const events = SOCKET_EVENTS | EPOLLOUT;
    const fd = this.relay ? this.relay.connect(this.relayLoop, address, address.length, source, source?.length ?? 0, events) : this.connectSocket(address, source, events);
    if (fd < 0) return void setImmediate(done, null);
    this.interest[fd] = events;
    // Connected at once or in progress: the first event says which, as writability does for pen.
    this.connectDone[fd] = done;
    this.connectDeadline[fd] = Date.now() + target.timeoutMs;
    this.connectIndex[fd] = this.connectCount;
    this.connectList[this.connectCount++] = fd;
  }

  /** pen_connect of ./relay.c, a call at a time: a connecting socket registered for `events`, or -1. */
  private connectSocket(address: Buffer, source: Buffer | null, events: number): number {
    const libc = this.libc;
    const fd = libc.socket(address.readUInt16LE(0), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (fd >= this.tableSize) {
      libc.close(fd);
      return -1;
    }
    if ((source && libc.bind(fd, source, source.length) < 0) || (libc.connect(fd, address, address.length) < 0 && libc.errno() !== EINPROGRESS)) {
      this.forget(fd);
      return -1;
    }
    this.register(fd, events);
    return fd;
  }

  /** The connect on `fd` has an outcome: `ev` is its first event, 0 for a timeout. */
  private connected(fd: number, ev: number): void {
    const done = this.connectDone[fd]!;
    this.connectDone[fd] = null;
    const last = this.connectList[--this.connectCount]!;
    const at = this.connectIndex[fd]!;
    this.connectList[at] = last;
    this.connectIndex[last] = at;
    // A failed connect reports an error or a hang-up (pen reads SO_ERROR; the event says as much).
    if (ev === 0 || ev & (EPOLLERR | EPOLLHUP) || !(ev & (EPOLLOUT | EPOLLIN))) {
      this.forget(fd);
      done(null);
      return;
    }
    const side = new FfiSide(this, fd);
    this.sides[fd] = side;
    if (ev & (EPOLLIN | EPOLLRDHUP)) {
      // The backend spoke (or ended) at once: kept for when the pair starts reading.
      side.canRead = true;
      side.peerDone = (ev & EPOLLRDHUP) !== 0;
    }
    done(side);
  }

  private expireConnects(now: number): void {
    if (now < this.nextDeadlineScan) return;
    this.nextDeadlineScan = now + DEADLINE_SCAN_MS;
    for (let i = this.connectCount - 1; i >= 0; i--) {
      const fd = this.connectList[i]!;
      if (this.connectDeadline[fd]! <= now) this.connected(fd, 0);
    }
  }

  /** One epoll_wait and what it reported, then the sides whose reading was put off to now. */
  private round(timeoutMs: number): void {
    const timeout = this.readQueueNext.length > 0 || this.readingSides.length > 0 ? 0 : timeoutMs;
    if (this.relay) this.relayedRound(this.relay, timeout);
    else this.dispatch(0, this.libc.epoll_wait(this.epfd, this.events, MAX_EVENTS, timeout));
    this.readPutOff();
  }

  /**
   * A round in C: what it leaves is dispatched here. Where it stops (a send that took less than
   * it read), the rest is kept before anything reads into the buffer again, and it goes on after.
   */
  private relayedRound(relay: Relay, timeout: number): void {
    const r = this.relayResult;
    let start = -1;
    for (;;) {
      const stop = relay.round(this.relayLoop, timeout, start);
      // The reads asked for are this call's events now: each side may be asked for again.
      if (start < 0) this.readingStarted();
      const n = r[0]!;
      const from = start < 0 ? 0 : start;
      if (stop < n) {
        const fd = this.eventWords[stop * (EPOLL_EVENT_SIZE >> 2) + (EPOLL_DATA_OFFSET >> 2)]!;
        this.sides[fd]?.relayStopped(r[1]!, r[2]!, r[3]!);
      }
      this.takeAccepted();
      if (stop >= n) {
        this.dispatch(from, n);
        return;
      }
      // With what the C round left of the event it stopped at (EPOLLOUT, if that came too).
      this.dispatch(from, stop + 1);
      start = stop + 1;
    }
  }

  /** Events from..to-1 of the last epoll_wait; those with no flags left were handled by the C round. */
  private dispatch(from: number, to: number): void {
    const libc = this.libc;
    const words = this.eventWords;
    const stride = EPOLL_EVENT_SIZE >> 2;
    const fdAt = EPOLL_DATA_OFFSET >> 2;
    for (let i = from; i < to; i++) {
      const at = i * stride;
      const ev = words[at]!;
      if (ev === 0) continue;
      const fd = words[at + fdAt]!;
      if (words[at + fdAt + 1]! >>> 0 !== this.generation[fd]) continue;
      const side = this.sides[fd];
      if (side) {
        if (ev & RELAY_RECV_FAILED) side.owner?.failed(side);
        else if (ev & RELAY_EOF) side.relayEnded(ev);
        else side.event(ev);
        continue;
      }
      if (this.connectDone[fd]) {
        this.connected(fd, ev);
        continue;
      }
      if (fd === this.wakeFd) {
        libc.read(fd, this.wakeBuffer, 8);
        this.onWake();
        continue;
      }
      const listening = this.listeners.get(fd);
      if (!listening) continue;
      // The C round accepts itself, and leaves a listener's event only when out of descriptors.
      if (ev & RELAY_ACCEPT_FULL) this.rest(listening);
      else this.acceptFrom(listening);
    }
  }

  private readingStarted(): void {
    const sides = this.readingSides;
    for (let i = 0; i < sides.length; i++) sides[i]!.queuedRead = false;
    sides.length = 0;
  }

  private readPutOff(): void {
    const queue = this.readQueueNext;
    if (queue.length === 0) return;
    // Sides queued while these are read wait for the next round, after its epoll_wait.
    this.readQueueNext = this.readQueue;
    this.readQueue = queue;
    for (let i = 0; i < queue.length; i++) {
      const side = queue[i]!;
      side.queuedRead = false;
      if (side.reading && side.canRead && !side.closed) side.readable();
    }
    queue.length = 0;
  }

  /** Runs rounds for up to a slice, then lets the thread's event loop turn, and again. */
  run(): void {
    if (this.stopped) return;
    const until = Date.now() + SLICE_MS;
    let now = Date.now();
    do {
      this.round(Math.max(0, until - now));
      now = Date.now();
      if (this.acceptPausedUntil && now >= this.acceptPausedUntil) {
        this.acceptPausedUntil = 0;
        for (const fd of this.listeners.keys()) this.ctl(EPOLL_CTL_ADD, fd, EPOLLIN);
      }
      if (this.connectCount > 0) this.expireConnects(now);
    } while (now < until && !this.stopped);
    if (!this.stopped) setImmediate(() => this.run());
  }

  /**
   * Ends the loop: listeners and epoll descriptor closed (open sides are closed by their owners),
   * and the wake descriptor unless another thread that writes to it closes it once this one is gone.
   */
  stop(closeWake = true): void {
    this.stopped = true;
    for (const fd of [...this.listeners.keys()]) this.closeListener(fd);
    this.closePutOff();
    if (closeWake) this.libc.close(this.wakeFd);
    this.libc.close(this.epfd);
  }
}
