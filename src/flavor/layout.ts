import path from 'node:path';
import { DAEMON_SPECS, FEATURES, type CompanionName, type DaemonName, type ExtraFileName, type FeatureName, type PortName } from './daemons';
import { DEFAULT_FLAVOR, FlavorError } from './name';
import type { Flavor } from './schema';

/** What a daemon needs of its own to run detached beside others: the runtime's part of a layout. */
export interface DaemonRunFiles {
  pidFile: string;
  startLock: string;
  /** Where a detached daemon's stdout and stderr go: crash traces, and its log without syslog. */
  consoleLog: string;
  logIdentity: string;
}

/** Every flavor-dependent name of one daemon (the package of D) of one flavor. */
export interface Layout<D extends DaemonName = DaemonName> extends DaemonRunFiles {
  flavor: string;
  daemon: D;
  /**
   * The default flavor, with the plain system layout; any other flavor is relocatable: every
   * path but the PAM file, init script and logrotate file lies under prefix.
   */
  isDefault: boolean;
  packageName: string;
  prefix: string;
  binDir: string;
  /** Holds native addons shipped beside the bundles (node_modules/...). */
  libDir: string;
  programs: Record<string, string>;
  configDir: string;
  configFile: string;
  runDir: string;
  controlSocket: string;
  logDir: string;
  dataDir: string;
  /** The package's documentation: README and license. */
  docDir: string;
  /** The daemon's own files beyond the common ones (DAEMON_SPECS extraFiles). */
  files: Record<ExtraFileName<D>, string>;
  /** The other daemons of the package (pen's penlogd), each with its own run files; see companionLayout. */
  companions: Record<CompanionName<D>, DaemonRunFiles>;
  pamService: string;
  pamFile: string;
  initScript: string;
  /** logrotate's file for the logs of this instance. */
  logrotateFile: string;
  ports: Partial<Record<PortName, number>>;
  /** Where the daemon keeps its keys in a shared etcd: flavors sharing one etcd never meet. */
  etcdPrefix: string;
  user: string | null;
  /** Features of this daemon; true = compiled in. */
  features: Partial<Record<FeatureName, boolean>>;
}

/** The layout keys that hold paths, for rebasing and collision checks. */
export const PATH_KEYS = [
  'prefix', 'binDir', 'libDir', 'configDir', 'configFile', 'runDir', 'pidFile', 'startLock',
  'controlSocket', 'logDir', 'consoleLog', 'dataDir', 'docDir', 'pamFile', 'initScript', 'logrotateFile',
] as const satisfies readonly (keyof Layout)[];

/** The path keys of a companion daemon's run files. */
const COMPANION_PATH_KEYS = ['pidFile', 'startLock', 'consoleLog'] as const satisfies readonly (keyof DaemonRunFiles)[];

/** Narrows a layout to one daemon's, whose extra files and companions are then known by name. */
export function isLayoutOf<D extends DaemonName>(l: Layout, daemon: D): l is Layout<D> {
  return l.daemon === daemon;
}

/** A layout's extra files by name, for code that handles every daemon alike. */
export function extraFiles(l: Layout): Record<string, string> {
  return l.files;
}

/** A layout's companion daemons by name, for code that handles every daemon alike. */
export function companionsOf(l: Layout): Record<string, DaemonRunFiles> {
  return l.companions;
}

/**
 * The PEP 350 rule: the default flavor keeps the plain system layout; any other flavor moves
 * under /usr/local/<flavor>-<daemon>/ and suffixes the system-wide names with its own name.
 */
export function layout<D extends DaemonName>(flavor: Flavor, daemon: D): Layout<D> {
  if (!flavor.daemons.includes(daemon)) {
    throw new FlavorError(
      `flavor "${flavor.name}" does not ship ${daemon} (it ships ${flavor.daemons.join(', ')}); ` +
        `add "${daemon}" to "daemons" in its flavor file`,
    );
  }
  const spec = DAEMON_SPECS[daemon];
  const isDefault = flavor.name === DEFAULT_FLAVOR;
  const packageName = `${flavor.name}-${daemon}`;
  const prefix = isDefault ? '/usr' : (flavor.prefix ?? `/usr/local/${packageName}`);
  const under = (...parts: string[]) => path.posix.join(prefix, ...parts);

  const configDir = isDefault ? `/etc/${spec.systemName}` : under('etc', spec.systemName);
  // /run is the tmpfs distributions keep runtime files on (/var/run is a link to it).
  const runDir = isDefault ? `/run/${packageName}` : under('var', 'run', packageName);
  const logDir = isDefault ? `/var/log/${spec.systemName}` : under('var', 'log');
  const dataDir = isDefault ? `/var/lib/${spec.systemName}` : under('var', 'lib');
  const binDir = under('bin');
  const dirs = { configDir, runDir, logDir, dataDir };

  const files: Record<string, string> = {};
  for (const [key, extra] of Object.entries(spec.extraFiles)) files[key] = path.posix.join(dirs[extra.dir], extra.name);
  const suffix = isDefault ? '' : flavor.name;
  const runFiles = (runBase: string, systemName: string): DaemonRunFiles => ({
    pidFile: path.posix.join(runDir, `${runBase}.pid`),
    startLock: path.posix.join(runDir, `${runBase}_start.lock`),
    consoleLog: path.posix.join(logDir, `${runBase}.console`),
    logIdentity: `${systemName}${suffix}`,
  });
  const companions: Record<string, DaemonRunFiles> = {};
  for (const [name, companion] of Object.entries(spec.companions)) companions[name] = runFiles(companion.runBase, companion.systemName);

  const features: Partial<Record<FeatureName, boolean>> = {};
  for (const [feature, owner] of Object.entries(FEATURES)) {
    if (owner === daemon) features[feature as FeatureName] = flavor.features[feature as FeatureName];
  }

  const own = runFiles(spec.runBase, spec.systemName);
  return {
    flavor: flavor.name,
    daemon,
    isDefault,
    packageName,
    prefix,
    binDir,
    libDir: under('lib', packageName),
    programs: Object.fromEntries(spec.programs.map((p) => [p, path.posix.join(binDir, p)])),
    configDir,
    configFile: path.posix.join(configDir, spec.configName),
    runDir,
    pidFile: own.pidFile,
    startLock: own.startLock,
    controlSocket: path.posix.join(runDir, spec.socketName),
    logDir,
    consoleLog: own.consoleLog,
    dataDir,
    docDir: under('share', 'doc', packageName),
    files: files as Layout<D>['files'],
    companions: companions as Layout<D>['companions'],
    logIdentity: own.logIdentity,
    pamService: own.logIdentity,
    pamFile: `/etc/pam.d/${own.logIdentity}`,
    initScript: `/etc/init.d/${packageName}`,
    logrotateFile: `/etc/logrotate.d/${packageName}`,
    ports: { ...flavor.ports[daemon] },
    etcdPrefix: `/flavorkit/${flavor.name}/${spec.systemName}/`,
    user: flavor.user ?? null,
    features,
  };
}

/** Every path of a layout, named: the fixed keys, the programs, the extra files and the companions' run files. */
export function layoutPaths(l: Layout): Array<[string, string]> {
  return [
    ...PATH_KEYS.map((k): [string, string] => [k, l[k]]),
    ...Object.entries(l.programs).map(([p, v]): [string, string] => [`program ${p}`, v]),
    ...Object.entries(extraFiles(l)).map(([f, v]): [string, string] => [`file ${f}`, v]),
    ...Object.entries(companionsOf(l)).flatMap(([name, c]) => COMPANION_PATH_KEYS.map((k): [string, string] => [`${name} ${k}`, c[k]])),
  ];
}

/** Every log identity of a layout: its daemon's and its companions'. */
export function logIdentities(l: Layout): string[] {
  return [l.logIdentity, ...Object.values(companionsOf(l)).map((c) => c.logIdentity)];
}

/**
 * The layout a companion daemon runs with (penlogd of pen): the package's layout with the
 * companion's own start lock, PID file, console log and log identity.
 */
export function companionLayout<D extends DaemonName>(l: Layout<D>, name: CompanionName<D>): Layout<D> {
  const own = companionsOf(l)[name];
  if (!own) throw new FlavorError(`${l.packageName} has no companion daemon ${name}; add it to "companions" in src/flavor/daemons.ts`);
  return { ...l, ...own };
}

/**
 * The directories that belong to the package alone, which it owns and removes when erased:
 * everything under the prefix of a relocatable package; for the default flavor only the
 * package's own directories (never /usr/bin, /etc/init.d or /etc/pam.d, which the system owns).
 */
export function ownedDirs(l: Layout): string[] {
  return l.isDefault ? [l.libDir, l.configDir, l.runDir, l.logDir, l.dataDir, l.docDir] : [l.prefix];
}

/** The layout's caches: derived files its daemon rebuilds, which an erased package removes. */
export function cacheFiles(l: Layout): string[] {
  const files = extraFiles(l);
  return Object.entries(DAEMON_SPECS[l.daemon].extraFiles)
    .filter(([, extra]) => extra.cache)
    .map(([key]) => files[key]!);
}

function mapPaths<D extends DaemonName>(l: Layout<D>, change: (p: string) => string): Layout<D> {
  const out: Layout<D> = { ...l };
  for (const key of PATH_KEYS) out[key] = change(l[key]);
  out.programs = Object.fromEntries(Object.entries(l.programs).map(([p, v]) => [p, change(v)]));
  const files = Object.fromEntries(Object.entries(extraFiles(l)).map(([f, v]) => [f, change(v)]));
  const companions = Object.fromEntries(
    Object.entries(companionsOf(l)).map(([name, c]) => [name, { ...c, ...Object.fromEntries(COMPANION_PATH_KEYS.map((k) => [k, change(c[k])])) }]),
  );
  out.files = files as Layout<D>['files'];
  out.companions = companions as Layout<D>['companions'];
  return out;
}

/**
 * The layout after `rpm -i --prefix NEW`: paths under the stamped prefix move, the others
 * (PAM file, init script) stay where rpm left them.
 */
export function relocate<D extends DaemonName>(l: Layout<D>, newPrefix: string): Layout<D> {
  if (newPrefix === l.prefix) return l;
  const old = l.prefix;
  return mapPaths(l, (p) => (p === old ? newPrefix : p.startsWith(`${old}/`) ? newPrefix + p.slice(old.length) : p));
}

/** The layout seen from a staging root (an image being assembled, a test's private tree). */
export function underRoot<D extends DaemonName>(l: Layout<D>, root: string): Layout<D> {
  if (root === '/' || root === '') return l;
  return mapPaths(l, (p) => path.posix.join(root, p));
}
