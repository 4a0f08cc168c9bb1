/*
 * The `check` clause of `server N`: its grammar, read and written back. The checks themselves run in
 * src/pen/health.ts.
 */

/** One server's check, as `server N check ...` gives it. */
export interface HealthCheck {
  kind: 'tcp' | 'http';
  /** HTTP only. */
  method: string;
  path: string;
  statusLow: number;
  statusHigh: number;
  /** HTTP only: the Host header (null: the server's address). */
  hostHeader: string | null;
  /** Milliseconds between the starts of two checks. */
  interMs: number;
  /** Milliseconds a check may take (null: `inter`). */
  timeoutMs: number | null;
  rise: number;
  fall: number;
}

export const CHECK_DEFAULTS = { interMs: 2000, rise: 2, fall: 3, method: 'GET', path: '/', statusLow: 200, statusHigh: 399 } as const;


/** A mistake in a `check` clause, answered as `do_cmd: MESSAGE`. */
export class CheckError extends Error {}

/** `2`, `0.5`, `2s`, `100ms`: a duration in milliseconds (a bare number is seconds, as pen counts). */
function duration(word: string, key: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(word);
  const ms = m ? Number(m[1]) * (m[2] === 'ms' ? 1 : 1000) : NaN;
  if (!(ms >= 10 && ms <= 3600_000)) throw new CheckError(`check ${key} takes seconds (2, 0.5) or milliseconds (100ms) between 10ms and 3600, not '${word}'`);
  return Math.round(ms);
}

function count(word: string, key: string): number {
  if (!/^\d+$/.test(word) || Number(word) < 1 || Number(word) > 1000) throw new CheckError(`check ${key} takes a whole number from 1 to 1000, not '${word}'`);
  return Number(word);
}

const TUNABLES = ['inter', 'timeout', 'rise', 'fall'] as const;
const HTTP_TOKEN = /^[A-Z]+$/;

/**
 * The words after `check`: `off` (null), or `tcp|http [METHOD] [PATH] [STATUS[-STATUS]] [host NAME]
 * [inter T] [timeout T] [rise N] [fall N]`. Throws a CheckError naming the word at fault.
 */
export function parseCheck(words: string[]): HealthCheck | null {
  const [kind, ...rest] = words;
  if (kind === 'off' && rest.length === 0) return null;
  if (kind !== 'tcp' && kind !== 'http') throw new CheckError(`check takes tcp, http or off, not '${kind ?? ''}'; e.g. check http GET /health 200-399 inter 2 rise 2 fall 3`);
  const check: HealthCheck = { kind, ...CHECK_DEFAULTS, hostHeader: null, timeoutMs: null };
  const positional = { method: false, path: false, status: false };
  for (let i = 0; i < rest.length; i++) {
    const word = rest[i]!;
    if ((TUNABLES as readonly string[]).includes(word) || word === 'host') {
      const value = rest[++i];
      if (value === undefined) throw new CheckError(`check ${word} needs a value`);
      if (word === 'host') {
        if (kind !== 'http') throw new CheckError('check host applies to http checks only');
        if (!/^[A-Za-z0-9.:[\]_-]+$/.test(value)) throw new CheckError(`check host takes a host name, not '${value}'`);
        check.hostHeader = value;
      } else if (word === 'inter') check.interMs = duration(value, word);
      else if (word === 'timeout') check.timeoutMs = duration(value, word);
      else if (word === 'rise') check.rise = count(value, word);
      else check.fall = count(value, word);
      continue;
    }
    if (kind === 'http' && !positional.method && !positional.path && HTTP_TOKEN.test(word)) {
      check.method = word;
      positional.method = true;
    } else if (kind === 'http' && !positional.path && word.startsWith('/') && /^[\x21-\x7e]+$/.test(word)) {
      check.path = word;
      positional.path = true;
    } else if (kind === 'http' && !positional.status && /^\d{3}(-\d{3})?$/.test(word)) {
      const [low, high = low] = word.split('-').map(Number) as [number, number?];
      if (low < 100 || high! > 599 || high! < low) throw new CheckError(`check status range '${word}' must lie within 100-599, low to high`);
      check.statusLow = low;
      check.statusHigh = high!;
      positional.status = true;
    } else {
      const expected = kind === 'http' ? 'METHOD, /path, status range, host, inter, timeout, rise or fall' : 'inter, timeout, rise or fall';
      throw new CheckError(`check ${kind}: unexpected '${word}'; give ${expected}`);
    }
  }
  return check;
}

const seconds = (ms: number) => (ms % 1000 === 0 ? String(ms / 1000) : `${ms}ms`);

/** A check as the words `parseCheck` reads back, every value given. */
export function describeCheck(check: HealthCheck | null): string {
  if (!check) return 'off';
  const status = check.statusLow === check.statusHigh ? `${check.statusLow}` : `${check.statusLow}-${check.statusHigh}`;
  const http = check.kind === 'http' ? ` ${check.method} ${check.path} ${status}${check.hostHeader ? ` host ${check.hostHeader}` : ''}` : '';
  const timeout = check.timeoutMs !== null ? ` timeout ${seconds(check.timeoutMs)}` : '';
  return `${check.kind}${http} inter ${seconds(check.interMs)}${timeout} rise ${check.rise} fall ${check.fall}`;
}
