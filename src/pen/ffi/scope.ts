import type { PenState } from '../state';

/*
 * What the FFI data path serves. Its thread owns pen's state and runs no Node event loop, so what
 * needs one there (health checks, the metrics endpoint) or a byte path it does not have (TLS, UDP,
 * PROXY headers, a drain or a listener handed over on restart) keeps pen on the handle path.
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
    state.extensions.drainTimeout > 0 && 'drain_timeout (drains and restarts that refuse no client)',
    state.metricsListen !== null && 'metrics_port',
  ].filter(Boolean);
  return missing.length ? `the FFI path does not serve ${missing.join(', ')}` : null;
}

/**
 * A command the running FFI path cannot take: it would turn on what only the handle path serves.
 * The reply says how to get it; null lets the command run. (`server N check` is refused by the
 * thread's HealthChecks, after its grammar: src/pen/ffi/messages.ts.)
 */
export function ffiRefusal(line: string): string | null {
  const words = line.trim().split(/\s+/);
  const [cmd, arg] = words;
  const needs =
    (cmd === 'accept_proxy' && arg !== undefined && 'accept_proxy') ||
    (cmd === 'drain_timeout' && arg !== undefined && Number(arg) > 0 && 'drain_timeout') ||
    (cmd === 'metrics_port' && arg !== undefined && 'metrics_port') ||
    (cmd === 'server' && words.includes('proxy') && (words.includes('v1') || words.includes('v2')) && 'the PROXY protocol');
  return needs ? `do_cmd: ${needs} needs pen's handle data path, which this pen (on the FFI path) does not run; put it in the config file and restart pen\n` : null;
}
