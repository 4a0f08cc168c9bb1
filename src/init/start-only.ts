import { LEASE_TTL_DEFAULT_S, type Inittab } from './inittab';

/** What the daemon takes from its isinittab at start alone: a re-read cannot move or rejoin it. */
export interface StartOnly {
  socket: string;
  initstat: string;
  cluster: string;
  node: string;
  single: string;
  leasettl: string;
}

export interface StartOnlyDefaults {
  /** The daemon's -s, which the file's :::socket: does not override. */
  socketOption: string | null;
  socket: string;
  initstat: string;
}

/** The start-only values a table gives, the defaults filled in: what the daemon runs with. */
export function startOnlyOf(table: Inittab, defaults: StartOnlyDefaults): StartOnly {
  return {
    socket: defaults.socketOption ?? table.socket ?? defaults.socket,
    initstat: table.initstat ?? defaults.initstat,
    cluster: table.cluster?.endpoints.join(',') ?? '',
    node: table.cluster?.node ?? '',
    single: table.cluster?.single.join(',') ?? '',
    // The default counts as unset, so that adding or removing a cluster names :::cluster: alone.
    leasettl: table.cluster && table.cluster.leaseTtlS !== LEASE_TTL_DEFAULT_S ? String(table.cluster.leaseTtlS) : '',
  };
}

const shown = (value: string) => (value === '' ? '(none)' : `"${value}"`);

/** One line for each start-only directive a re-read found changed, naming it and what applies it. */
export function restartNeeded(running: StartOnly, reread: StartOnly): string[] {
  return (Object.keys(running) as Array<keyof StartOnly>)
    .filter((directive) => running[directive] !== reread[directive])
    .map(
      (directive) =>
        `:::${directive}: changed from ${shown(running[directive])} to ${shown(reread[directive])}; ` +
        "restart the daemon to apply it (the init script's restart; running entries are kept)",
    );
}
