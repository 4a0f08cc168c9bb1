import fs from 'node:fs';
import path from 'node:path';
import type { PackageDescription } from './description';
import { assertShellSafe, renderStrict, TEMPLATE_DIRS, type View } from './templates';

/**
 * The scripts a package runs on install, upgrade and erase, rendered from a format's templates
 * (packaging/<format>/<phase>.sh.mustache) and the description's intents alone.
 */

/** A path as a scriptlet of a relocatable package writes it: below "${PREFIX}", which it sets. */
function instPath(prefix: string | null, p: string): string {
  if (!prefix) return p;
  if (p === prefix) return '${PREFIX}';
  return p.startsWith(`${prefix}/`) ? `\${PREFIX}${p.slice(prefix.length)}` : p;
}

export type Scripted = Pick<PackageDescription, 'name' | 'intents'>;

/** What the scriptlet templates in packaging/rpm/ see: the description's intents. */
export function scriptletView(d: Scripted): View {
  const i = d.intents;
  const prefix = i.relocation?.prefix ?? null;
  const view: View = {
    packageName: d.name,
    relocatable: i.relocation !== null,
    prefix: i.relocation?.prefix ?? '/',
    relocated: i.relocation?.rewrite ?? [],
    user: i.createUser,
    service: { ...i.service },
    inst: {
      removeOnErase: i.removeOnErase.map((p) => instPath(prefix, p)),
      keepOnErase: i.keepOnErase.map((p) => instPath(prefix, p)),
      runtimeDirs: i.runtimeDirs.map((p) => instPath(prefix, p)),
    },
  };
  assertShellSafe({ ...view, inst: { removeOnErase: i.removeOnErase, keepOnErase: i.keepOnErase, runtimeDirs: i.runtimeDirs } }, d.name);
  return view;
}

/** Renders the named scriptlets of a format: each one from packaging/<format>/<name>.sh.mustache. */
export function renderFormatScripts<N extends string>(d: Scripted, format: string, names: readonly N[], dirs = TEMPLATE_DIRS): Record<N, string> {
  const view = scriptletView(d);
  const out = {} as Record<N, string>;
  for (const name of names) {
    const file = path.join(dirs.packaging, format, `${name}.sh.mustache`);
    out[name] = renderStrict(fs.readFileSync(file, 'utf8'), view, file);
  }
  return out;
}
