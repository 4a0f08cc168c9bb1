import { DATA_PATH_ENV } from '../transport';
import type { PenState } from '../state';

/*
 * What the FFI data path serves: pen 0.34's plain-TCP proxying, with its commands, log and drain.
 * Health checks and the metrics endpoint (Node sockets beside the balancer, which lives on the FFI
 * thread) and the byte paths that loop does not have (TLS, UDP, a UNIX-domain listener, PROXY
 * headers) keep pen on the handle path, chosen at start.
 */

/** Why the FFI path cannot serve this configuration (null: it can). */
export function ffiUnservable(options: { tls: boolean; udp: boolean; unixListener: boolean; state: PenState }): string | null {
  const { state } = options;
  const servers = state.balancer.servers;
  const missing = [
    options.tls && 'TLS termination',
    options.udp && 'UDP',
    options.unixListener && 'a UNIX-domain listener',
    state.dummy && 'dummy',
    state.transparent && 'transparent mode',
    servers.some((s) => s.check) && 'health checks',
    servers.some((s) => s.proxyProtocol !== undefined) && 'the PROXY protocol to servers',
    state.extensions.acceptProxyAcl >= 0 && 'accept_proxy',
    state.metricsListen !== null && 'metrics_port',
  ].filter(Boolean);
  return missing.length ? `the FFI path does not serve ${missing.join(', ')}` : null;
}

/** What a `server` command turns on that only the handle path serves, walking its keywords as the command does. */
function serverNeeds(words: string[]): string | null {
  for (let i = 2; i < words.length; i++) {
    const w = words[i];
    const next = words[i + 1];
    if (w === 'check') return next === 'off' ? null : `server ${words[1]} check`;
    if (w === 'proxy' && (next === 'v1' || next === 'v2')) return `server ${words[1]} proxy`;
    if (w === 'no' && (next === 'proxy' || next === 'drain')) i++;
    // pen's own keywords take the next word as their value (`drain` takes none).
    else if (w !== 'drain') i++;
  }
  return null;
}

/**
 * A command the running FFI path cannot take, as runCommand splits it: it would turn on what only
 * the handle path serves. The reply names the fix; null lets the command run. Asked of every
 * command the thread runs, those of an included file too.
 */
export function ffiRefusal(words: string[]): string | null {
  const [cmd, arg] = words;
  const needs =
    (cmd === 'accept_proxy' && arg !== undefined && 'accept_proxy') ||
    (cmd === 'metrics_port' && arg !== undefined && 'metrics_port') ||
    (cmd === 'server' && serverNeeds(words));
  return needs
    ? `do_cmd: ${needs}: only pen's handle data path serves this, and this pen runs the FFI path; put it in the config file and restart pen (which then starts on the handles), or run pen with ${DATA_PATH_ENV}=handles\n`
    : null;
}
