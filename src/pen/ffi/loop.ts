import dns from 'node:dns';
import net from 'node:net';
import type { ConnectTarget, Side, SideOwner } from '../transport';
import {
  EAGAIN, EINPROGRESS, EINTR, EMFILE, ENFILE, ENOTCONN, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EPOLL_DATA_OFFSET,
  EPOLL_EVENT_SIZE, EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, EFD_CLOEXEC, EFD_NONBLOCK, IPPROTO_TCP, MSG_NOSIGNAL,
  peerOf, RLIMIT_NOFILE, SHUT_WR, SO_ERROR, SO_KEEPALIVE, SO_REUSEADDR, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM,
  sockaddr, SOL_SOCKET, TCP_NODELAY, type Libc,
} from './libc';

/*
 * pen's byte path as an epoll loop calling libc: accept4 (the client's address comes with it),
 * non-blocking connect with a deadline, recv into one shared buffer and send straight on, what
 * send could not take kept per descriptor until the socket is writable (reading from the other
 * side stops meanwhile), shutdown for half-close, close. The loop runs on its own thread and
 * blocks in epoll_wait; between rounds it lets that thread's event loop run (timers, messages).
 */

/** Events taken per epoll_wait. */
const MAX_EVENTS = 256;
/** Bytes one recv may read: pen's own buffer size. */
const READ_SIZE = 64 * 1024;
/** Clients accepted per readiness of the listener, so that relaying goes on under a connect storm. */
const ACCEPTS_PER_ROUND = 64;
/** The most descriptors the per-descriptor tables cover, whatever RLIMIT_NOFILE allows. */
const FD_TABLE_MAX = 1 << 20;
/** How long the loop may block, and run without letting its thread's event loop turn, ms. */
const SLICE_MS = 20;
/** After running out of descriptors, the listener rests this long before accepting again, ms. */
const ACCEPT_PAUSE_MS = 100;

interface Listening {
  fd: number;
  accept: (side: FfiSide) => void;
}

/** One connected socket of a pair, owned by the loop. */
export class FfiSide implements Side {
  owner: SideOwner | null = null;
  reading = false;
  closed = false;
  /** Bytes send could not take yet; the only copy the loop makes of relayed data. */
  pending: Buffer | null = null;
  shutdownWanted = false;

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
    this.loop.update(this);
  }

  stopReading(): void {
    if (!this.reading || this.closed) return;
    this.reading = false;
    this.loop.update(this);
  }

  write(chunk: Buffer): boolean {
    if (this.closed || chunk.length === 0) return true;
    if (this.pending) {
      this.pending = Buffer.concat([this.pending, chunk]);
      return false;
    }
    const sent = this.loop.libc.send(this.fd, chunk, chunk.length, MSG_NOSIGNAL);
    if (sent === chunk.length) return true;
    if (sent < 0 && this.loop.libc.errno() !== EAGAIN) {
      this.owner?.failed(this);
      return true;
    }
    // A copy: the chunk may be a view of the loop's read buffer, which the next recv overwrites.
    this.pending = Buffer.from(chunk.subarray(Math.max(0, sent)));
    this.loop.update(this);
    return false;
  }

  shutdown(): void {
    if (this.closed) return;
    if (this.pending) {
      this.shutdownWanted = true;
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
    this.loop.release(this);
  }

  setNoDelay(on: boolean): void {
    this.loop.setOption(this.fd, IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0);
  }

  setKeepAlive(on: boolean): void {
    this.loop.setOption(this.fd, SOL_SOCKET, SO_KEEPALIVE, on ? 1 : 0);
  }

  /** The socket is readable (or failed): one recv, passed on. */
  readable(): void {
    const loop = this.loop;
    const n = loop.libc.recv(this.fd, loop.readBuffer, READ_SIZE, 0);
    if (n > 0) this.owner?.data(this, loop.readBuffer.subarray(0, n));
    else if (n === 0) {
      this.reading = false;
      loop.update(this);
      this.owner?.end(this);
    } else {
      const errno = loop.libc.errno();
      if (errno !== EAGAIN && errno !== EINTR) this.owner?.failed(this);
    }
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
      this.pending = pending.subarray(sent);
      return;
    }
    this.pending = null;
    this.loop.update(this);
    if (this.shutdownWanted) {
      this.shutdownWanted = false;
      this.shutdown();
    }
    if (!this.closed) this.owner?.drained(this);
  }
}

/** A backend connection under way. */
interface Connecting {
  fd: number;
  deadline: number;
  done: (side: Side | null) => void;
}

export class FfiLoop {
  readonly readBuffer = Buffer.alloc(READ_SIZE);
  readonly epfd: number;
  /** Becomes readable when another thread has a message for this one. */
  readonly wakeFd: number;
  private readonly events = Buffer.alloc(MAX_EVENTS * EPOLL_EVENT_SIZE);
  /** One epoll_event for epoll_ctl, and the small buffers the kernel fills in. */
  private readonly ctlEvent = Buffer.alloc(16);
  private readonly addressBuffer = Buffer.alloc(128);
  private readonly lengthBuffer = Buffer.alloc(4);
  private readonly optionBuffer = Buffer.alloc(4);
  private readonly wakeBuffer = Buffer.alloc(8);
  /** Per descriptor: the events registered with epoll (0: not registered), and a generation
   * that tells an event for a closed descriptor from one for its reuse in the same round. */
  private readonly interest: Uint32Array;
  private readonly generation: Uint32Array;
  private readonly sides: Array<FfiSide | null>;
  private readonly connecting: Array<Connecting | null>;
  /** The same connects, for the deadline scan. */
  private readonly pendingConnects = new Set<Connecting>();
  private nextDeadlineScan = 0;
  private readonly listeners = new Map<number, Listening>();
  /** Backend addresses as sockaddrs, kept for the calls that read them. */
  private readonly addresses = new Map<string, Buffer>();
  private acceptPausedUntil = 0;
  private stopped = false;
  onWake: () => void = () => undefined;
  readonly tableSize: number;

  constructor(readonly libc: Libc) {
    const limits = Buffer.alloc(16);
    const soft = libc.getrlimit(RLIMIT_NOFILE, limits) === 0 ? Number(limits.readBigUInt64LE(0)) : 1024;
    this.tableSize = Math.min(Math.max(soft, 1024), FD_TABLE_MAX);
    this.interest = new Uint32Array(this.tableSize);
    this.generation = new Uint32Array(this.tableSize);
    this.sides = new Array<FfiSide | null>(this.tableSize).fill(null);
    this.connecting = new Array<Connecting | null>(this.tableSize).fill(null);
    this.epfd = libc.epoll_create1(SOCK_CLOEXEC);
    if (this.epfd < 0) throw new Error(`epoll_create1 failed (errno ${libc.errno()})`);
    this.wakeFd = libc.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (this.wakeFd < 0) throw new Error(`eventfd failed (errno ${libc.errno()})`);
    this.ctl(EPOLL_CTL_ADD, this.wakeFd, EPOLLIN);
  }

  private ctl(op: number, fd: number, events: number): number {
    const e = this.ctlEvent;
    e.writeUInt32LE(events, 0);
    e.writeUInt32LE(fd, EPOLL_DATA_OFFSET);
    e.writeUInt32LE(this.generation[fd] ?? 0, EPOLL_DATA_OFFSET + 4);
    return this.libc.epoll_ctl(this.epfd, op, fd, e);
  }

  setOption(fd: number, level: number, name: number, value: number): void {
    this.optionBuffer.writeInt32LE(value, 0);
    this.libc.setsockopt(fd, level, name, this.optionBuffer, 4);
  }

  /** Registers what a side waits for: input while it reads, output while bytes wait. */
  update(side: FfiSide): void {
    const fd = side.fd;
    const wanted = (side.reading ? EPOLLIN : 0) | (side.pending ? EPOLLOUT : 0);
    const had = this.interest[fd]!;
    if (wanted === had) return;
    // A socket waiting for nothing leaves the set: a hang-up would otherwise be reported each round.
    if (wanted === 0) this.ctl(EPOLL_CTL_DEL, fd, 0);
    else this.ctl(had === 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, wanted);
    this.interest[fd] = wanted;
  }

  /** Closes a side's descriptor (which leaves the epoll set with it). */
  release(side: FfiSide): void {
    const fd = side.fd;
    if (this.sides[fd] === side) this.sides[fd] = null;
    this.forget(fd);
  }

  private forget(fd: number): void {
    this.interest[fd] = 0;
    this.generation[fd] = (this.generation[fd]! + 1) >>> 0;
    this.libc.close(fd);
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
    this.lengthBuffer.writeUInt32LE(this.addressBuffer.length, 0);
    this.libc.getsockname(fd, this.addressBuffer, this.lengthBuffer);
    this.listeners.set(fd, { fd, accept });
    this.ctl(EPOLL_CTL_ADD, fd, EPOLLIN);
    return { fd, port: peerOf(this.addressBuffer).port };
  }

  closeListener(fd: number): void {
    if (this.listeners.delete(fd)) this.libc.close(fd);
  }

  private acceptFrom(listening: Listening): void {
    const libc = this.libc;
    for (let i = 0; i < ACCEPTS_PER_ROUND; i++) {
      this.lengthBuffer.writeUInt32LE(this.addressBuffer.length, 0);
      const fd = libc.accept4(listening.fd, this.addressBuffer, this.lengthBuffer, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        const errno = libc.errno();
        if (errno === EMFILE || errno === ENFILE) {
          // Level-triggered: the listener stays readable; rest it rather than spin.
          this.ctl(EPOLL_CTL_DEL, listening.fd, 0);
          this.acceptPausedUntil = Date.now() + ACCEPT_PAUSE_MS;
        }
        return;
      }
      if (fd >= this.tableSize) {
        libc.close(fd);
        continue;
      }
      const peer = peerOf(this.addressBuffer);
      const side = new FfiSide(this, fd, peer.address, peer.port);
      this.sides[fd] = side;
      listening.accept(side);
    }
  }

  private sockaddrFor(target: ConnectTarget): Buffer {
    const key = target.unixPath ?? `${target.host}|${target.port}`;
    let address = this.addresses.get(key);
    if (!address) {
      // Bounded: a config that keeps changing addresses does not grow this without end.
      if (this.addresses.size >= 1024) this.addresses.clear();
      address = sockaddr(target.host, target.port, target.unixPath);
      this.addresses.set(key, address);
    }
    return address;
  }

  /** Connects to a backend; `done` gets the side, or null on refusal, error or timeout, always later. */
  connect(target: ConnectTarget, done: (side: Side | null) => void): void {
    if (!target.unixPath && !net.isIP(target.host)) {
      // A name set at run time (`server N address NAME`): resolved, then connected.
      dns.lookup(target.host, (err, host) => (err ? done(null) : this.connect({ ...target, host }, done)));
      return;
    }
    const fail = (): void => void setImmediate(done, null);
    let address: Buffer;
    try {
      address = this.sockaddrFor(target);
    } catch {
      fail();
      return;
    }
    const libc = this.libc;
    const fd = libc.socket(address.readUInt16LE(0), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail();
    if (fd >= this.tableSize) {
      libc.close(fd);
      return fail();
    }
    if (target.source && !target.unixPath) {
      const source = sockaddr(target.source, 0);
      if (libc.bind(fd, source, source.length) < 0) {
        this.forget(fd);
        return fail();
      }
    }
    if (libc.connect(fd, address, address.length) < 0 && libc.errno() !== EINPROGRESS) {
      this.forget(fd);
      return fail();
    }
    // Connected at once or in progress: writability says which, as it does for pen.
    const c = { fd, deadline: Date.now() + target.timeoutMs, done };
    this.connecting[fd] = c;
    this.pendingConnects.add(c);
    this.ctl(EPOLL_CTL_ADD, fd, EPOLLOUT);
    this.interest[fd] = EPOLLOUT;
  }

  private connected(c: Connecting, ok: boolean): void {
    const fd = c.fd;
    this.connecting[fd] = null;
    this.pendingConnects.delete(c);
    if (!ok) {
      this.forget(fd);
      c.done(null);
      return;
    }
    // Still registered for output: the pair's first startReading changes that with one epoll_ctl.
    const side = new FfiSide(this, fd);
    this.sides[fd] = side;
    c.done(side);
  }

  private connectFinished(c: Connecting): void {
    this.lengthBuffer.writeUInt32LE(4, 0);
    const ok = this.libc.getsockopt(c.fd, SOL_SOCKET, SO_ERROR, this.optionBuffer, this.lengthBuffer) === 0 && this.optionBuffer.readInt32LE(0) === 0;
    this.connected(c, ok);
  }

  private expireConnects(now: number): void {
    if (now < this.nextDeadlineScan) return;
    this.nextDeadlineScan = now + 50;
    for (const c of this.pendingConnects) if (c.deadline <= now) this.connected(c, false);
  }

  /** One epoll_wait and what it reported. */
  private round(timeoutMs: number): void {
    const libc = this.libc;
    const events = this.events;
    const n = libc.epoll_wait(this.epfd, events, MAX_EVENTS, timeoutMs);
    for (let i = 0; i < n; i++) {
      const at = i * EPOLL_EVENT_SIZE;
      const ev = events.readUInt32LE(at);
      const fd = events.readUInt32LE(at + EPOLL_DATA_OFFSET);
      if (events.readUInt32LE(at + EPOLL_DATA_OFFSET + 4) !== this.generation[fd]) continue;
      if (fd === this.wakeFd) {
        libc.read(fd, this.wakeBuffer, 8);
        this.onWake();
        continue;
      }
      const side = this.sides[fd];
      if (side) {
        if (side.reading && ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) side.readable();
        if (side.closed) continue;
        if (side.pending && ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) side.writable();
        else if (ev & EPOLLOUT && !side.pending) this.update(side);
        continue;
      }
      const c = this.connecting[fd];
      if (c) {
        this.connectFinished(c);
        continue;
      }
      const listening = this.listeners.get(fd);
      if (listening) this.acceptFrom(listening);
    }
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
      if (this.pendingConnects.size > 0) this.expireConnects(now);
    } while (now < until && !this.stopped);
    if (!this.stopped) setImmediate(() => this.run());
  }

  /** Ends the loop: listeners, epoll and wake descriptors closed (open sides are closed by their owners). */
  stop(): void {
    this.stopped = true;
    for (const fd of [...this.listeners.keys()]) this.closeListener(fd);
    this.libc.close(this.wakeFd);
    this.libc.close(this.epfd);
  }
}
