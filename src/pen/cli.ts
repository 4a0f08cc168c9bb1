import fs from 'node:fs';
import net from 'node:net';
import { controlServer, currentLayout, FeatureMissingError, lineRequests, listenControlSocket, lookupUser, runDaemon, type DaemonContext } from '../runtime';
import { AddressError, describeEndpoint, parseListen, parseServerSpec, resolveOnce, type Endpoint } from './address';
import { ABUSE, EMERGENCY, newServer, type Server } from './balancer';
import { runCommand, type CommandHost } from './commands';
import { errnoProblem } from './paths';
import { ffiUnservable, startFfiPen, type FfiPen } from './ffi/bridge';
import { Proxy } from './proxy';
import { chooseDataPath, listenHandles, netSide, type Listener } from './transport';
import { isLogFile, openRequestLog, type OpenLog } from './requestlog';
import { initialState, type PenState } from './state';
import type { LiveTls } from './tls';
import { getopt, UsageError } from './tools/getopt';
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

export async function main(argv: string[]): Promise<number> {
  const layout = currentLayout('pen');
  let p: Parsed;
  try {
    p = parseCommandLine(argv, layout.configFile);
  } catch (err) {
    if (err instanceof UsageError || err instanceof AddressError) {
      process.stderr.write(`pen: ${err.message}\n${USAGE}\n`);
      return 1;
    }
    throw err;
  }
  const { state } = p;
  for (const n of p.notices) process.stderr.write(`pen: ${n}\n`);
  let proxy: Proxy | null = null;
  let requestLog: OpenLog | null = null;
  let ctxRef: DaemonContext | null = null;
  let liveTls: LiveTls | null = null;
  // On the FFI data path another thread owns the state: commands go there.
  let ffiPen: FfiPen | null = null;
  const host: CommandHost = {
    state,
    proxy: () => proxy,
    liveTls: () => liveTls,
    exit: () => setImmediate(() => void ctxRef?.stop(0)),
    writeWebStats: () => {
      // Without web_stats, the flavor's own page in its run directory.
      const page = state.webStats ?? layout.files.webStats;
      if (!page || !proxy) return false;
      try {
        fs.writeFileSync(page, statusPage(state, proxy));
        return true;
      } catch {
        return false;
      }
    },
    setLog: (target) => {
      if (ffiPen) {
        // The thread that moves the bytes writes the request log; its problem is ours to report.
        const reply = ffiPen.run(target ? `log ${target}` : 'no log');
        if (reply.startsWith('do_cmd: ')) throw new Error(reply.trim().replace(/^do_cmd: log: /, ''));
        return;
      }
      if (target !== null && target === state.log && requestLog) {
        requestLog.reopen();
        return;
      }
      // Opened first: a target that cannot be used leaves the current log as it is.
      const opened = target ? openRequestLog(target, (note) => ctxRef?.log.warn(note)) : null;
      requestLog?.close();
      requestLog = opened;
      state.log = target;
    },
  };
  // A command pen ignores is a mistake in the command line or the config file: named, and at
  // start fatal; on HUP the daemon keeps running and logs it.
  // Any line of a reply may be a problem: `include` answers for every line it read.
  const problem = (reply: string) => {
    const lines = reply.split('\n').filter((l) => l.startsWith('do_cmd:')).map((l) => l.slice('do_cmd:'.length).trim());
    return lines.length ? lines.join('; ') : null;
  };
  const runStartupCommands = (): string[] =>
    p.startupCommands.flatMap((c) => {
      const reply = runCommand(host, c);
      const wrong = problem(reply);
      if (wrong === null) process.stdout.write(reply);
      return wrong === null ? [] : [`-o "${c}": ${wrong}; the commands are those of penctl(1)`];
    });
  const readConfig = (reloading = false): string[] => {
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
      const wrong = problem(ffiPen ? ffiPen.run(line) : runCommand(host, line));
      return wrong === null ? [] : [`${state.configFile} line ${i + 1}: ${wrong}; the commands are those of penctl(1)`];
    });
  };
  const startProblems = [...runStartupCommands(), ...readConfig()];
  if (startProblems.length) {
    for (const m of startProblems) process.stderr.write(`pen: ${m}\n`);
    return 1;
  }

  // The listen address: the command line's, else a `listen` in -o or the config file, else the
  // flavor's service port. Defaulting to layout.ports.service lets each flavor's init script start
  // its instance with servers only in the config file; an explicit address always wins.
  const [listenFromCommandLine, ...serverSpecs] = p.operands;
  const listenText = listenFromCommandLine ?? (state.listen || String(layout.ports.service));
  let listen: Endpoint;
  try {
    listen = parseListen(listenText);
    state.listen = listenText;
    const listenPort = listen.kind === 'inet' ? listen.port : 0;
    const fromCli = await Promise.all(serverSpecs.map((spec, i) => serverFrom(spec, i, listenPort)));
    if (fromCli.length) {
      // As pen does: the command line gives its slots their address and limits; a slot's acl and
      // the slots beyond, from -o or the config file, stay as they were.
      const configured = state.balancer.servers;
      state.balancer.servers = [...fromCli.map((server, i) => ({ ...server, acl: configured[i]?.acl ?? server.acl })), ...configured.slice(fromCli.length)];
    }
    const named = (option: string) => (err: Error): never => {
      throw new PenError(`-${option}: ${err.message}`);
    };
    if (p.emergency) state.balancer.emergency = { ...(await serverFrom(p.emergency, 0, listenPort).catch(named('e'))), index: EMERGENCY };
    if (p.abuse) state.balancer.abuse = { ...(await serverFrom(p.abuse, 0, listenPort).catch(named('B'))), index: ABUSE };
    if (p.user) lookupUserFor(p.user);
    if (state.balancer.servers.length === 0 && !p.emergency) {
      throw new PenError('no servers given; name them after the listen address (host[:port[:maxc[:hard[:weight[:prio]]]]]) or with "server N address A port P" in the config file');
    }
    if (p.udp && !FLAVORKIT_FEATURES.udp) throw new FeatureMissingError('udp', 'UDP mode (-U)');
    if (p.tls && !FLAVORKIT_FEATURES.tls) throw new FeatureMissingError('tls', 'TLS termination (-E)');
  } catch (err) {
    process.stderr.write(`pen: ${(err as Error).message}\n`);
    return 1;
  }

  await runDaemon({
    daemon: 'pen',
    layout,
    foreground: p.foreground,
    pidFile: p.pidFile,
    user: p.user,
    debug: state.debug > 0,
    async start(ctx) {
      ctxRef = ctx;
      const log = ctx.log;
      const debug = (m: string) => (state.debug > 0 ? log.debug(m) : undefined);
      const controlHandler = (socket: net.Socket) => {
        if (state.controlAcl > 0 && socket.remoteAddress && !state.acls.permits(state.controlAcl, socket.remoteAddress)) {
          socket.destroy();
          return;
        }
        lineRequests((line) => (ffiPen ? ffiPen.run(line, 0, true) : runCommand(host, line, 0, true)), 4095, (m) => `do_cmd: ${m}\n`)(socket);
      };
      const flavorControl = await listenControlSocket({ path: layout.controlSocket, mode: 0o600 }, controlHandler);
      ctx.onStop(() => new Promise<void>((resolve) => flavorControl.close(() => resolve())));
      if (state.control) {
        if (process.getuid?.() === 0 && !p.user && !state.control.includes('/')) {
          log.warn("Won't open control port running as root; use -u to run as different user");
        } else {
          const endpoint = parseListen(state.control);
          // A UNIX-domain control socket gets the flavor socket's mode, whatever the umask.
          const control =
            endpoint.kind === 'unix'
              ? await listenControlSocket({ path: endpoint.path, mode: 0o600 }, controlHandler)
              : controlServer(controlHandler);
          if (endpoint.kind !== 'unix') await listenOn(control, !state.control.includes(':') ? { ...endpoint, host: '0.0.0.0' } : endpoint, 50);
          ctx.onStop(() => new Promise<void>((resolve) => control.close(() => resolve())));
        }
      }
      if (state.log) host.setLog(state.log);
      if (state.log && isLogFile(state.log)) ctx.handOver(state.log);
      ctx.onStop(() => requestLog?.close());
      if (p.udp && FLAVORKIT_FEATURES.udp) {
        if (listen.kind !== 'inet') throw new PenError('UDP mode needs a host:port to listen on');
        const udp: typeof import('./udp') = require('./udp');
        const stop = await udp.startUdp(listen, state.balancer, state.proxy.connMax);
        ctx.onStop(stop);
        return;
      }
      // The byte path: the FFI epoll loop on its own thread where koffi loads and the loop serves
      // the configuration; else libuv handles where this Node has them and they pass a loopback
      // probe; net otherwise (and for TLS clients, and the dummy answer, which net serves).
      const unservable = ffiUnservable({ tls: p.tls !== null, udp: p.udp, unixListener: listen.kind !== 'inet', state });
      const dataPath = await chooseDataPath(process.env, unservable);
      const named = { ffi: 'an epoll loop on libc (FFI)', handles: 'libuv stream handles', net: 'net' }[dataPath.path];
      log.info(`data path: ${named}${dataPath.reason ? ` (${dataPath.reason})` : ''}`);
      if (dataPath.path === 'ffi' && listen.kind === 'inet') {
        try {
          ffiPen = await startFfiPen(ctx, state, listen, p.backlog);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          throw new PenError(`cannot listen on ${describeEndpoint(listen)}: ${code === 'EADDRINUSE' ? 'the address is in use' : (err as Error).message}`);
        }
        process.on('SIGUSR1', () => void ffiPen?.run('status'));
        log.info(`listening on ${describeEndpoint(listen)}, ${state.balancer.servers.length} servers`);
        return;
      }
      proxy = new Proxy(state.balancer, state.proxy, p.tls ? 'https' : 'http', () => requestLog?.logger ?? null, (message) => {
        if (state.debug > 0) log.debug(message());
      }, dataPath.path);
      const live = proxy;
      proxy.onFull = () => debug('connection table full');
      const acceptNet = state.dummy ? dummyAccept : (socket: net.Socket) => live.accept(netSide(socket));
      if (p.tls && FLAVORKIT_FEATURES.tls) {
        const tlsModule: typeof import('./tls') = require('./tls');
        const opened = tlsModule.createTlsServer(tlsModule.tlsContext(p.tls, state.tls), state.tls, acceptNet, (m) => log.warn(m));
        liveTls = opened.live;
        await listenNet(opened.server, listen, p.backlog, ctx);
      } else if (dataPath.path === 'handles' && !state.dummy) {
        let listener: Listener;
        try {
          listener = await listenHandles(listen, p.backlog, live.accept);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          throw new PenError(`cannot listen on ${describeEndpoint(listen)}: ${code === 'EADDRINUSE' ? 'the address is in use' : (err as Error).message}`);
        }
        ctx.onStop(() => listener.close());
      } else {
        await listenNet(net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, acceptNet), listen, p.backlog, ctx);
      }
      ctx.onStop(() => live.closeAll());
      process.on('SIGUSR1', () => {
        if (!host.writeWebStats() && proxy) log.info(`status: ${proxy.used} connections, ${state.balancer.clients.size} clients`);
      });
      log.info(`listening on ${describeEndpoint(listen)}, ${state.balancer.servers.length} servers`);
    },
    reload(ctx) {
      try {
        if (state.log) host.setLog(state.log);
      } catch (err) {
        // The log in use stays open; the config file is re-read all the same.
        ctx.log.warn(`${(err as Error).message}; the log in use is kept`);
      }
      for (const m of readConfig(true)) ctx.log.warn(m);
      ctx.log.info('log reopened and configuration re-read');
    },
  });
  return -1;
}

/** Listens with a net or TLS server; every accepted socket, a TLS handshake in progress included, is closed on stop. */
async function listenNet(listener: net.Server, listen: Endpoint, backlog: number, ctx: DaemonContext): Promise<void> {
  await listenOn(listener, listen, backlog);
  const open = new Set<net.Socket>();
  listener.on('connection', (socket: net.Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  ctx.onStop(() => {
    listener.close();
    for (const socket of open) socket.destroy();
  });
}

/** `dummy`: pen answers every request itself (a test target). */
function dummyAccept(socket: net.Socket): void {
  socket.on('error', () => undefined);
  socket.end('HTTP/1.1 200 OK\r\nContent-Length: 15\r\nContent-Type: text/html\r\n\r\nUlric was here.');
}
