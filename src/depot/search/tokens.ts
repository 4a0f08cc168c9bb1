import { attr, type Action } from '../manifest';

/**
 * One way a search can find an action: the token, the action's type, the key it came from and
 * the value shown to the user when it matches (pkg5's generate_indices per action type).
 */
export interface IndexEntry {
  token: string;
  actionType: string;
  key: string;
  value: string;
}

const DEPEND_TYPES = new Set(['conditional', 'exclude', 'group', 'group-any', 'incorporate', 'optional', 'origin', 'parent', 'require', 'require-any']);

const basename = (p: string) => p.slice(p.lastIndexOf('/') + 1);

/** The parts of a package FMRI a search can name it by. */
function fmriTokens(text: string): { stem: string; tokens: string[] } {
  let rest = text.replace(/^pkg:\/\/?/, '');
  const at = rest.indexOf('@');
  const version = at >= 0 ? rest.slice(at + 1) : '';
  rest = at >= 0 ? rest.slice(0, at) : rest;
  // pkg://pub/name keeps its publisher in the stem, as the reference's indexer does.
  const name = text.startsWith('pkg://') ? rest.slice(rest.indexOf('/') + 1) : rest;
  const m = /^([^,:-]*)(?:,([^:-]*))?(?:-([^:]*))?(?::(.*))?$/.exec(version);
  const names = name.split('/');
  const hierarchical = names.map((_, i) => names.slice(names.length - 1 - i).join('/'));
  const tokens = [rest, m?.[2] ?? '', m?.[1] ?? '', m?.[4] ?? '', ...hierarchical];
  return { stem: rest, tokens: tokens.filter((t) => t !== '') };
}

function setEntries(action: Action): Array<[string, string | null]> {
  const name = attr(action, 'name') ?? '';
  const values = action.attrs.get('value') ?? [];
  if (name === 'info.classification') {
    const out: Array<[string, string | null]> = [];
    for (const value of values) {
      const colon = value.indexOf(':');
      const levels = colon >= 0 ? value.slice(colon + 1) : value;
      out.push([levels, levels]);
      for (const level of levels.split('/')) for (const word of level.split(/\s+/).filter(Boolean)) out.push([word, levels]);
    }
    return out;
  }
  if (values.length === 1 && (name === 'fmri' || name === 'pkg.fmri')) {
    const { stem, tokens } = fmriTokens(values[0]!);
    return tokens.map((t) => [t, stem]);
  }
  const out: Array<[string, string | null]> = [];
  for (const value of values) {
    if (value.includes(' ')) for (const word of value.split(/\s+/).filter(Boolean)) out.push([word, value]);
    else out.push([value, null]);
  }
  return out;
}

/** Each `pkg.content-hash` value, indexed under its own name as pkg5 does for its extra hash attributes. */
function contentHashes(action: Action): Array<[string, string, null]> {
  return (action.attrs.get('pkg.content-hash') ?? []).map((h) => ['pkg.content-hash', h, null]);
}

/** [key, token, shown value or null] triples, before the shown value gets its default. */
function rawEntries(action: Action): Array<[string, string, string | null]> {
  const path = attr(action, 'path')?.replace(/^\/+/, '');
  const hash = action.hash ?? attr(action, 'hash');
  switch (action.type) {
    case 'set':
      return setEntries(action).map(([token, value]) => [attr(action, 'name') ?? '', token, value]);
    case 'file': {
      if (path === undefined || !hash) return [];
      return [['content', hash, hash], ['hash', hash, null], ['basename', basename(path), null], ['path', `/${path}`, null], ...contentHashes(action)];
    }
    case 'dir':
      return path === undefined ? [] : [['basename', basename(path.replace(/\/+$/, '')), null], ['path', `/${path}`, null]];
    case 'link':
    case 'hardlink': {
      if (path === undefined) return [];
      const mediators = [...action.attrs].filter(([k]) => k.startsWith('mediator')).flatMap(([k, vs]) => vs.map((v): [string, string, null] => [k, v, null]));
      return [['basename', basename(path), null], ['path', `/${path}`, null], ...mediators];
    }
    case 'license': {
      const out: Array<[string, string, string | null]> = (action.attrs.get('license') ?? []).map((l) => ['license', l, null]);
      if (hash) out.push(['hash', hash, null], ['content', hash, null]);
      return [...out, ...contentHashes(action)];
    }
    case 'depend': {
      const type = attr(action, 'type') ?? '';
      if (!DEPEND_TYPES.has(type)) return [];
      return (action.attrs.get('fmri') ?? []).flatMap((f) => {
        const p = f.replace(/^(pkg:\/\/\/|pkg:\/\/[^/]*\/|pkg:\/)/, '');
        const at = p.indexOf('@');
        return at >= 0 ? [[type, p, null], [type, p.slice(0, at), null]] : [[type, p, null]];
      });
    }
    case 'user':
      return (action.attrs.get('username') ?? []).map((u) => ['name', u, null]);
    case 'group':
      return (action.attrs.get('groupname') ?? []).map((g) => ['name', g, null]);
    case 'driver':
      return [
        ...(action.attrs.get('name') ?? []).map((n): [string, string, null] => ['driver_name', n, null]),
        ...(action.attrs.get('alias') ?? []).map((a): [string, string, null] => ['alias', a, null]),
      ];
    case 'legacy':
      return (action.attrs.get('pkg') ?? []).flatMap((p): Array<[string, string, null]> => [['legacy_pkg', p, null], ['pkg', p, null]]);
    case 'signature': {
      const out: Array<[string, string, string | null]> = hash ? [['certificate', hash, hash]] : [];
      for (const a of action.attrs.get('algorithm') ?? []) out.push(['algorithm', a, a]);
      for (const v of action.attrs.get('value') ?? []) out.push(['signature', v, v]);
      return [...out, ...contentHashes(action)];
    }
    default:
      return hash ? [['content', hash, hash]] : [];
  }
}

/**
 * The index entries of one action. A set action shows the token itself when no value was given,
 * any other action shows the key, as the reference's manifest indexer does.
 */
export function indexEntries(action: Action): IndexEntry[] {
  return rawEntries(action)
    .filter(([, token]) => token !== '')
    .map(([key, token, value]) => ({
      token,
      actionType: action.type,
      key,
      value: value ?? (action.type === 'set' ? token : key || action.type),
    }));
}
