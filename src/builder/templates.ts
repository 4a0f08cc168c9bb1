import fs from 'node:fs';
import path from 'node:path';
import Mustache from 'mustache';
import { cacheFiles, DAEMON_SPECS, type Layout } from '../flavor';
import { BuildError, PROJECT_ROOT } from './project';
import { docDir, systemdFiles, type RenderedFile } from './description';

/** Characters a value may hold to be pasted into a shell script, a PAM file or an RPM spec line. */
const SHELL_SAFE = /^[A-Za-z0-9._\/:@%+,=-]*$/;

/** What templates see: the layout's values, plus a few derived ones. */
export type View = { [key: string]: string | number | boolean | null | string[] | View };

/**
 * The view of a layout for templates. `inst.*` are the same paths written for a shell script
 * of a relocatable package: paths under the prefix start with "${PREFIX}", which the script sets
 * (the init script from a line %post rewrites, the scriptlets from $RPM_INSTALL_PREFIX).
 */
export function layoutView(l: Layout): View {
  const inst = (p: string): string => {
    if (!l.relocatable) return p;
    if (p === l.prefix) return '${PREFIX}';
    return p.startsWith(`${l.prefix}/`) ? `\${PREFIX}${p.slice(l.prefix.length)}` : p;
  };
  const daemonProgram = Object.keys(l.programs)[0]!;
  const paths: Record<string, string> = {
    prefix: l.prefix, binDir: l.binDir, libDir: l.libDir, configDir: l.configDir, configFile: l.configFile,
    runDir: l.runDir, pidFile: l.pidFile, startLock: l.startLock, controlSocket: l.controlSocket,
    logDir: l.logDir, consoleLog: l.consoleLog, dataDir: l.dataDir, pamFile: l.pamFile, initScript: l.initScript,
    logrotateFile: l.logrotateFile, daemonPath: l.programs[daemonProgram]!, docDir: docDir(l),
  };
  const instView: View = {};
  for (const [k, v] of Object.entries(paths)) instView[k] = inst(v);
  const filesInst: View = {};
  for (const [k, v] of Object.entries(l.files)) filesInst[k] = inst(v);
  instView.files = filesInst;
  // Listed for the scriptlets: on erase they remove these, so the data dir is left empty for rpm.
  instView.caches = cacheFiles(l).map(inst);
  const programsInst: View = {};
  for (const [k, v] of Object.entries(l.programs)) programsInst[k] = inst(v);
  instView.programs = programsInst;
  return {
    ...paths,
    flavor: l.flavor,
    daemon: l.daemon,
    isDefault: l.isDefault,
    relocatable: l.relocatable,
    packageName: l.packageName,
    daemonProgram,
    logIdentity: l.logIdentity,
    pamService: l.pamService,
    user: l.user,
    // The distribution's package whose plain paths the default flavor takes (null for the others).
    replaces: (l.isDefault && DAEMON_SPECS[l.daemon].distributionPackage?.name) || null,
    programs: { ...l.programs },
    files: { ...l.files },
    ports: { ...l.ports },
    features: { ...l.features },
    inst: instView,
  };
}

/**
 * Every string in a view must be safe in a shell script: the flavor loader already limits names
 * and paths, and this keeps any later addition (or a hand-made layout) from slipping a quote,
 * a space or a `$(...)` into a root-run script. The `inst` paths are checked before "${PREFIX}"
 * is added to them.
 */
export function assertShellSafe(view: View, where: string, trail = ''): void {
  for (const [key, value] of Object.entries(view)) {
    const name = trail ? `${trail}.${key}` : key;
    if (value !== null && typeof value === 'object') {
      assertShellSafe(value as View, where, name);
    } else if (typeof value === 'string') {
      const checked = name.startsWith('inst.') ? value.replace(/^\$\{PREFIX\}/, '') : value;
      if (!SHELL_SAFE.test(checked)) {
        throw new BuildError(
          `${where}: value of ${name} (${JSON.stringify(value)}) holds characters unsafe in a shell script; ` +
            'use letters, digits and . _ / : @ % + , = - only (check the flavor file)',
        );
      }
    }
  }
}

function lookup(view: View, dotted: string, stack: View[]): boolean {
  if (dotted === '.') return true;
  const [head, ...rest] = dotted.split('.');
  for (const scope of [...stack].reverse().concat(view)) {
    if (scope === null || typeof scope !== 'object' || !(head! in scope)) continue;
    let value: unknown = scope[head!];
    for (const part of rest) {
      if (value === null || typeof value !== 'object' || !(part in (value as object))) return false;
      value = (value as Record<string, unknown>)[part];
    }
    return value !== undefined;
  }
  return false;
}

type Token = [string, string, number, number, Token[]?, number?];

function missingNames(tokens: Token[], view: View, stack: View[], partials: Record<string, string>, out: Set<string>): void {
  for (const token of tokens) {
    const [kind, name] = token;
    if (kind === 'name' || kind === '&' || kind === '{' || kind === '#' || kind === '^') {
      if (!lookup(view, name, stack)) out.add(name);
    }
    if (kind === '>') {
      if (!(name in partials)) out.add(`> ${name}`);
      else missingNames(Mustache.parse(partials[name]!) as Token[], view, stack, partials, out);
    }
    if ((kind === '#' || kind === '^') && token[4]) {
      // A section's inner names may come from the section's own value (an object).
      let inner: unknown = undefined;
      if (lookup(view, name, stack)) inner = name.split('.').reduce<unknown>((v, p) => (v as Record<string, unknown>)?.[p], view);
      const scope = inner !== null && typeof inner === 'object' && !Array.isArray(inner) ? [...stack, inner as View] : stack;
      missingNames(token[4], view, scope, partials, out);
    }
  }
}

/**
 * Renders without HTML escaping (scripts, specs, PAM and config files are not HTML) and fails on
 * any variable, section or partial the view does not define: a typo must not render as nothing.
 */
export function renderStrict(template: string, view: View, where: string, partials: Record<string, string> = {}): string {
  let tokens: Token[];
  try {
    tokens = Mustache.parse(template) as Token[];
  } catch (err) {
    throw new BuildError(`${where}: template does not parse (${(err as Error).message}); fix its mustache syntax`);
  }
  const missing = new Set<string>();
  missingNames(tokens, view, [], partials, missing);
  if (missing.size) {
    throw new BuildError(
      `${where}: undefined template variable${missing.size > 1 ? 's' : ''} ${[...missing].join(', ')}; ` +
        `use only names of the layout view (see docs/packaging.md)`,
    );
  }
  return Mustache.render(template, view, partials, { escape: (value: unknown) => String(value) });
}

export const TEMPLATE_DIRS = {
  initd: path.join(PROJECT_ROOT, 'init.d'),
  pam: path.join(PROJECT_ROOT, 'pam'),
  packaging: path.join(PROJECT_ROOT, 'packaging'),
  /** Holds LICENSE, shipped in every package. */
  license: PROJECT_ROOT,
};

export type { RenderedFile } from './description';

function readTemplate(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    throw new BuildError(`template ${file} is missing; restore it from the repository`);
  }
}

/** The first of these template files that exists. */
function firstExisting(files: string[]): string {
  const found = files.find((f) => fs.existsSync(f));
  if (!found) throw new BuildError(`none of the templates ${files.join(', ')} exists; add one`);
  return found;
}

/** The default config files a daemon's engineers ship in packaging/<daemon>/, rendered to its config dir. */
export function configTemplates(l: Layout, dirs = TEMPLATE_DIRS): string[] {
  const dir = path.join(dirs.packaging, l.daemon);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(dir, e.name))
    .sort();
}

/**
 * Renders every installed text file of one daemon's package: its init script (the generic
 * service script with the daemon's start arguments as a partial), its PAM file, and its default
 * config files.
 */
export function renderDaemonFiles(l: Layout, dirs = TEMPLATE_DIRS): RenderedFile[] {
  const view = layoutView(l);
  assertShellSafe(view, l.packageName);
  const out: RenderedFile[] = [];

  const relocated = l.relocatable ? { namesPrefix: true as const } : {};
  const argsFile = path.join(dirs.initd, 'start', `${l.daemon}.mustache`);
  const partials: Record<string, string> = { startArgs: readTemplate(argsFile).trim() };
  const initTemplate = path.join(dirs.initd, 'service.mustache');
  for (const [name, dir] of [['stopAll', 'stop-all'], ['configured', 'configured'], ['ready', 'ready']] as const) {
    // Optional per daemon: what else `stop-all` stops, how `start` tells an unconfigured daemon,
    // and what shows a started one serves.
    const file = path.join(dirs.initd, dir, `${l.daemon}.mustache`);
    // A standalone partial tag takes its line's newline with it: the partial brings its own.
    partials[name] = fs.existsSync(file) ? `${readTemplate(file).trimEnd()}\n` : ':\n';
  }
  out.push({ path: l.initScript, content: renderStrict(readTemplate(initTemplate), view, initTemplate, partials), mode: 0o755, kind: 'service', ...relocated });

  // The systemd unit starts the daemon as the init script does: same arguments, config and PID file.
  const units = systemdFiles(l);
  const systemdDir = path.join(dirs.packaging, 'systemd');
  const unitPartials = { startArgs: partials.startArgs!.replace(/"\$CONFIG"/g, l.configFile) };
  if (unitPartials.startArgs.includes('$')) throw new BuildError(`${argsFile}: the start arguments may use "$CONFIG" and no other variable (a unit has no shell)`);
  const unitTemplate = path.join(systemdDir, 'service.mustache');
  out.push({ path: units.unit, content: renderStrict(readTemplate(unitTemplate), view, unitTemplate, unitPartials), mode: 0o644, kind: 'service', ...relocated });
  const tmpfiles = path.join(systemdDir, 'tmpfiles.mustache');
  out.push({ path: units.tmpfiles, content: renderStrict(readTemplate(tmpfiles), view, tmpfiles), mode: 0o644, kind: 'service', ...relocated });
  if (units.sysusers) {
    const sysusers = path.join(systemdDir, 'sysusers.mustache');
    out.push({ path: units.sysusers, content: renderStrict(readTemplate(sysusers), view, sysusers), mode: 0o644, kind: 'service' });
  }

  // A PAM file is the administrator's to edit: a config file like those of the config dir.
  const pamTemplate = firstExisting([path.join(dirs.pam, `${l.daemon}.mustache`), path.join(dirs.pam, 'service.mustache')]);
  out.push({ path: l.pamFile, content: renderStrict(readTemplate(pamTemplate), view, pamTemplate), mode: 0o644, kind: 'config' });

  const logrotate = path.join(dirs.packaging, 'logrotate.mustache');
  // A relocatable package's logrotate file follows --prefix (%post rewrites it): it stays the
  // package's file; the default flavor's is the administrator's to edit.
  out.push({ path: l.logrotateFile, content: renderStrict(readTemplate(logrotate), view, logrotate), mode: 0o644, kind: l.relocatable ? 'service' : 'config', ...relocated });

  const readme = path.join(dirs.packaging, 'doc', 'README.mustache');
  out.push({ path: path.posix.join(docDir(l), 'README'), content: renderStrict(readTemplate(readme), view, readme), mode: 0o644, kind: 'doc' });
  out.push({ path: path.posix.join(docDir(l), 'LICENSE'), content: readTemplate(path.join(dirs.license, 'LICENSE')), mode: 0o644, kind: 'license' });

  for (const file of configTemplates(l, dirs)) {
    const name = path.basename(file).replace(/\.mustache$/, '');
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new BuildError(`${file}: file name unsafe in a package; use letters, digits, ".", "_" and "-"`);
    out.push({ path: path.posix.join(l.configDir, name), content: renderStrict(readTemplate(file), view, file), mode: 0o644, kind: 'config' });
  }
  return out;
}
