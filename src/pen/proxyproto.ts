import net from 'node:net';
import type { Side } from './transport';

/*
 * The PROXY protocol (versions 1 and 2, as haproxy defines it): a header a balancer writes at the
 * start of a TCP connection naming the client it relays, so the next hop sees the real client
 * address. pen writes it to backends configured with `server N proxy v1|v2`, and reads it from
 * upstream balancers an `accept_proxy` ACL permits.
 */

/** An address and port of one end of a relayed connection. */
export interface Endpoint4or6 {
  address: string;
  port: number;
}

export type ProxyVersion = 1 | 2;

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** The longest version 1 header (the protocol's own bound, CRLF included). */
export const V1_MAX = 107;
/** The longest version 2 header read, its TLVs included: beyond it, the header is refused. */
export const V2_MAX = 16 + 1024;

/** `::ffff:a.b.c.d` as `a.b.c.d`: an IPv4 client of a dual-stack listener is an IPv4 client. */
function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}

function ipv6Bytes(address: string): Buffer {
  const out = Buffer.alloc(16);
  if (net.isIPv4(address)) {
    out[10] = out[11] = 0xff;
    address.split('.').forEach((b, i) => (out[12 + i] = Number(b)));
    return out;
  }
  // An embedded IPv4 tail becomes its two groups.
  const text = address.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a, b, c, d) => `${((+a << 8) | +b).toString(16)}:${((+c << 8) | +d).toString(16)}`);
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const [head = '', tail = ''] = text.split('::');
  const h = groups(head);
  const t = text.includes('::') ? groups(tail) : [];
  [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t].forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

function ipv6Text(bytes: Buffer): string {
  // An IPv4-mapped address is its IPv4 address, as the balancer and the ACLs know it.
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return [...bytes.subarray(12)].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // The compressed form, as logs and ACLs show addresses: URL compresses it.
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/**
 * The header announcing a connection from `source` to `destination`; UNKNOWN (v1) or an
 * unspecified family (v2) when either is not an IP endpoint (a UNIX-socket client).
 */
export function proxyHeader(version: ProxyVersion, source: Endpoint4or6 | null, destination: Endpoint4or6 | null): Buffer {
  const src = source && net.isIP(plainAddress(source.address)) ? { ...source, address: plainAddress(source.address) } : null;
  const dst = destination && net.isIP(plainAddress(destination.address)) ? { ...destination, address: plainAddress(destination.address) } : null;
  const both = src && dst ? { src, dst } : null;
  const v4 = both !== null && net.isIPv4(both.src.address) && net.isIPv4(both.dst.address);
  if (version === 1) {
    if (!both) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
    // Mixed families travel as IPv6, the IPv4 side mapped.
    const show = (a: string) => (v4 || net.isIPv6(a) ? a : `::ffff:${a}`);
    return Buffer.from(`PROXY ${v4 ? 'TCP4' : 'TCP6'} ${show(both.src.address)} ${show(both.dst.address)} ${both.src.port} ${both.dst.port}\r\n`, 'latin1');
  }
  const head = Buffer.alloc(16);
  V2_SIGNATURE.copy(head);
  head[12] = 0x21; // version 2, PROXY
  if (!both) {
    head[13] = 0x00;
    head.writeUInt16BE(0, 14);
    return head;
  }
  let body: Buffer;
  if (v4) {
    head[13] = 0x11;
    body = Buffer.alloc(12);
    both.src.address.split('.').forEach((b, i) => (body[i] = Number(b)));
    both.dst.address.split('.').forEach((b, i) => (body[4 + i] = Number(b)));
    body.writeUInt16BE(both.src.port, 8);
    body.writeUInt16BE(both.dst.port, 10);
  } else {
    head[13] = 0x21;
    body = Buffer.alloc(36);
    ipv6Bytes(both.src.address).copy(body, 0);
    ipv6Bytes(both.dst.address).copy(body, 16);
    body.writeUInt16BE(both.src.port, 32);
    body.writeUInt16BE(both.dst.port, 34);
  }
  head.writeUInt16BE(body.length, 14);
  return Buffer.concat([head, body]);
}

/** What a parse of the bytes read so far gives. */
export type ParsedHeader =
  | { kind: 'incomplete' }
  | { kind: 'invalid'; reason: string }
  /** `source`/`destination` null: a LOCAL or UNKNOWN header (the connection's own addresses stand). */
  | { kind: 'header'; length: number; source: Endpoint4or6 | null; destination: Endpoint4or6 | null };

/** Whether `chunk` starts (or, being short, could start) with a PROXY header of either version. */
export function startsLikeProxyHeader(chunk: Buffer): boolean {
  const n = Math.min(chunk.length, 12);
  // Five bytes tell either signature from a protocol that merely starts with a CR or a P.
  if (n < 5) return false;
  return chunk.subarray(0, Math.min(n, 6)).equals(V1_PREFIX.subarray(0, Math.min(n, 6))) || chunk.subarray(0, n).equals(V2_SIGNATURE.subarray(0, n));
}

const PORT = /^(0|[1-9]\d{0,4})$/;

function parseV1(buf: Buffer): ParsedHeader {
  const end = buf.indexOf('\r\n', 0, 'latin1');
  if (end < 0) return buf.length >= V1_MAX ? { kind: 'invalid', reason: `a version 1 header longer than ${V1_MAX} bytes` } : { kind: 'incomplete' };
  if (end + 2 > V1_MAX) return { kind: 'invalid', reason: `a version 1 header longer than ${V1_MAX} bytes` };
  const words = buf.subarray(0, end).toString('latin1').split(' ');
  const length = end + 2;
  if (words[1] === 'UNKNOWN') return { kind: 'header', length, source: null, destination: null };
  if (words.length !== 6 || (words[1] !== 'TCP4' && words[1] !== 'TCP6')) return { kind: 'invalid', reason: 'a version 1 header that is neither TCP4, TCP6 nor UNKNOWN with two addresses and two ports' };
  const [, family, src, dst, sport, dport] = words as [string, string, string, string, string, string];
  const ok = family === 'TCP4' ? net.isIPv4 : net.isIPv6;
  if (!ok(src) || !ok(dst)) return { kind: 'invalid', reason: `a version 1 header whose addresses are not ${family === 'TCP4' ? 'IPv4' : 'IPv6'}` };
  if (!PORT.test(sport) || !PORT.test(dport) || Number(sport) > 65535 || Number(dport) > 65535) return { kind: 'invalid', reason: 'a version 1 header with a port out of 0..65535' };
  return { kind: 'header', length, source: { address: src, port: Number(sport) }, destination: { address: dst, port: Number(dport) } };
}

function parseV2(buf: Buffer): ParsedHeader {
  if (buf.length < 16) return { kind: 'incomplete' };
  const versionCommand = buf[12]!;
  if (versionCommand >> 4 !== 2) return { kind: 'invalid', reason: `a version 2 signature with version ${versionCommand >> 4}` };
  const command = versionCommand & 0x0f;
  if (command > 1) return { kind: 'invalid', reason: `a version 2 header with command ${command}` };
  const length = 16 + buf.readUInt16BE(14);
  if (length > V2_MAX) return { kind: 'invalid', reason: `a version 2 header of ${length} bytes, more than ${V2_MAX}` };
  if (buf.length < length) return { kind: 'incomplete' };
  const family = buf[13]!;
  // LOCAL (a health check of the balancer itself), or a family other than TCP over IP: the connection's own addresses.
  if (command === 0 || (family !== 0x11 && family !== 0x21)) return { kind: 'header', length, source: null, destination: null };
  const body = buf.subarray(16, length);
  if (family === 0x11) {
    if (body.length < 12) return { kind: 'invalid', reason: 'a version 2 TCP4 header shorter than its addresses' };
    const ip = (at: number) => [...body.subarray(at, at + 4)].join('.');
    return { kind: 'header', length, source: { address: ip(0), port: body.readUInt16BE(8) }, destination: { address: ip(4), port: body.readUInt16BE(10) } };
  }
  if (body.length < 36) return { kind: 'invalid', reason: 'a version 2 TCP6 header shorter than its addresses' };
  return { kind: 'header', length, source: { address: ipv6Text(body.subarray(0, 16)), port: body.readUInt16BE(32) }, destination: { address: ipv6Text(body.subarray(16, 32)), port: body.readUInt16BE(34) } };
}

/** Parses a PROXY header of either version at the start of `buf`. */
export function parseProxyHeader(buf: Buffer): ParsedHeader {
  const n = Math.min(buf.length, 12);
  if (buf.subarray(0, n).equals(V2_SIGNATURE.subarray(0, n))) return n < 12 ? { kind: 'incomplete' } : parseV2(buf);
  const m = Math.min(buf.length, 6);
  if (buf.subarray(0, m).equals(V1_PREFIX.subarray(0, m))) return m < 6 ? { kind: 'incomplete' } : parseV1(buf);
  return { kind: 'invalid', reason: 'no PROXY header (the connection does not start with one)' };
}

/** What a client's PROXY header told: who it is and what it connected to, and the bytes after. */
export interface Origin {
  source: Endpoint4or6 | null;
  destination: Endpoint4or6 | null;
  /** Bytes that followed the header in the same reads: the client's first data. */
  early: Buffer | null;
}

/**
 * Reads a PROXY header from `client` before anything else happens to it: `done` gets the origin
 * it names, or a problem (no header, a malformed or oversized one, none within `timeoutMs`, the
 * client gone), in which case the client is closed. Bounded in bytes and in time.
 */
export function readProxyHeader(client: Side, timeoutMs: number, done: (origin: Origin | null, problem: string | null) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  let finished = false;
  const finish = (origin: Origin | null, problem: string | null) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    client.stopReading();
    client.owner = null;
    if (!origin) client.close();
    done(origin, problem);
  };
  const timer = setTimeout(() => finish(null, `no complete PROXY header within ${timeoutMs / 1000} s`), timeoutMs);
  const gone = () => finish(null, 'the client left before its PROXY header was complete');
  client.owner = {
    data: (_, chunk) => {
      buf = Buffer.concat([buf, chunk]);
      const parsed = parseProxyHeader(buf);
      if (parsed.kind === 'incomplete') return;
      if (parsed.kind === 'invalid') finish(null, parsed.reason);
      else finish({ source: parsed.source, destination: parsed.destination, early: buf.length > parsed.length ? buf.subarray(parsed.length) : null }, null);
    },
    end: gone,
    failed: gone,
    drained: () => undefined,
    shutdownDone: () => undefined,
  };
  client.startReading();
}

/** What the accept gate reads: the ACLs and the `accept_proxy` setting. */
interface GateState {
  acls: { permits(acl: number, address: string): boolean };
  extensions: { acceptProxyAcl: number };
  proxy: { timeout: number; connMax: number };
}

/** The proxy's accept, which takes what a PROXY header told. */
interface Accepting {
  accept(client: Side, origin: { source: Endpoint4or6 | null; destination: Endpoint4or6 | null; early: Buffer | null; screen: boolean } | null): void;
}

/**
 * The listener's accept with `accept_proxy`: a peer the ACL permits must start with a PROXY header
 * (read within pen's connect `timeout`, at most connMax at once), which names the client; any
 * other peer is balanced as it is, and refused if its first bytes are a PROXY header. Without
 * accept_proxy, clients go straight to the proxy, as in pen 0.34.
 */
export function acceptingProxyHeaders(state: GateState, proxy: Accepting, warn: (message: string) => void): (client: Side) => void {
  let reading = 0;
  const screened = { source: null, destination: null, early: null, screen: true };
  return (client) => {
    const acl = state.extensions.acceptProxyAcl;
    if (acl < 0) {
      proxy.accept(client, null);
      return;
    }
    const peer = client.remoteAddress;
    if (peer === null || !state.acls.permits(acl, peer)) {
      proxy.accept(client, screened);
      return;
    }
    if (reading >= state.proxy.connMax) {
      warn(`refused ${peer}: ${reading} PROXY headers are being read already`);
      client.close();
      return;
    }
    reading++;
    readProxyHeader(client, state.proxy.timeout * 1000, (origin, problem) => {
      reading--;
      if (origin) proxy.accept(client, { ...origin, screen: false });
      else warn(`refused ${peer}: ${problem}`);
    });
  };
}
