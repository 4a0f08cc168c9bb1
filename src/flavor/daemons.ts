// What each daemon's package contributes to the layout: its base names, programs, the daemons
// among them, and ports. The packager and the build read this table; no other module knows a
// daemon's file names. A new port is one entry in PORTS and one name in a daemon's `ports`.

export const DAEMONS = ['pen', 'depot', 'init'] as const;
export type DaemonName = (typeof DAEMONS)[number];

/** Where a daemon-specific extra file lives, relative to one of the layout's directories. */
export interface ExtraFile {
  dir: 'runDir' | 'dataDir' | 'logDir' | 'configDir';
  name: string;
  /** Derived data the daemon rebuilds by itself (a search index): it goes when the package is erased. */
  cache?: true;
}

/**
 * A daemon a package ships beside its main one (pen's penlogd): a program that runs detached on
 * its own, so it has its own start lock, PID file, console log and log identity.
 */
export interface CompanionDaemon {
  /** Base of its run-dir and log-dir files: <base>.pid, <base>_start.lock, <base>.console. */
  runBase: string;
  /** Its syslog identity (suffixed with the flavor's name, as the main daemon's). */
  systemName: string;
}

export interface DaemonSpec {
  /** Name used for system-wide identities: config dir, syslog ident, PAM service. */
  systemName: string;
  /** Base of the run-dir files: <base>.pid, <base>_start.lock. */
  runBase: string;
  /** File name of the control socket inside the run dir. */
  socketName: string;
  configName: string;
  /** Programs shipped in bin/, each a separate bundle; the first is the daemon (see daemonProgram). */
  programs: readonly [string, ...string[]];
  /** Programs of the package, besides the first, that run as daemons of their own. */
  companions: Readonly<Record<string, CompanionDaemon>>;
  ports: readonly PortName[];
  extraFiles: Readonly<Record<string, ExtraFile>>;
  /**
   * One option of Node itself for the daemon program (the first), given in its bundle's #! line:
   * the kernel passes everything after the interpreter as a single argument, so one fits.
   */
  nodeOption?: string;
  /** One line saying what the daemon is: a package's summary. */
  summary: string;
  /**
   * A distribution's own package of the same program, whose plain paths (/usr/bin/pen) the default
   * flavor takes: its packages conflict with it and provide its name, at the version they behave as.
   */
  distributionPackage?: { name: string; version: string };
}

/**
 * The ports a daemon may listen on, each with its offset in a flavor's derived block of ten
 * (a flavor without ports in its file gets base + offset; see src/flavor/load.ts). Offsets are
 * unique across daemons, so one flavor's derived ports never meet.
 */
export const PORTS = {
  pen: { service: 0, control: 1, metrics: 3 },
  depot: { service: 2 },
  init: {},
} as const satisfies Record<DaemonName, Record<string, number>>;

/** Every port name any daemon uses. */
export type PortName = { [D in DaemonName]: keyof (typeof PORTS)[D] }[DaemonName];

/** The offset of a daemon's port in a flavor's derived block. */
export function portOffset(daemon: DaemonName, port: PortName): number {
  const offsets: Partial<Record<PortName, number>> = PORTS[daemon];
  const offset = offsets[port];
  if (offset === undefined) throw new Error(`${daemon} has no ${port} port in src/flavor/daemons.ts PORTS`);
  return offset;
}

// Kept literal for the key types below; read through DAEMON_SPECS.
const SPECS = {
  pen: {
    systemName: 'pen',
    runBase: 'pen',
    socketName: 'pen.sock',
    configName: 'pen.conf',
    programs: ['pen', 'penctl', 'penlog', 'penlogd', 'mergelogs'],
    companions: { penlogd: { runBase: 'penlogd', systemName: 'penlogd' } },
    // metrics: pen's metrics endpoint, when its config turns it on (`metrics_port on`).
    ports: ['service', 'control', 'metrics'],
    summary: 'TCP load balancer compatible with pen 0.34',
    distributionPackage: { name: 'pen', version: '0.34.1' },
    extraFiles: {
      sampleConfig: { dir: 'configDir', name: 'pen.conf.sample' },
      webStats: { dir: 'runDir', name: 'pen.html' },
      requestLog: { dir: 'logDir', name: 'pen.log' },
      // The merged web-server log penlogd writes when detached without -l.
      mergedLog: { dir: 'logDir', name: 'access.log' },
    },
  },
  depot: {
    systemName: 'depot',
    runBase: 'depot',
    socketName: 'depot.sock',
    configName: 'depot.conf',
    programs: ['depot'],
    companions: {},
    ports: ['service'],
    // A depot idle between bursts would otherwise have its heap shrunk, which throws away its
    // compiled request path; recompiled after a mix of small and large answers, that path costs
    // a third more CPU per request for as long as the process runs (docs/BENCHMARKS.md).
    nodeOption: '--no-memory-reducer',
    summary: 'Read-only pkg(5) repository server',
    extraFiles: {
      searchIndex: { dir: 'dataDir', name: 'index', cache: true },
      accessLog: { dir: 'logDir', name: 'access.log' },
      // HTTPS (-E): the certificate chain and its private key, both PEM.
      tlsCert: { dir: 'configDir', name: 'tls/depot.crt' },
      tlsKey: { dir: 'configDir', name: 'tls/depot.key' },
    },
  },
  init: {
    systemName: 'isinit',
    runBase: 'init',
    socketName: 'init.s',
    configName: 'isinittab',
    programs: ['isinit'],
    companions: {},
    ports: [],
    summary: 'Cluster init with resource groups and runlevels',
    extraFiles: {
      initstat: { dir: 'runDir', name: 'initstat' },
      state: { dir: 'dataDir', name: 'state.json' },
      entryLogDir: { dir: 'logDir', name: 'entries' },
    },
  },
} as const satisfies Record<DaemonName, DaemonSpec>;

export const DAEMON_SPECS: Readonly<Record<DaemonName, DaemonSpec>> = SPECS;

/** The names of a daemon's extra files (`Layout.files`) and companion daemons (`Layout.companions`). */
export type ExtraFileName<D extends DaemonName> = keyof (typeof SPECS)[D]['extraFiles'] & string;
export type CompanionName<D extends DaemonName> = keyof (typeof SPECS)[D]['companions'] & string;

/** The program of a package that is its daemon: the first one (pen, depot, isinit). */
export function daemonProgram(daemon: DaemonName): string {
  return DAEMON_SPECS[daemon].programs[0];
}

/** Features a flavor may compile out; each belongs to one daemon. */
export const FEATURES = {
  tls: 'pen',
  udp: 'pen',
  search: 'depot',
  admin: 'depot',
  cluster: 'init',
} as const satisfies Record<string, DaemonName>;
export type FeatureName = keyof typeof FEATURES;
export const FEATURE_NAMES = Object.keys(FEATURES) as FeatureName[];

export function isDaemonName(value: string): value is DaemonName {
  return (DAEMONS as readonly string[]).includes(value);
}
