import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { controlServer, currentLayout, FeatureMissingError, inheritedFds, lineRequests, listenControlSocket, lookupUser, runDaemon, UsageError, type DaemonContext } from '../runtime';
import type { Layout } from '../flavor';
import { AddressError, describeEndpoint, parseListen, parseServerSpec, resolveOnce, type Endpoint } from './address';
import { ABUSE, EMERGENCY, newServer, type Server } from './balancer';
import { runCommand, type CommandHost } from './commands';
import { drainOnStop, handOverOnSignal, type HandOverListener } from './drain';
import { errnoProblem } from './errno-messages';
import { metricsServer, parseMetricsListen } from './metrics';
import { startFfiPen, type FfiPen } from './ffi/bridge';
import { ffiUnservable } from './ffi/scope';
import { acceptingProxyHeaders } from './proxyproto';
import { Proxy } from './proxy';
import { chooseDataPath, listenHandles, netSide, wantedDataPath, type Listener } from './transport';
import { tsRoundsWanted } from './ffi/libc';
import { isLogFile, openRequestLog, type OpenLog } from './requestlog';
import { initialState, type PenState } from './state';
import { statusSnapshot } from './status';
import type { LiveTls } from './tls';
import { getopt } from './libc/getopt';
import { statusPage } from './webstats';

const OPTSTRING = 'B:C:F:O:S:T:b:c:e:i:j:l:m:o:p:q:t:u:w:x:DHNPQWXUadfhnrsE:K:G:A:ZRL:';

export const USAGE = `usage:
  pen [-C addr:port] [-X] [-b sec] [-S N] [-c N] [-e host[:port]] [-t sec] [-x N] [-w dir]
      [-HPWadfhrs] [-o command] [-E certfile] [-K keyfile] [-G cacertfile] [-A cacertdir]
      [-Z] [-R] [-L protocol] [-B host[:port]] [-F file] [-T sec] [-U] [-p pidfile] [-u user]
      [-l logfile] [-m N] [-q N] [host:]port|/path/to/socket h1[:p1[:maxc1[:hard1[:weight1[:prio1]]]]] [h2...]

  -B host:port  abuse server: clients a client_acl refuses go here
  -C port       control port ([addr:]port or /path/to/socket); the flavor's control socket is always open
  -F file       configuration file of pen commands (default: the flavor's pen.conf, when it exists)
  -H            add X-Forwarded-For and X-Forwarded-Proto to HTTP requests
  -O, -o cmd    run one pen command at start-up
  -P, -Q        event-loop choices, accepted for compatibility
  -T sec        client tracking time (0: never expire) [0]
  -U            UDP
  -W            weighted server selection
  -X            enable the exit command
  -a            debug dumps in ASCII
  -b sec        blacklist time [30]
  -c N          client table size [2048]
  -d            debugging on (repeat for more)
  -e host:port  emergency server, used when no other server can be reached
  -f            stay in the foreground
  -h            hash the client address for the first choice of server
  -l file       log file, or host:port of a penlogd
  -m N          connections accepted at once (accepted for compatibility) [100]
  -p file       PID file [the flavor's]
  -q N          listen queue [500]
  -r            round robin, without client tracking
  -s            stubborn: do not fail over to another server
  -t sec        backend connect timeout [3]
  -u user       run as this user after opening the sockets
  -w file       HTML status file, written on SIGUSR1 and by status
  -x N          maximum simultaneous connections [500]
  -E certfile   terminate TLS with this certificate (-K key, -G CA file, -A CA dir, -R require
                a client certificate, -Z compatibility, -L ssl23|tls1)`;

export class PenError extends Error {}

interface Parsed {
  state: PenState;
  foreground: boolean;
  pidFile: string | null | undefined;
  user: string | null | undefined;
  udp: boolean;
  backlog: number;
  startupCommands: string[];
  operands: string[];
  emergency: string | null;
  abuse: string | null;
  tls: { cert: string; key: string | null; caFile: string | null; caDir: string | null; requireClientCert: boolean; compat: boolean; protocol: string } | null;
  notices: string[];
}

function positive(text: string, opt: string, min = 0): number {
  if (!/^\d+$/.test(text) || Number(text) < min) throw new UsageError(`-${opt} takes a whole number${min ? ` of at least ${min}` : ''}, not "${text}"`);
  return Number(text);
}

export function parseCommandLine(argv: string[], defaultConfig: string | null): Parsed {
  const { options, operands } = getopt(argv, OPTSTRING);
  const state = initialState();
  const p: Parsed = { state, foreground: false, pidFile: undefined, user: undefined, udp: false, backlog: 500, startupCommands: [], operands, emergency: null, abuse: null, tls: null, notices: [] };
  let tlsCert: string | null = null;
  const tlsRest = { key: null as string | null, caFile: null as string | null, caDir: null as string | null, requireClientCert: false, compat: false, protocol: 'ssl23' };
  const tlsOnly = new Set<string>();
  let configFile: string | null = defaultConfig && fs.existsSync(defaultConfig) ? defaultConfig : null;
  for (const { opt, arg = '' } of options) {
    if ('KGAZRL'.includes(opt)) tlsOnly.add(`-${opt}`);
    switch (opt) {
      case 'B': p.abuse = arg; break;
      case 'C': parseListen(arg, `-C "${arg}"`); state.control = arg; break;
      case 'D': p.notices.push('-D is obsolete (delayed forward was removed); ignored'); break;
      case 'F': configFile = arg; break;
      case 'H': state.proxy.http = true; break;
      case 'N': throw new UsageError('-N does nothing in pen either; use -h -r to hash on address and port');
      case 'O': case 'o': p.startupCommands.push(arg); break;
      case 'P': case 'Q': break;
      case 'S': positive(arg, 'S'); p.notices.push('-S is obsolete (the server table grows as needed); ignored'); break;
      case 'T': state.settings.trackingSeconds = positive(arg, 'T'); break;
      case 'U': p.udp = true; break;
      case 'W': state.settings.weight = true; break;
      case 'X': state.exitEnabled = true; break;
      case 'a': state.ascii = true; break;
      case 'b': state.settings.blacklistSeconds = positive(arg, 'b'); break;
      case 'c': state.settings.clientsMax = positive(arg, 'c', 1); break;
      case 'd': state.debug++; break;
      case 'e': p.emergency = arg; break;
      case 'f': p.foreground = true; break;
      case 'h': state.settings.hash = true; break;
      case 'i': throw new UsageError('-i installs a Windows service; on this system use the init script');
      case 'j': throw new UsageError('-j (chroot) is not available in this pen; run it in a chroot or container set up by the init system');
      case 'l': state.log = arg; break;
      case 'm': positive(arg, 'm', 1); break;
      case 'n': p.notices.push('-n is obsolete (sockets are always non-blocking); ignored'); break;
      case 'p': p.pidFile = arg; break;
      case 'q': p.backlog = Math.max(50, positive(arg, 'q')); break;
      case 'r': state.settings.roundrobin = true; break;
      case 's': state.settings.stubborn = true; break;
      case 't': state.proxy.timeout = positive(arg, 't', 1); break;
      case 'u': p.user = arg; break;
      case 'w': state.webStats = arg; break;
      case 'x': state.proxy.connMax = positive(arg, 'x', 1); break;
      case 'E': tlsCert = arg; break;
      case 'K': tlsRest.key = arg; break;
      case 'G': tlsRest.caFile = arg; break;
      case 'A': tlsRest.caDir = arg; break;
      case 'Z': tlsRest.compat = true; break;
      case 'R': tlsRest.requireClientCert = true; break;
      case 'L':
        if (!['ssl23', 'ssl2', 'ssl3', 'tls1'].includes(arg)) throw new UsageError(`-L takes ssl23, ssl2, ssl3 or tls1, not "${arg}"`);
        if (arg === 'ssl2' || arg === 'ssl3') throw new UsageError(`-L ${arg}: that protocol is insecure and no longer available; use ssl23 or tls1`);
        tlsRest.protocol = arg;
        break;
    }
  }
  if (tlsCert) p.tls = { cert: tlsCert, ...tlsRest };
  else if (tlsOnly.size) {
    const given = [...tlsOnly].join(' ');
    throw new UsageError(`${given}: ${tlsOnly.size > 1 ? 'these options apply' : 'this option applies'} only to TLS termination; add -E certfile, or leave ${given} out`);
  }
  state.configFile = configFile;
  state.commandLine = argv.join(' ');
  return p;
}

async function serverFrom(spec: string, index: number, listenPort: number): Promise<Server> {
  const parsed = parseServerSpec(spec, listenPort);
  const host = parsed.unixPath ?? (await resolveOnce(parsed.host));
  return newServer(index, { ...parsed, host });
}

/** `-u`: checked before anything opens, so that a user that does not exist stops the start at once. */
function lookupUserFor(user: string): void {
  try {
    lookupUser(user);
  } catch {
    throw new PenError(`-u ${user}: no such user; create it, or give another with -u`);
  }
}

function listenOn(server: net.Server, endpoint: Endpoint, backlog: number): Promise<void> {
  if (endpoint.kind === 'unix') fs.rmSync(endpoint.path, { force: true });
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new PenError(`cannot listen on ${describeEndpoint(endpoint)}: ${err.code === 'EADDRINUSE' ? 'the address is in use' : err.message}`)),
    );
    const options = endpoint.kind === 'unix' ? { path: endpoint.path, backlog } : { host: endpoint.host, port: endpoint.port, backlog };
    server.listen(options, () => resolve());
  });
}

/** What a running pen holds beyond its settings: set as it starts, read by its commands. */
interface Live {
  proxy: Proxy | null;
  requestLog: OpenLog | null;
  ctx: DaemonContext | null;
  liveTls: LiveTls | null;
  /** On the FFI data path another thread owns pen's state: commands go there. */
  ffiPen: FfiPen | null;
}

/** Runs a command where pen's state lives: on the FFI thread when it owns it, here otherwise. */
function runLine(live: Live, host: CommandHost, line: string, depth = 0, fromControl = false): string {
  return live.ffiPen ? live.ffiPen.run(line, depth, fromControl) : runCommand(host, line, depth, fromControl);
}

/** A pen configured and ready to listen: its state, its commands' host, its listen address. */
interface Configured {
  p: Parsed;
  layout: Layout<'pen'>;
  live: Live;
  host: CommandHost;
  listen: Endpoint;
  /** Where the metrics endpoint listens (null: off). */
  metrics: { host: string; port: number } | null;
  /** Re-reads the config file on SIGHUP: the problems found, if any. */
  rereadConfig: () => string[];
}

/** The command line, or a usage error written to stderr (null). */
function parse(argv: string[], layout: Layout<'pen'>): Parsed | null {
  try {
    return parseCommandLine(argv, layout.configFile);
  } catch (err) {
    if (err instanceof UsageError || err instanceof AddressError) {
      process.stderr.write(`pen: ${err.message}\n${USAGE}\n`);
      return null;
    }
    throw err;
  }
}

/** The host penctl commands, -o and the config file run against. */
function commandHost(state: PenState, layout: Layout<'pen'>, live: Live): CommandHost {
  const host: CommandHost = {
    state,
    proxy: () => live.proxy,
    liveTls: () => live.liveTls,
    exit: () => setImmediate(() => void live.ctx?.stop(0)),
    writeWebStats: () => {
      // Without web_stats, the flavor's own page in its run directory.
      const page = state.webStats ?? layout.files.webStats;
      if (!page || !live.proxy) return false;
      try {
        fs.writeFileSync(page, statusPage(state, live.proxy));
        return true;
      } catch {
        return false;
      }
    },
    setLog: (target) => {
      if (live.ffiPen) {
        // The thread that moves the bytes writes the request log; its problem is ours to report.
        const reply = live.ffiPen.run(target ? `log ${target}` : 'no log');
        if (reply.startsWith('do_cmd: ')) throw new Error(reply.trim().replace(/^do_cmd: log: /, ''));
        return;
      }
      if (target !== null && target === state.log && live.requestLog) {
        live.requestLog.reopen();
        return;
      }
      // Opened first: a target that cannot be used leaves the current log as it is.
      const opened = target ? openRequestLog(target, (note) => live.ctx?.log.warn(note)) : null;
      live.requestLog?.close();
      live.requestLog = opened;
      state.log = target;
    },
  };
  return host;
}

// A command pen ignores is a mistake in the command line or the config file: named, and at
// start fatal; on HUP the daemon keeps running and logs it.
// Any line of a reply may be a problem: `include` answers for every line it read.
function problem(reply: string): string | null {
  const lines = reply.split('\n').filter((l) => l.startsWith('do_cmd:')).map((l) => l.slice('do_cmd:'.length).trim());
  return lines.length ? lines.join('; ') : null;
}

function runStartupCommands(host: CommandHost, commands: string[]): string[] {
  return commands.flatMap((c) => {
    const reply = runCommand(host, c);
    const wrong = problem(reply);
    if (wrong === null) process.stdout.write(reply);
    return wrong === null ? [] : [`-o "${c}": ${wrong}; the commands are those of penctl(1)`];
  });
}

function readConfig(host: CommandHost, live: Live, reloading = false): string[] {
  const { state } = host;
  if (!state.configFile) return [];
  let text: string;
  try {
    text = fs.readFileSync(state.configFile, 'utf8');
  } catch (err) {
    // The flavor's default file is read only when it exists, so at start any failure here is a mistake.
    if (reloading) return [`can't read config file '${state.configFile}'; the settings in use are kept`];
    return [`can't read config file '${state.configFile}': it ${errnoProblem(err)}; create it (it may be empty), or give another with -F`];
  }
  return text.split('\n').flatMap((line, i) => {
    const wrong = problem(runLine(live, host, line));
    return wrong === null ? [] : [`${state.configFile} line ${i + 1}: ${wrong}; the commands are those of penctl(1)`];
  });
}

/**
 * Runs -o and the config file, then settles the listen address and the servers; every problem
 * is written to stderr and gives null.
 */
async function configure(p: Parsed, layout: Layout<'pen'>): Promise<Configured | null> {
  const { state } = p;
  for (const n of p.notices) process.stderr.write(`pen: ${n}\n`);
  const live: Live = { proxy: null, requestLog: null, ctx: null, liveTls: null, ffiPen: null };
  const host = commandHost(state, layout, live);
  const startProblems = [...runStartupCommands(host, p.startupCommands), ...readConfig(host, live)];
  if (startProblems.length) {
    for (const m of startProblems) process.stderr.write(`pen: ${m}\n`);
    return null;
  }

  // The listen address: the command line's, else a `listen` in -o or the config file, else the
  // flavor's service port. Defaulting to layout.ports.service lets each flavor's init script start
  // its instance with servers only in the config file; an explicit address always wins.
  const [listenFromCommandLine, ...serverSpecs] = p.operands;
  const listenText = listenFromCommandLine ?? (state.listen || String(layout.ports.service));
  try {
    const listen = parseListen(listenText);
    state.listen = listenText;
    const listenPort = listen.kind === 'inet' ? listen.port : 0;
    const fromCli = await Promise.all(serverSpecs.map((spec, i) => serverFrom(spec, i, listenPort)));
    if (fromCli.length) {
      // As pen does: the command line gives its slots their address and limits; what -o or the
      // config file set on a slot beyond them (acl, check, PROXY header, drain), and the slots
      // beyond, stay as they were.
      const configured = state.balancer.servers;
      const keptSettings = (slot: Server | undefined) =>
        slot ? { acl: slot.acl, check: slot.check, proxyProtocol: slot.proxyProtocol, draining: slot.draining } : { check: null };
      state.balancer.servers = [
        ...fromCli.map((server, i) => ({ ...server, ...keptSettings(configured[i]) })),
        ...configured.slice(fromCli.length),
      ];
    }
    const named = (option: string) => (err: Error): never => {
      throw new PenError(`-${option}: ${err.message}`);
    };
    if (p.emergency) state.balancer.emergency = { ...(await serverFrom(p.emergency, 0, listenPort).catch(named('e'))), index: EMERGENCY };
    if (p.abuse) state.balancer.abuse = { ...(await serverFrom(p.abuse, 0, listenPort).catch(named('B'))), index: ABUSE };
    if (p.user) lookupUserFor(p.user);
    const metrics = metricsEndpoint(state.metricsListen, layout.ports.metrics);
    if (state.balancer.servers.length === 0 && !p.emergency) {
      throw new PenError('no servers given; name them after the listen address (host[:port[:maxc[:hard[:weight[:prio]]]]]) or with "server N address A port P" in the config file');
    }
    if (p.udp && !FLAVORKIT_FEATURES.udp) throw new FeatureMissingError('udp', 'UDP mode (-U)');
    if (p.tls && !FLAVORKIT_FEATURES.tls) throw new FeatureMissingError('tls', 'TLS termination (-E)');
    return { p, layout, live, host, listen, metrics, rereadConfig: () => readConfig(host, live, true) };
  } catch (err) {
    process.stderr.write(`pen: ${(err as Error).message}\n`);
    return null;
  }
}

/** The control sockets and the metrics endpoint as a hand-over needs them: closed before a successor opens its own. */
interface ControlSockets {
  close(): Promise<void>;
  reopen(): Promise<void>;
}

/** Opens the control sockets (the flavor's, and -C's when given) and the metrics endpoint when set. */
async function listenControl(pen: Configured, ctx: DaemonContext): Promise<ControlSockets> {
  const { state } = pen.p;
  const controlHandler = (socket: net.Socket) => {
    if (state.controlAcl > 0 && socket.remoteAddress && !state.acls.permits(state.controlAcl, socket.remoteAddress)) {
      socket.destroy();
      return;
    }
    lineRequests((line) => runLine(pen.live, pen.host, line, 0, true), 4095, (m) => `do_cmd: ${m}\n`)(socket);
  };
  let open: net.Server[] = [];
  const close = () =>
    Promise.all(
      open.splice(0).map((server) => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        if (server instanceof http.Server) server.closeAllConnections();
        return closed;
      }),
    ).then(() => undefined);
  const listenAll = async () => {
    open.push(await listenControlSocket({ path: pen.layout.controlSocket, mode: 0o600 }, controlHandler));
    if (pen.metrics) {
      const endpoint = metricsServer(() => statusSnapshot(state, pen.live.proxy));
      await listenOn(endpoint, { kind: 'inet', ...pen.metrics }, 16).catch((err: Error) => {
        throw new PenError(`metrics_port: ${err.message}; give another port with metrics_port`);
      });
      open.push(endpoint);
    }
    if (!state.control) return;
    if (process.getuid?.() === 0 && !pen.p.user && !state.control.includes('/')) {
      ctx.log.warn("Won't open control port running as root; use -u to run as different user");
      return;
    }
    const endpoint = parseListen(state.control);
    // A UNIX-domain control socket gets the flavor socket's mode, whatever the umask.
    const control =
      endpoint.kind === 'unix'
        ? await listenControlSocket({ path: endpoint.path, mode: 0o600 }, controlHandler)
        : controlServer(controlHandler);
    if (endpoint.kind !== 'unix') await listenOn(control, !state.control.includes(':') ? { ...endpoint, host: '0.0.0.0' } : endpoint, 50);
    open.push(control);
  };
  await listenAll();
  ctx.onStop(close);
  return { close, reopen: listenAll };
}

/** Opens the control sockets, the log and the listener, and starts balancing. */
async function listen(pen: Configured, ctx: DaemonContext): Promise<void> {
  const { p, live, host, listen } = pen;
  const { state } = p;
  live.ctx = ctx;
  const log = ctx.log;
  const debug = (m: string) => (state.debug > 0 ? log.debug(m) : undefined);
  const control = await listenControl(pen, ctx);
  const startHealthChecks = () => {
    state.health.start((m) => log.warn(m));
    ctx.onStop(() => state.health.stop());
  };
  if (state.log) host.setLog(state.log);
  if (state.log && isLogFile(state.log)) ctx.handOver(state.log);
  ctx.onStop(() => live.requestLog?.close());
  if (p.udp && FLAVORKIT_FEATURES.udp) {
    if (listen.kind !== 'inet') throw new PenError('UDP mode needs a host:port to listen on');
    const udp: typeof import('./udp') = require('./udp');
    startHealthChecks();
    const stop = await udp.startUdp(listen, state.balancer, state.proxy.connMax);
    ctx.onStop(stop);
    handOverOnSignal(ctx, { stopAccepting: () => undefined, fd: () => null }, control);
    return;
  }
  // The byte path: the FFI epoll loop on its own thread where koffi loads and the loop serves
  // the configuration; else libuv handles where this Node has them and they pass a loopback
  // probe; net otherwise (and for TLS clients, and the dummy answer, which net serves).
  const unservable = ffiUnservable({ tls: p.tls !== null, udp: p.udp, unixListener: listen.kind !== 'inet', state });
  const dataPath = await chooseDataPath(process.env, unservable);
  state.dataPath = dataPath;
  const named = { ffi: 'an epoll loop on libc (FFI)', handles: 'libuv stream handles', net: 'net' }[dataPath.path];
  log.info(`data path: ${named}${dataPath.reason ? ` (${dataPath.reason})` : ''}`);
  // A successor's listening socket is its predecessor's, inherited.
  const [inherited = null] = listen.kind === 'inet' ? inheritedFds() : [];
  const handedOver = inherited !== null ? ' (socket handed over by the pen before)' : '';
  if (dataPath.path === 'ffi' && listen.kind === 'inet') {
    let ffiPen: FfiPen;
    try {
      ffiPen = live.ffiPen = await startFfiPen(ctx, state, listen, p.backlog, pen.layout.files.webStats, inherited);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new PenError(`cannot listen on ${describeEndpoint(listen)}: ${code === 'EADDRINUSE' ? 'the address is in use' : (err as Error).message}`);
    }
    process.on('SIGUSR1', () => void ffiPen.run('status'));
    handOverOnSignal(ctx, { stopAccepting: ffiPen.stopAccepting, fd: () => ffiPen.listenerFd }, control);
    log.info(`listening on ${describeEndpoint(listen)}, ${state.balancer.servers.length} servers${handedOver}`);
    return;
  }
  // On Node's event loop, with the balancer: the FFI thread (above) has its own copy and no checks.
  startHealthChecks();
  const proxy = new Proxy(state.balancer, state.proxy, p.tls ? 'https' : 'http', () => live.requestLog?.logger ?? null, (message) => {
    if (state.debug > 0) log.debug(message());
  }, dataPath.path);
  live.proxy = proxy;
  proxy.onFull = () => debug('connection table full');
  proxy.onRefused = (m) => log.warn(m);
  // With accept_proxy, a permitted peer's PROXY header is read first, and names the client.
  const accept = acceptingProxyHeaders(state, proxy, (m) => log.warn(m));
  const acceptNet = state.dummy ? dummyAccept : (socket: net.Socket) => accept(netSide(socket));
  let listener: HandOverListener;
  if (p.tls && FLAVORKIT_FEATURES.tls) {
    const tlsModule: typeof import('./tls') = require('./tls');
    const opened = tlsModule.createTlsServer(tlsModule.tlsContext(p.tls, state.tls), state.tls, acceptNet, (m) => log.warn(m));
    live.liveTls = opened.live;
    listener = await listenNet(opened.server, listen, p.backlog, ctx, inherited);
  } else if (dataPath.path === 'handles' && !state.dummy) {
    let handles: Listener;
    try {
      handles = await listenHandles(listen, p.backlog, accept, inherited);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new PenError(`cannot listen on ${describeEndpoint(listen)}: ${code === 'EADDRINUSE' ? 'the address is in use' : (err as Error).message}`);
    }
    ctx.onStop(() => handles.close());
    listener = { stopAccepting: () => handles.close(), fd: () => (listen.kind === 'inet' && handles.fd() >= 0 ? handles.fd() : null) };
  } else {
    listener = await listenNet(net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, acceptNet), listen, p.backlog, ctx, inherited);
  }
  ctx.onStop(() => proxy.closeAll());
  // Registered last, so run first on stop: stop accepting, let connections finish (drain_timeout).
  ctx.onStop(() => drainOnStop(ctx, proxy, listener, () => state.extensions.drainTimeout));
  handOverOnSignal(ctx, listener, control);
  process.on('SIGUSR1', () => {
    if (!host.writeWebStats()) log.info(`status: ${proxy.used} connections, ${state.balancer.clients.size} clients`);
  });
  log.info(`listening on ${describeEndpoint(listen)}, ${state.balancer.servers.length} servers${handedOver}`);
}

export async function main(argv: string[]): Promise<number> {
  const layout = currentLayout('pen');
  try {
    wantedDataPath();
    tsRoundsWanted();
  } catch (err) {
    process.stderr.write(`pen: ${(err as Error).message}\n`);
    return 1;
  }
  const p = parse(argv, layout);
  if (!p) return 1;
  const pen = await configure(p, layout);
  if (!pen) return 1;
  await runDaemon({
    daemon: 'pen',
    layout,
    foreground: p.foreground,
    pidFile: p.pidFile,
    user: p.user,
    debug: p.state.debug > 0,
    start: (ctx) => listen(pen, ctx),
    reload(ctx) {
      const { state } = p;
      try {
        if (state.log) pen.host.setLog(state.log);
      } catch (err) {
        // The log in use stays open; the config file is re-read all the same.
        ctx.log.warn(`${(err as Error).message}; the log in use is kept`);
      }
      for (const m of pen.rereadConfig()) ctx.log.warn(m);
      ctx.log.info('log reopened and configuration re-read');
    },
  });
  return -1;
}

/** `metrics_port`: where the endpoint listens, `on` being the flavor's metrics port on loopback. */
function metricsEndpoint(setting: string | null, flavorPort: number | undefined): { host: string; port: number } | null {
  if (setting === null) return null;
  if (setting !== 'on') return parseMetricsListen(setting);
  if (flavorPort === undefined) throw new PenError('metrics_port on: this flavor has no metrics port; give one with metrics_port PORT');
  return { host: '127.0.0.1', port: flavorPort };
}

/**
 * Listens with a net or TLS server (on `inherited`, a successor's socket, when given); every
 * accepted socket, a TLS handshake in progress included, is closed on stop.
 */
async function listenNet(listener: net.Server, listen: Endpoint, backlog: number, ctx: DaemonContext, inherited: number | null): Promise<HandOverListener> {
  if (inherited !== null) await new Promise<void>((resolve, reject) => listener.once('error', reject).listen({ fd: inherited, backlog }, () => resolve()));
  else await listenOn(listener, listen, backlog);
  const open = new Set<net.Socket>();
  listener.on('connection', (socket: net.Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  const stopAccepting = () => {
    if (listener.listening) listener.close();
  };
  ctx.onStop(() => {
    stopAccepting();
    for (const socket of open) socket.destroy();
  });
  const fd = () => (listen.kind === 'inet' && listener.listening ? ((listener as unknown as { _handle?: { fd?: number } })._handle?.fd ?? null) : null);
  return { stopAccepting, fd };
}

/** `dummy`: pen answers every request itself (a test target). */
function dummyAccept(socket: net.Socket): void {
  socket.on('error', () => undefined);
  socket.end('HTTP/1.1 200 OK\r\nContent-Length: 15\r\nContent-Type: text/html\r\n\r\nUlric was here.');
}
