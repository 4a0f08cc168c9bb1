import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { writeFileAtomic } from '../runtime';
import { AclError } from './acl';
import { newServer } from './balancer';
import { extensionCommand, extensionConfigLines, serverWithExtensions } from './extensions';
import { CheckError, describeCheck, parseCheck, type HealthCheck } from './health-check';
import type { Proxy } from './proxy';
import { parseMetricsListen } from './metrics';
import { sslCommand } from './sslcommands';
import { DEFAULT_RENEGOTIATION_SECONDS, type PenState } from './state';
import { healthReport, statusSnapshot } from './status';
import type { LiveTls } from './tls';
import { fdOf, statusPage } from './webstats';

export interface CommandHost {
  state: PenState;
  proxy: () => Proxy | null;
  /** The open TLS listener; null before the start and without -E. */
  liveTls: () => LiveTls | null;
  /** `exit` (with -X). */
  exit: () => void;
  /** Where `status` writes the HTML page. */
  writeWebStats: () => boolean;
  /** `log FILE` / `no log`. */
  setLog: (target: string | null) => void;
  /** Why this pen cannot take a command (its words), which then changes nothing; null or absent: it can. */
  refusal?: (words: string[]) => string | null;
}

const int = (text: string | undefined): number | null => (text !== undefined && /^-?\d+$/.test(text) ? Number(text) : null);

/**
 * The most a running pen grows its connection table to (`conn_max`): growing blocks the only
 * thread, so a command may not make it arbitrarily large; -x sets any size at start.
 */
export const CONN_MAX_RUNNING = 65536;

/** The most `include` reads: a config file, never a device or a log. */
export const INCLUDE_MAX_BYTES = 1024 * 1024;

/**
 * An included file's text: only a regular file of at most INCLUDE_MAX_BYTES, opened without
 * blocking, so that a FIFO or a device cannot stop pen's only thread.
 */
function readIncluded(file: string): string {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new CommandError('it is not a regular file; include reads config files only');
    if (stat.size > INCLUDE_MAX_BYTES) throw new CommandError(`it is larger than ${INCLUDE_MAX_BYTES} bytes; include reads config files only`);
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/** A mistake in a command, answered as `do_cmd: MESSAGE`. */
class CommandError extends Error {}

/** A command's optional whole-number argument: null when absent, an error when not a number. */
function optionalInt(cmd: string, arg: string | undefined): number | null {
  if (arg === undefined) return null;
  const n = int(arg);
  if (n === null) throw new CommandError(`${cmd} takes a whole number, not '${arg}'`);
  return n;
}

/** A getter/setter of an integer setting: replies with the (new) value, as pen does. */
function intSetting(cmd: string, arg: string | undefined, get: () => number, set: (n: number) => void): string {
  const n = optionalInt(cmd, arg);
  if (n !== null) set(n);
  return `${get()}\n`;
}

/** Whether `address` is an IP address this host can bind (the wildcard addresses too). */
function isLocalAddress(address: string): boolean {
  if (address === '0.0.0.0' || address === '::') return true;
  return net.isIP(address) !== 0 && Object.values(os.networkInterfaces()).some((list) => list?.some((i) => i.address === address));
}

/** pen has ACLs 0 to 9; a number out of range selects 0, as pen does. */
function aclNumber(n: number): number {
  return n >= 0 && n < 10 ? n : 0;
}

const FLAGS = ['ascii', 'hash', 'http', 'roundrobin', 'stubborn', 'weight', 'prio', 'tcp_nodelay', 'keepalive', 'transparent', 'dummy', 'abort_on_error'] as const;
type Flag = (typeof FLAGS)[number];

function setFlag(state: PenState, flag: Flag, on: boolean): void {
  switch (flag) {
    case 'ascii': state.ascii = on; break;
    case 'hash': state.settings.hash = on; break;
    case 'http': state.proxy.http = on; break;
    case 'roundrobin': state.settings.roundrobin = on; break;
    case 'stubborn': state.settings.stubborn = on; break;
    case 'weight': state.settings.weight = on; break;
    case 'prio': state.settings.prio = on; break;
    case 'tcp_nodelay': state.proxy.tcpNodelay = on; break;
    case 'keepalive': state.proxy.keepalive = on; break;
    case 'transparent': state.transparent = on; break;
    case 'dummy': state.dummy = on; break;
    case 'abort_on_error': state.abortOnError = on; break;
  }
}

const SERVER_KEYWORDS = ['acl', 'address', 'port', 'max', 'hard', 'blacklist', 'weight', 'prio'];

/**
 * `server N [acl A] [address A] [port P] [max M] [hard H] [blacklist T] [weight W] [prio P]
 * [check tcp|http ...|off]`; `check` takes the rest of the line (docs/pen-extensions.md).
 * Everything is checked before anything is applied, so a mistake changes nothing.
 */
function serverCommand(state: PenState, words: string[]): string {
  const index = int(words[1]);
  if (index === null || index < 0 || index > 100000) return `do_cmd: bad server number '${words[1] ?? ''}'\n`;
  const pairs: Array<[string, string, number]> = [];
  let check: HealthCheck | null | undefined;
  for (let i = 2; i < words.length; i += 2) {
    const [key, value] = [words[i]!, words[i + 1]];
    if (key === 'check') {
      try {
        check = parseCheck(words.slice(i + 1));
      } catch (err) {
        if (err instanceof CheckError) return `do_cmd: server ${index} ${err.message}\n`;
        throw err;
      }
      break;
    }
    const n = int(value);
    if (!SERVER_KEYWORDS.includes(key)) return `do_cmd: unknown server keyword '${key}'; use ${SERVER_KEYWORDS.join(', ')}, check\n`;
    if (value === undefined) return `do_cmd: server ${index} ${key} needs a value\n`;
    if (key !== 'address' && n === null) return `do_cmd: server ${index} ${key} takes a whole number, not '${value}'\n`;
    if (key === 'port' && (n! < 0 || n! > 65535)) return `do_cmd: server ${index} port ${value} is out of range 0..65535\n`;
    pairs.push([key, value, n ?? 0]);
  }
  const { balancer } = state;
  while (balancer.servers.length <= index) balancer.servers.push(newServer(balancer.servers.length, { host: '0.0.0.0', port: 0 }));
  const s = balancer.servers[index]!;
  for (const [key, value, n] of pairs) {
    switch (key) {
      case 'address': s.host = value; s.unixPath = value.includes('/') ? value : null; break;
      case 'port': s.port = n; break;
      case 'max': s.maxc = n; break;
      case 'hard': s.hard = n; break;
      case 'weight': s.weight = n; break;
      case 'prio': s.prio = n; break;
      case 'acl': s.acl = n; break;
      case 'blacklist': balancer.blacklist(s, n); break;
    }
  }
  // The same check again (a config file re-read on SIGHUP) keeps its record and the server's state.
  if (check !== undefined && describeCheck(check) !== describeCheck(s.check)) {
    s.check = check;
    state.health.sync();
  }
  return '';
}

/** The `ssl_*` settings that differ from the defaults, so that `write` keeps them. */
function tlsLines(tls: PenState['tls']): string[] {
  return [
    ...(tls.ciphers !== null ? [`ssl_ciphers ${tls.ciphers}`] : []),
    ...[...tls.options].map((o) => `ssl_option ${o}`),
    ...(tls.sniPath !== null ? [`ssl_sni_path ${tls.sniPath}`] : []),
    ...(tls.ocspResponse !== null ? [`ssl_ocsp_response ${tls.ocspResponse}`] : []),
    ...(tls.renegotiationInterval !== DEFAULT_RENEGOTIATION_SECONDS ? [`ssl_client_renegotiation_interval ${tls.renegotiationInterval}`] : []),
  ];
}

/** The configuration as penctl commands, the form `write` saves and `-F` reads. */
export function describeConfig(state: PenState): string {
  const s = state.settings;
  const yes = (on: boolean, word: string) => (on ? word : `no ${word}`);
  const lines = [
    `# Generated by pen ${new Date().toISOString().replace('T', ' ').slice(0, 19)}`,
    `# pen ${state.commandLine}`,
    ...state.acls.describe(),
    yes(state.ascii, 'ascii'),
    `blacklist ${s.blacklistSeconds}`,
    `client_acl ${s.clientAcl}`,
    `control_acl ${state.controlAcl}`,
    `debug ${state.debug}`,
    yes(s.hash, 'hash'),
    yes(state.proxy.http, 'http'),
    state.log ? `log ${state.log}` : 'no log',
    ...(state.metricsListen ? [`metrics_port ${state.metricsListen}`] : []),
    yes(s.roundrobin, 'roundrobin'),
    ...state.balancer.servers.map(
      (sv) =>
        `server ${sv.index} acl ${Math.max(sv.acl, 0)} address ${sv.unixPath ?? sv.host} port ${sv.port} max ${sv.maxc} hard ${sv.hard}` +
        (s.weight ? ` weight ${sv.weight}` : '') +
        (s.prio ? ` prio ${sv.prio}` : '') +
        (sv.check ? ` check ${describeCheck(sv.check)}` : ''),
    ),
    ...tlsLines(state.tls),
    yes(s.stubborn, 'stubborn'),
    ...(state.tarpitAcl >= 0 ? [`tarpit_acl ${state.tarpitAcl}`] : []),
    `tcp_fastclose ${state.proxy.fastClose}`,
    yes(state.proxy.tcpNodelay, 'tcp_nodelay'),
    `timeout ${state.proxy.timeout}`,
    `tracking ${s.trackingSeconds}`,
    state.webStats ? `web_stats ${state.webStats}` : 'no web_stats',
    yes(s.weight, 'weight'),
    yes(s.prio, 'prio'),
    ...extensionConfigLines(state),
  ];
  return `${lines.join('\n')}\n`;
}

/** What a command handler gets: the command's words and where it came from. */
export interface CommandCall {
  host: CommandHost;
  state: PenState;
  proxy: Proxy | null;
  words: string[];
  cmd: string;
  arg: string | undefined;
  /** How deep in `include` files this line is. */
  depth: number;
  /** From a control connection: an included file's lines that are no pen command stay unshown. */
  fromControl: boolean;
}

/** One command's handler: pen's reply (empty for none); a CommandError becomes `do_cmd: ...`. */
export type CommandHandler = (call: CommandCall) => string;

const intCommand = (get: (c: CommandCall) => number, set: (c: CommandCall, n: number) => void): CommandHandler => (c) =>
  intSetting(c.cmd, c.arg, () => get(c), (n) => set(c, n));
const silent: CommandHandler = () => '';

function noCommand(call: CommandCall): string {
  const { host, state, words } = call;
  const what = words[1];
  if (what === undefined) return '';
  if ((FLAGS as readonly string[]).includes(what)) setFlag(state, what as Flag, false);
  else if (what === 'acl') state.acls.clear(words[2] ?? '');
  else if (what === 'log') host.setLog(null);
  else if (what === 'web_stats') state.webStats = null;
  else if (what === 'metrics_port') setMetricsListen(call, null);
  else if (what === 'peek') return '';
  else return `do_cmd: ignoring command starting with 'no ${what}'\n`;
  return '';
}

function includeCommand({ host, arg, depth, fromControl }: CommandCall): string {
  if (arg === undefined) return 'do_cmd: include needs a file name\n';
  if (depth > 8) return `do_cmd: include ${arg}: nested more than 8 deep; look for a file that includes itself\n`;
  let text: string;
  try {
    text = readIncluded(arg);
  } catch (err) {
    // pen's own words when the file cannot be opened; the reason when it is refused.
    return err instanceof CommandError ? `do_cmd: can't read config file '${arg}': ${err.message}\n` : `do_cmd: can't read config file '${arg}'\n`;
  }
  // Problems inside the included file name it and the line.
  const hide = (reply: string) => (fromControl ? reply.replace(/^do_cmd: ignoring command starting with .*$/gm, 'do_cmd: not a pen command (the line is not shown)') : reply);
  return text
    .split('\n')
    .map((l, i) => hide(runCommand(host, l, depth + 1, fromControl)).replace(/^do_cmd: /gm, `do_cmd: ${arg} line ${i + 1}: `))
    .join('');
}

/**
 * `metrics_port [ADDRESS:]PORT|on`: set before the start (-o, the config file); `on` is the
 * flavor's metrics port on loopback. A running pen keeps its endpoint, as it keeps its listener.
 */
function setMetricsListen({ state, proxy }: CommandCall, value: string | null): void {
  if (value !== null && value !== 'on') {
    try {
      parseMetricsListen(value);
    } catch (err) {
      throw new CommandError((err as Error).message);
    }
  }
  if (value === state.metricsListen) return;
  if (proxy) throw new CommandError(`metrics_port: a running pen keeps its metrics endpoint (${state.metricsListen ?? 'off'}); put the change in the config file and restart pen`);
  state.metricsListen = value;
}

/** pen's commands by name; the on/off flags (`hash`, `no hash`, ...) are handled before these. */
const COMMANDS = new Map<string, CommandHandler>([
  ['no', noCommand],
  ['acl', ({ state, words }) => {
    if (words.length < 4) return `do_cmd: acl needs a number, permit or deny, and an address\n`;
    state.acls.add(words[1]!, words[2]!, words[3]!, words[4]);
    return '';
  }],
  ['blacklist', intCommand(({ state }) => state.settings.blacklistSeconds, ({ state }, n) => (state.settings.blacklistSeconds = Math.max(0, n)))],
  ['client_acl', intCommand(({ state }) => state.settings.clientAcl, ({ state }, n) => (state.settings.clientAcl = aclNumber(n)))],
  ['control_acl', intCommand(({ state }) => state.controlAcl, ({ state }, n) => (state.controlAcl = aclNumber(n)))],
  ['clients_max', intCommand(({ state }) => state.settings.clientsMax, ({ state }, n) => (state.settings.clientsMax = Math.max(state.settings.clientsMax, n)))],
  ['conn_max', intCommand(({ state }) => state.proxy.connMax, ({ state, proxy }, n) => {
    if (!proxy) state.proxy.connMax = Math.max(state.proxy.connMax, n);
    else if (n > CONN_MAX_RUNNING) throw new CommandError(`conn_max ${n}: a running pen grows its connection table to at most ${CONN_MAX_RUNNING}; start pen with -x ${n} for a larger one`);
    else proxy.grow(n);
  })],
  ['timeout', intCommand(({ state }) => state.proxy.timeout, ({ state }, n) => (state.proxy.timeout = Math.max(1, n)))],
  ['tracking', intCommand(({ state }) => state.settings.trackingSeconds, ({ state }, n) => (state.settings.trackingSeconds = Math.max(0, n)))],
  ['debug', intCommand(({ state }) => state.debug, ({ state }, n) => (state.debug = Math.max(0, n)))],
  ['idle_timeout', ({ state, cmd, arg }) => {
    const n = optionalInt(cmd, arg);
    if (n !== null) state.proxy.idleTimeout = Math.max(0, n);
    return `Idle timeout: ${state.proxy.idleTimeout} seconds\n`;
  }],
  ['pending_max', ({ state, cmd, arg }) => {
    const n = optionalInt(cmd, arg);
    if (n !== null) state.pendingMax = Math.max(1, n);
    return '';
  }],
  ['mode', ({ state: { settings: s } }) => {
    const y = (on: boolean) => (on ? '' : 'no ');
    return `${y(s.hash)}hash ${y(s.roundrobin)}roundrobin ${y(s.stubborn)}stubborn ${y(s.weight)}weight ${y(s.prio)}prio\n`;
  }],
  ['servers', ({ state }) =>
    state.balancer.servers
      .map((sv) => `${sv.index} addr ${sv.unixPath ?? sv.host} port ${sv.port} conn ${sv.conns} max ${sv.maxc} hard ${sv.hard} weight ${sv.weight} prio ${sv.prio} sx ${sv.sx} rx ${sv.rx}\n`)
      .join('')],
  ['server', ({ state, words }) => serverWithExtensions(state, words, (w) => serverCommand(state, w))],
  ['health', ({ state }) => healthReport(state)],
  ['status_json', ({ state, proxy }) => `${JSON.stringify(statusSnapshot(state, proxy))}\n`],
  ['metrics_port', (call) => {
    if (call.arg !== undefined) setMetricsListen(call, call.arg);
    return call.state.metricsListen ? `${call.state.metricsListen}\n` : '';
  }],
  ['pid', () => `${process.pid}\n`],
  ['control', ({ state }) => `${state.control ?? ''}\n`],
  ['listen', ({ state, proxy, arg }) => {
    // Before the start (-o, the config file) it names the address to listen on, as in pen's
    // "pen -F file"; a running pen does not move its listener.
    if (arg !== undefined && arg !== state.listen && proxy) return `do_cmd: listen ${arg}: a running pen keeps its address; restart it to listen elsewhere\n`;
    if (arg !== undefined) state.listen = arg;
    return `${state.listen}\n`;
  }],
  ['log', ({ host, state, arg }) => {
    if (arg !== undefined) host.setLog(arg);
    return state.log ? `${state.log}\n` : '';
  }],
  ['web_stats', ({ state, arg }) => {
    if (arg !== undefined) state.webStats = arg;
    return state.webStats ? `${state.webStats}\n` : '';
  }],
  ['status', ({ host, state, proxy }) => {
    if (!proxy || !host.writeWebStats()) return 'Unable to create webstats\n';
    return statusPage(state, proxy);
  }],
  ['recent', ({ state, cmd, arg }) => {
    const window = optionalInt(cmd, arg) ?? 300;
    const since = Math.floor(Date.now() / 1000) - window;
    return [...state.balancer.clients.values()]
      .filter((c) => c.last >= since)
      .map((c) => `${c.address} connects ${c.connects} sx ${c.sx} rx ${c.rx}\n`)
      .join('');
  }],
  ['connection', ({ proxy, arg }) => {
    const n = int(arg);
    if (n === null || !proxy || n < 0 || n >= proxy.conns.length) return `Connection ${arg ?? ''} out of range\n`;
    const c = proxy.conns[n];
    return `Connection ${n}:\nstate = ${c?.state ?? 0}\ndownfd = ${c ? fdOf(c.client) : -1}, upfd = ${c?.upstream ? fdOf(c.upstream) : -1}\nclient = 0, server = ${c?.server?.index ?? 0}\npend = 0\n`;
  }],
  ['close', ({ proxy, arg }) => {
    const n = int(arg);
    if (n === null || !proxy || !proxy.close(n)) return `Connection ${arg ?? ''} out of range\n`;
    return `Forcibly closing connection ${n}\n`;
  }],
  ['socket', ({ proxy, arg }) => {
    const fd = int(arg);
    const owner = proxy?.conns.find((c) => c && (fdOf(c.client) === fd || (c.upstream && fdOf(c.upstream) === fd)));
    return `Socket ${arg ?? ''} belongs to connection ${owner?.slot ?? -1}\n`;
  }],
  ['tarpit_acl', ({ state, cmd, arg }) => {
    const n = optionalInt(cmd, arg);
    // -1 turns the tarpit off, as in pen.
    if (n !== null) state.tarpitAcl = n === -1 ? -1 : aclNumber(n);
    return `tarpit_acl = ${state.tarpitAcl}`;
  }],
  ['idlers', ({ cmd, arg }) => `Idlers: 0/${optionalInt(cmd, arg) ?? 0}\n`],
  ['source', ({ state, arg }) => {
    if (arg === undefined) return '';
    // pen's refusal, with the reason: a source this host cannot bind would fail every backend connect.
    if (!isLocalAddress(arg)) return `do_cmd: unable to set source address to '${arg}': it is not an IP address of this host; give one of its addresses\n`;
    state.proxy.source = arg;
    return '';
  }],
  ['tcp_fastclose', ({ state, arg }) => {
    if (arg === undefined) return 'do_cmd: ignoring tcp_fastclose without argument\n';
    if (arg !== 'up' && arg !== 'down' && arg !== 'both' && arg !== 'off') return `do_cmd: tcp_fastclose takes up, down, both or off, not '${arg}'\n`;
    state.proxy.fastClose = arg;
    return '';
  }],
  ['include', includeCommand],
  ['write', ({ state, arg }) => {
    const file = arg ?? state.configFile;
    if (!file) return 'do_cmd: write needs a file name, as pen was started without -F; give one: write FILE\n';
    try {
      writeFileAtomic(file, describeConfig(state));
    } catch (err) {
      return `do_cmd: cannot write ${file}: ${(err as Error).message}\n`;
    }
    return '';
  }],
  ['exit', ({ host, state }) => {
    if (!state.exitEnabled) return 'Exit is not enabled; restart with -X flag\n';
    host.exit();
    return '';
  }],
  ...(['epoll', 'kqueue', 'poll', 'select', 'peek'] as const).map((name): [string, CommandHandler] => [name, silent]),
  ...(['dsr_if', 'dsr_ip'] as const).map((name): [string, CommandHandler] => [
    name,
    () => `do_cmd: ${name}: direct server return needs raw sockets and is not offered by this pen; balance in TCP mode instead\n`,
  ]),
  ...(['ssl_ciphers', 'ssl_client_renegotiation_interval', 'ssl_ocsp_response', 'ssl_option', 'ssl_sni_path'] as const).map((name): [string, CommandHandler] => [
    name,
    ({ host, state, arg }) => sslCommand(state, host.liveTls(), name, arg),
  ]),
]);

/**
 * Runs one pen command (a penctl request, a line of a -F file, a -o option) and gives pen's reply.
 * Unknown or malformed commands, and commands that fail, are answered, never fatal. From a control
 * connection (`fromControl`), a line of an included file that is no pen command is reported by
 * number only: include must not read files out to clients.
 */
export function runCommand(host: CommandHost, line: string, depth = 0, fromControl = false): string {
  const words = line.replace(/[\r\n].*$/s, '').split(' ').filter((w) => w !== '');
  const [cmd, arg] = words;
  if (!cmd || cmd.startsWith('#')) return '';
  const refused = host.refusal?.(words) ?? null;
  if (refused !== null) return refused;
  try {
    const extended = extensionCommand(host.state, words);
    if (extended !== null) return extended;
    if ((FLAGS as readonly string[]).includes(cmd)) {
      setFlag(host.state, cmd as Flag, true);
      return '';
    }
    const handler = COMMANDS.get(cmd);
    if (!handler) return `do_cmd: ignoring command starting with '${cmd}'\n`;
    return handler({ host, state: host.state, proxy: host.proxy(), words, cmd, arg, depth, fromControl });
  } catch (err) {
    // A command never stops pen: whatever went wrong is its reply.
    return err instanceof AclError || err instanceof CommandError ? `do_cmd: ${err.message}\n` : `do_cmd: ${cmd}: ${(err as Error).message}\n`;
  }
}
