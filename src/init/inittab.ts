import fs from 'node:fs';
import { nameProblem } from './names';

export const MODES = ['respawn', 'once', 'wait', 'test', 'off'] as const;
export type Mode = (typeof MODES)[number];

export interface Entry {
  group: string;
  tag: string;
  /** Runlevel labels: "12" is levels 1 and 2; "long1,long2" (or "long3,") are labels. */
  levels: string[];
  /** The runlevels field as written, for the warnings about it. */
  levelField?: string;
  mode: Mode;
  command: string;
  /** Run as this user (mode field `respawn@user`), else as the daemon's user. */
  user: string | null;
  line: number;
}

/** Hosts sharing desired levels through etcd (the `:::cluster:`, `:::node:`, `:::single:` directives). */
export interface ClusterConfig {
  /** etcd client URLs. */
  endpoints: string[];
  /** This host's name in the cluster; null: the host name. */
  node: string | null;
  /** Groups that run on exactly one host at a time, placed by election. */
  single: string[];
  /** Time to live of the host's lease in etcd: how long a dead leader holds its groups. */
  leaseTtlS: number;
}

export interface Inittab {
  entries: Entry[];
  socket: string | null;
  initstat: string | null;
  cluster: ClusterConfig | null;
  /** How long a wait or test entry may run before it is stopped and counted failed. */
  waitLimitS: number;
  groups: string[];
}

/**
 * Without `:::waitlimit:`: long enough for a slow fsck, mount or migration, short enough that a
 * hung one does not hold its group's switches for good.
 */
export const WAIT_LIMIT_DEFAULT_S = 300;
const WAIT_LIMIT_MAX_S = 86_400;

export class InittabError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    problem: string,
  ) {
    super(`${file}:${line}: ${problem}`);
  }
}

const USER = /^[a-z_][a-z0-9_-]{0,31}$/;

export function parseLevels(field: string): string[] {
  if (field.includes(',')) return field.split(',').filter((l) => l !== '');
  return [...field];
}

function checkName(file: string, line: number, what: string, value: string): string {
  const problem = nameProblem(what, value);
  if (problem) throw new InittabError(file, line, problem);
  return value;
}

const DIRECTIVES =
  'use :::socket:PATH, :::initstat:PATH, :::waitlimit:SECONDS, :::cluster:URL[,URL...], :::node:NAME, :::single:GROUP[,GROUP...] or :::leasettl:SECONDS';

/** etcd grants no lease under 2 s with its default timing; longer than this, a dead leader holds its groups too long. */
export const LEASE_TTL_DEFAULT_S = 10;
const LEASE_TTL_MIN_S = 2;
const LEASE_TTL_MAX_S = 600;

function leaseTtl(file: string, line: number, text: string): number {
  const seconds = Number(text);
  if (!/^\d+$/.test(text) || seconds < LEASE_TTL_MIN_S || seconds > LEASE_TTL_MAX_S) {
    throw new InittabError(file, line, `the leasettl directive takes whole seconds from ${LEASE_TTL_MIN_S} to ${LEASE_TTL_MAX_S}, not "${text}"; write e.g. :::leasettl:${LEASE_TTL_DEFAULT_S}`);
  }
  return seconds;
}

function waitLimit(file: string, line: number, text: string): number {
  const seconds = Number(text);
  if (!/^\d+$/.test(text) || seconds < 1 || seconds > WAIT_LIMIT_MAX_S) {
    throw new InittabError(file, line, `the waitlimit directive takes whole seconds from 1 to ${WAIT_LIMIT_MAX_S}, not "${text}"; write e.g. :::waitlimit:${WAIT_LIMIT_DEFAULT_S}`);
  }
  return seconds;
}

function endpoint(file: string, line: number, text: string): string {
  const fix = 'write it as http://HOST:PORT (or https://HOST:PORT)';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InittabError(file, line, `cluster endpoint "${text}" is not a URL; ${fix}`);
  }
  const problem =
    url.protocol !== 'http:' && url.protocol !== 'https:' ? `has the scheme "${url.protocol}"`
    : url.hostname === '' ? 'names no host'
    : url.username !== '' || url.password !== '' ? 'carries a user or password (etcd authentication is not supported; the credentials would be dropped)'
    : url.pathname.length > 1 || url.search !== '' || url.hash !== '' ? 'has a path, query or fragment'
    : !/^[a-z]+:\/\/[^/]*:\d+\/?$/i.test(text) ? 'names no port (etcd clients use 2379)'
    : null;
  if (problem) throw new InittabError(file, line, `cluster endpoint "${text}" ${problem}; ${fix}`);
  // From the text, not url.host: that drops a scheme's default port, which etcd does not listen on.
  return text.replace(/\/$/, '');
}

function endpoints(file: string, line: number, text: string): string[] {
  const urls = text.split(',').map((u) => endpoint(file, line, u.trim()));
  const schemes = new Set(urls.map((u) => u.slice(0, u.indexOf(':'))));
  if (schemes.size > 1) throw new InittabError(file, line, 'cluster endpoints mix http and https; one etcd cluster speaks one of them: use the same scheme for every URL');
  const twice = urls.find((u, i) => urls.indexOf(u) !== i);
  if (twice) throw new InittabError(file, line, `cluster endpoint ${twice} is listed twice; list each etcd member once`);
  return urls;
}

/**
 * Parses an isinittab: `group:tag:levels:mode[@user]:command`, `#` comments, blank lines, and
 * the directives `:::socket:PATH`, `:::initstat:PATH`, `:::waitlimit:SECONDS`, `:::cluster:URLS`,
 * `:::node:NAME` and `:::single:GROUPS`. Every error names its line.
 */
export function parseInittab(text: string, file = 'isinittab'): Inittab {
  const entries: Entry[] = [];
  const seen = new Map<string, number>();
  let socket: string | null = null;
  let initstat: string | null = null;
  let waitLimitS = WAIT_LIMIT_DEFAULT_S;
  let urls: string[] = [];
  let node: string | null = null;
  let leaseTtlS = LEASE_TTL_DEFAULT_S;
  const single: string[] = [];
  /** The first node or single directive, for the error when no cluster is given. */
  let needsCluster = 0;
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    const content = raw.replace(/\r$/, '');
    if (content.trim() === '' || content.trimStart().startsWith('#')) return;
    const fields = content.split(':');
    if (fields.length < 5) {
      throw new InittabError(file, line, `expected group:tag:runlevels:mode:command, found ${fields.length} field(s)`);
    }
    const [group, tag, levelField, modeField] = fields as [string, string, string, string];
    const command = fields.slice(4).join(':');
    if (group === '' && tag === '' && levelField === '') {
      const names = (what: string) => command.split(',').map((n) => checkName(file, line, what, n.trim()));
      switch (modeField) {
        case 'socket':
        case 'initstat':
          if (!command.startsWith('/')) throw new InittabError(file, line, `the ${modeField} directive needs an absolute path`);
          if (modeField === 'socket') socket = command;
          else initstat = command;
          return;
        case 'waitlimit':
          waitLimitS = waitLimit(file, line, command);
          return;
        case 'cluster':
          if (urls.length) throw new InittabError(file, line, 'a second cluster directive; list every etcd URL in one :::cluster:URL,URL... line');
          urls = endpoints(file, line, command);
          return;
        case 'leasettl':
          needsCluster ||= line;
          leaseTtlS = leaseTtl(file, line, command);
          return;
        case 'node':
          needsCluster ||= line;
          if (command.includes(',')) throw new InittabError(file, line, 'the node directive takes one name');
          if (node !== null) throw new InittabError(file, line, `a second node directive; this host is already named "${node}"`);
          node = names('node name')[0]!;
          return;
        case 'single':
          needsCluster ||= line;
          single.push(...names('group'));
          return;
        default:
          throw new InittabError(file, line, `unknown directive "${modeField}"; ${DIRECTIVES}`);
      }
    }
    checkName(file, line, 'group', group);
    checkName(file, line, 'tag', tag);
    const levels = parseLevels(levelField);
    if (levels.length === 0) throw new InittabError(file, line, `tag ${tag} has no runlevels`);
    // A level a switch could not name would never run.
    for (const level of levels) checkName(file, line, 'runlevel', level);
    const [mode, user, ...extra] = modeField.split('@');
    if (!(MODES as readonly string[]).includes(mode ?? '') || extra.length) {
      throw new InittabError(file, line, `mode "${modeField}" is not one of ${MODES.join(', ')} (optionally @user)`);
    }
    if (user !== undefined && !USER.test(user)) throw new InittabError(file, line, `user "${user}" is not a valid user name`);
    if (command.trim() === '' && mode !== 'off') throw new InittabError(file, line, `tag ${tag} has an empty command`);
    const key = `${group}:${tag}`;
    if (seen.has(key)) throw new InittabError(file, line, `tag ${tag} of group ${group} is already defined on line ${seen.get(key)}`);
    seen.set(key, line);
    entries.push({ group, tag, levels, levelField, mode: mode as Mode, command, user: user ?? null, line });
  });
  const groups = [...new Set(entries.map((e) => e.group))];
  if (urls.length === 0 && needsCluster) {
    throw new InittabError(file, needsCluster, 'the node, single and leasettl directives need a cluster: add :::cluster:http://HOST:PORT');
  }
  const cluster = urls.length ? { endpoints: urls, node, single, leaseTtlS } : null;
  return { entries, socket, initstat, cluster, waitLimitS, groups };
}

export function readInittab(file: string): Inittab {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; create it or pass -c FILE`);
  }
  return parseInittab(text, file);
}
