import type { Server } from './balancer';
import type { PenState } from './state';

/*
 * The commands this pen has beyond pen 0.34 for the PROXY protocol and draining, parsed here and
 * hooked into runCommand: `accept_proxy`, `drain_timeout`, and the `proxy` and `drain` keywords
 * of `server`. None is set by default, and pen without them behaves as pen 0.34.
 */

/**
 * The longest drain a command may set: shorter than the 15 s a stop waits before KILL (the init
 * script's STOP_TIMEOUT, the systemd unit's TimeoutStopSec), with time left to close what remains.
 */
export const DRAIN_TIMEOUT_MAX = 10;

class ExtensionError extends Error {}

function wholeNumber(cmd: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw new ExtensionError(`${cmd} takes a whole number from ${min} to ${max}, not '${text}'`);
  return Number(text);
}

/**
 * `accept_proxy [N]`, `no accept_proxy`, `drain_timeout [N]`: the reply, or null for a command
 * that is not one of these.
 */
export function extensionCommand(state: PenState, words: string[]): string | null {
  const [cmd, arg] = words;
  const ext = state.extensions;
  try {
    if (cmd === 'no' && arg === 'accept_proxy') {
      ext.acceptProxyAcl = -1;
      return '';
    }
    if (cmd === 'accept_proxy') {
      if (arg !== undefined) ext.acceptProxyAcl = wholeNumber(cmd, arg, 0, 9);
      return ext.acceptProxyAcl < 0 ? 'accept_proxy off\n' : `accept_proxy ${ext.acceptProxyAcl}\n`;
    }
    if (cmd === 'drain_timeout') {
      if (arg !== undefined) ext.drainTimeout = wholeNumber(cmd, arg, 0, DRAIN_TIMEOUT_MAX);
      return `${ext.drainTimeout}\n`;
    }
  } catch (err) {
    return `do_cmd: ${(err as Error).message}\n`;
  }
  return null;
}

type ServerChange = (s: Server) => void;

/**
 * `server N ... [proxy v1|v2] [no proxy] [drain] [no drain] ...`: these words are taken out and
 * the rest go to pen's own `server` (`plain`); they apply only when it accepts the rest, so a
 * mistake anywhere changes nothing.
 */
export function serverWithExtensions(state: PenState, words: string[], plain: (words: string[]) => string): string {
  const rest = words.slice(0, 2);
  const changes: ServerChange[] = [];
  // Keywords come where pen expects one; pen's own take the next word as their value, whatever it is.
  for (let i = 2; i < words.length; i++) {
    const w = words[i]!;
    if (w === 'proxy') {
      const v = words[++i];
      if (v !== 'v1' && v !== 'v2') return `do_cmd: server ${words[1]} proxy takes v1 or v2, not '${v ?? ''}'; "no proxy" turns it off\n`;
      changes.push((s) => (s.proxyProtocol = v === 'v1' ? 1 : 2));
    } else if (w === 'drain') changes.push((s) => (s.draining = true));
    else if (w === 'no' && (words[i + 1] === 'proxy' || words[i + 1] === 'drain')) {
      const what = words[++i];
      changes.push((s) => (what === 'proxy' ? delete s.proxyProtocol : delete s.draining));
    } else rest.push(...words.slice(i, i + 2)), i++;
  }
  if (changes.length === 0) return plain(words);
  const reply = plain(rest);
  if (reply !== '') return reply;
  const s = state.balancer.servers[Number(words[1])]!;
  for (const change of changes) change(s);
  return '';
}

/** The lines `write` adds for these settings, so that a written config keeps them. */
export function extensionConfigLines(state: PenState): string[] {
  const ext = state.extensions;
  return [
    ...(ext.acceptProxyAcl >= 0 ? [`accept_proxy ${ext.acceptProxyAcl}`] : []),
    ...(ext.drainTimeout > 0 ? [`drain_timeout ${ext.drainTimeout}`] : []),
    ...state.balancer.servers.filter((s) => s.proxyProtocol).map((s) => `server ${s.index} proxy v${s.proxyProtocol}`),
  ];
}
