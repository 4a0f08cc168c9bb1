import path from 'node:path';
import { DAEMON_SPECS, FEATURES, type DaemonName, type FeatureName, type PortName } from './daemons';
import { DEFAULT_FLAVOR, FlavorError } from './name';
import type { Flavor } from './schema';

/** Every flavor-dependent name of one daemon of one flavor. */
export interface Layout {
  flavor: string;
  daemon: DaemonName;
  isDefault: boolean;
  packageName: string;
  prefix: string;
  /** True when every path below, but PAM file and init script, lies under prefix. */
  relocatable: boolean;
  binDir: string;
  /** Holds native addons shipped beside the bundles (node_modules/...). */
  libDir: string;
  programs: Record<string, string>;
  configDir: string;
  configFile: string;
  runDir: string;
  pidFile: string;
  startLock: string;
  controlSocket: string;
  logDir: string;
  /** Where a detached daemon's stdout and stderr go: crash traces, and its log without syslog. */
  consoleLog: string;
  dataDir: string;
  files: Record<string, string>;
  logIdentity: string;
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
  'controlSocket', 'logDir', 'consoleLog', 'dataDir', 'pamFile', 'initScript', 'logrotateFile',
] as const satisfies readonly (keyof Layout)[];

/**
 * The PEP 350 rule: the default flavor keeps the plain system layout; any other flavor moves
 * under /usr/local/<flavor>-<daemon>/ and suffixes the system-wide names with its own name.
 */
export function layout(flavor: Flavor, daemon: DaemonName): Layout {
  if (!flavor.daemons.includes(daemon)) {
    throw new FlavorError(
      `flavor "${flavor.name}" does not ship ${daemon} (it ships ${flavor.daemons.join(', ')}); ` +
        `add "${daemon}" to "daemons" in its flavor file`,
    );
  }
  const spec = DAEMON_SPECS[daemon];
  const isDefault = flavor.name === DEFAULT_FLAVOR;
  const packageName = `${flavor.name}-${daemon}`;
  const suffix = isDefault ? '' : flavor.name;
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

  const features: Partial<Record<FeatureName, boolean>> = {};
  for (const [feature, owner] of Object.entries(FEATURES)) {
    if (owner === daemon) features[feature as FeatureName] = flavor.features[feature as FeatureName];
  }

  const identity = `${spec.systemName}${suffix}`;
  return {
    flavor: flavor.name,
    daemon,
    isDefault,
    packageName,
    prefix,
    relocatable: !isDefault,
    binDir,
    libDir: under('lib', packageName),
    programs: Object.fromEntries(spec.programs.map((p) => [p, path.posix.join(binDir, p)])),
    configDir,
    configFile: path.posix.join(configDir, spec.configName),
    runDir,
    pidFile: path.posix.join(runDir, `${spec.runBase}.pid`),
    startLock: path.posix.join(runDir, `${spec.runBase}_start.lock`),
    controlSocket: path.posix.join(runDir, spec.socketName),
    logDir,
    consoleLog: path.posix.join(logDir, `${spec.runBase}.console`),
    dataDir,
    files,
    logIdentity: identity,
    pamService: identity,
    pamFile: `/etc/pam.d/${identity}`,
    initScript: `/etc/init.d/${packageName}`,
    logrotateFile: `/etc/logrotate.d/${packageName}`,
    ports: { ...flavor.ports[daemon] },
    etcdPrefix: `/flavorkit/${flavor.name}/${spec.systemName}/`,
    user: flavor.user ?? null,
    features,
  };
}

/** Every path of a layout, named: the fixed keys, the programs and the extra files. */
export function layoutPaths(l: Layout): Array<[string, string]> {
  return [
    ...PATH_KEYS.map((k): [string, string] => [k, l[k]]),
    ...Object.entries(l.programs).map(([p, v]): [string, string] => [`program ${p}`, v]),
    ...Object.entries(l.files).map(([f, v]): [string, string] => [`file ${f}`, v]),
  ];
}

/** The layout's caches: derived files its daemon rebuilds, which an erased package removes. */
export function cacheFiles(l: Layout): string[] {
  return Object.entries(DAEMON_SPECS[l.daemon].extraFiles)
    .filter(([, extra]) => extra.cache)
    .map(([key]) => l.files[key]!);
}

function mapPaths(l: Layout, change: (p: string) => string): Layout {
  const out: Layout = { ...l, programs: {}, files: {} };
  for (const key of PATH_KEYS) out[key] = change(l[key]);
  for (const [p, v] of Object.entries(l.programs)) out.programs[p] = change(v);
  for (const [f, v] of Object.entries(l.files)) out.files[f] = change(v);
  return out;
}

/**
 * The layout after `rpm -i --prefix NEW`: paths under the stamped prefix move, the others
 * (PAM file, init script) stay where rpm left them.
 */
export function relocate(l: Layout, newPrefix: string): Layout {
  if (newPrefix === l.prefix) return l;
  const old = l.prefix;
  return mapPaths(l, (p) => (p === old ? newPrefix : p.startsWith(`${old}/`) ? newPrefix + p.slice(old.length) : p));
}

/** The layout seen from a staging root (an image being assembled, a test's private tree). */
export function underRoot(l: Layout, root: string): Layout {
  if (root === '/' || root === '') return l;
  return mapPaths(l, (p) => path.posix.join(root, p));
}
