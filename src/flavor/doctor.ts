import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { layout, layoutPaths, logIdentities, ownedDirs, type Layout } from './layout';
import type { Flavor } from './schema';

export interface Collision {
  item: string;
  value: string;
  owners: string[];
}

interface Claim {
  owner: string;
  item: string;
  value: string;
}

const owner = (l: Layout) => `${l.flavor}/${l.daemon}`;

function claims(l: Layout): Claim[] {
  const out: Claim[] = [];
  for (const [item, value] of layoutPaths(l)) {
    // The default flavor's daemons share /usr and /usr/bin by design; their programs differ.
    if (item === 'prefix' || item === 'binDir') continue;
    out.push({ owner: owner(l), item, value });
  }
  for (const [name, port] of Object.entries(l.ports)) out.push({ owner: owner(l), item: `${name} port`, value: String(port) });
  out.push({ owner: owner(l), item: 'package name', value: l.packageName });
  for (const identity of logIdentities(l)) out.push({ owner: owner(l), item: 'log identity', value: identity });
  out.push({ owner: owner(l), item: 'PAM service', value: l.pamService });
  return out;
}

export function layoutsOf(flavors: Flavor[]): Layout[] {
  return flavors.flatMap((f) => f.daemons.map((d) => layout(f, d)));
}

/** Every shared name, port or path between the given flavors (and between daemons of one flavor). */
export function findCollisions(flavors: Flavor[]): Collision[] {
  const layouts = layoutsOf(flavors);
  const found = new Map<string, Collision>();
  const report = (item: string, value: string, a: string, b: string) => {
    const key = `${item}\0${value}`;
    const entry = found.get(key) ?? { item, value, owners: [] };
    for (const o of [a, b]) if (!entry.owners.includes(o)) entry.owners.push(o);
    found.set(key, entry);
  };
  const byValue = new Map<string, Claim>();
  for (const claim of layouts.flatMap(claims)) {
    const kind = claim.item.endsWith(' port') ? 'port' : claim.value.startsWith('/') ? 'path' : claim.item;
    const key = `${kind}\0${claim.value}`;
    const first = byValue.get(key);
    if (first && first.owner !== claim.owner) report(claim.item, claim.value, first.owner, claim.owner);
    else if (!first) byValue.set(key, claim);
  }
  for (const a of layouts) {
    // A package's own directories: anything of another inside them collides.
    for (const dir of ownedDirs(a)) {
      for (const b of layouts) {
        if (b === a) continue;
        for (const [item, value] of layoutPaths(b)) {
          if (value === dir || value.startsWith(`${dir}/`)) report(`${item} inside ${owner(a)}'s ${dir}`, value, owner(a), owner(b));
        }
      }
    }
  }
  return [...found.values()];
}

/** Paths of these layouts that exist on this host and that rpm does not list as ours. */
export function foreignPathsOnHost(layouts: Layout[]): string[] {
  const warnings: string[] = [];
  for (const l of layouts) {
    const mine = [
      ...Object.values(l.programs), l.configFile, l.pidFile, l.startLock, l.controlSocket, l.pamFile, l.initScript, l.logrotateFile,
      ...(l.isDefault ? [l.libDir] : [l.prefix]),
    ];
    for (const p of mine) {
      if (!fs.existsSync(p)) continue;
      const pkg = rpmOwner(p);
      if (pkg !== l.packageName) {
        warnings.push(`${p} (${owner(l)}) already exists on this host and ${pkg ? `belongs to package ${pkg}` : 'is not from package ' + l.packageName}`);
      }
    }
  }
  return warnings;
}

function rpmOwner(p: string): string | null {
  try {
    return execFileSync('rpm', ['-qf', '--queryformat', '%{NAME}', p], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  } catch {
    return null;
  }
}

