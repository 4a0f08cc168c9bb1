// What each daemon contributes to the layout: its base names, programs and ports.
// The packager and the build read this table; no other module knows a daemon's file names.

export const DAEMONS = ['pen', 'depot', 'init'] as const;
export type DaemonName = (typeof DAEMONS)[number];

/** Where a daemon-specific extra file lives, relative to one of the layout's directories. */
export interface ExtraFile {
  dir: 'runDir' | 'dataDir' | 'logDir' | 'configDir';
  name: string;
  /** Derived data the daemon rebuilds by itself (a search index): it goes when the package is erased. */
  cache?: true;
}

export interface DaemonSpec {
  /** Name used for system-wide identities: config dir, syslog ident, PAM service. */
  systemName: string;
  /** Base of the run-dir files: <base>.pid, <base>_start.lock. */
  runBase: string;
  /** File name of the control socket inside the run dir. */
  socketName: string;
  configName: string;
  /** Programs shipped in bin/, each a separate bundle; the first is the daemon. */
  programs: readonly string[];
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

export const PORT_NAMES = ['service', 'control', 'metrics'] as const;
export type PortName = (typeof PORT_NAMES)[number];

export const DAEMON_SPECS: Readonly<Record<DaemonName, DaemonSpec>> = {
  pen: {
    systemName: 'pen',
    runBase: 'pen',
    socketName: 'pen.sock',
    configName: 'pen.conf',
    programs: ['pen', 'penctl', 'penlog', 'penlogd', 'mergelogs'],
    // metrics: pen's metrics endpoint, when its config turns it on (`metrics_port on`).
    ports: ['service', 'control', 'metrics'],
    summary: 'TCP load balancer compatible with pen 0.34',
    distributionPackage: { name: 'pen', version: '0.34.1' },
    extraFiles: {
      sampleConfig: { dir: 'configDir', name: 'pen.conf.sample' },
      webStats: { dir: 'runDir', name: 'pen.html' },
      requestLog: { dir: 'logDir', name: 'pen.log' },
      // penlogd: the merged web-server log it writes when detached without -l, and its own run files.
      mergedLog: { dir: 'logDir', name: 'access.log' },
      penlogdPid: { dir: 'runDir', name: 'penlogd.pid' },
      penlogdLock: { dir: 'runDir', name: 'penlogd_start.lock' },
    },
  },
  depot: {
    systemName: 'depot',
    runBase: 'depot',
    socketName: 'depot.sock',
    configName: 'depot.conf',
    programs: ['depot'],
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
    ports: [],
    summary: 'Cluster init with resource groups and runlevels',
    extraFiles: {
      initstat: { dir: 'runDir', name: 'initstat' },
      state: { dir: 'dataDir', name: 'state.json' },
      entryLogDir: { dir: 'logDir', name: 'entries' },
    },
  },
};

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
