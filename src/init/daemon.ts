import type { Layout } from '../flavor';
import { lineRequests, listenControlSocket, locatePackageData, runDaemon, type Logger } from '../runtime';
import type { Cluster } from './cluster';
import { readInittab, type Inittab } from './inittab';
import { emptyLevelWarning, levelWarnings } from './levels';
import { parseRequest, ProtocolError } from './protocol';
import { restartNeeded, startOnlyOf } from './start-only';
import { Supervisor } from './supervisor';

/** A request line is short; anything longer is refused, not buffered. */
const MAX_REQUEST = 64 * 1024;

export interface DaemonOptions {
  layout: Layout<'init'>;
  configFile: string;
  socket: string | null;
  foreground: boolean;
  graceMs: number;
}

/**
 * The isinit daemon: started explicitly (init script, or -f), never by a client. TERM leaves the
 * children running for the next daemon to adopt; `isinit -k` stops them all and exits.
 */
export async function runInitDaemon(options: DaemonOptions): Promise<void> {
  const { layout } = options;
  // A bad file stops the start here, with its line number, before anything runs.
  const first = readInittab(options.configFile);
  const startOnly = (table: Inittab) =>
    startOnlyOf(table, { socketOption: options.socket, socket: layout.controlSocket, initstat: layout.files.initstat });
  const running = startOnly(first);
  let supervisor: Supervisor;
  const load = (): Inittab => readInittab(options.configFile);
  /** Re-applies every group's level; directives only a restart applies are logged and returned. */
  const reread = async (log: Logger) => {
    const table = load();
    const restart = restartNeeded(running, startOnly(table));
    for (const warning of restart) log.warn(`${options.configFile}: ${warning}`);
    const levels = levelWarnings(table, options.configFile);
    for (const warning of levels) log.warn(warning);
    const warnings = [...restart, ...levels];
    return { results: await supervisor.reread(table), warnings };
  };
  if (first.cluster && !FLAVORKIT_FEATURES.cluster) {
    throw new Error(
      `${options.configFile} has a :::cluster: directive, but this flavor was built without the cluster feature; ` +
        'remove the directive, or build a flavor whose "features" keep "cluster"',
    );
  }
  let cluster: Cluster | null = null;
  /** Set by `isinit -k`: from then on no switch starts anything. */
  let stopping = false;

  await runDaemon({
    daemon: 'init',
    layout,
    foreground: options.foreground,
    async start(ctx) {
      supervisor = new Supervisor({
        entryLogDir: layout.files.entryLogDir,
        initstatFile: running.initstat,
        stateFile: layout.files.state,
        log: ctx.log,
        graceMs: options.graceMs,
        // Single-host groups run only under a live claim, watched by the cluster's fence guard.
        startRefusal: (group) => cluster?.startRefusal(group) ?? null,
        childStarted: (group, pid) => cluster?.childStarted(group, pid),
        childEnded: (group, pid) => cluster?.childEnded(group, pid),
      });
      for (const warning of levelWarnings(first, options.configFile)) ctx.log.warn(warning);
      const adopted = supervisor.restore(first, first.cluster?.single ?? []);
      if (adopted.length) ctx.log.info(`adopted ${adopted.map((r) => `${r.group}:${r.tag} (PID ${r.pid})`).join(', ')}`);
      if (first.cluster && FLAVORKIT_FEATURES.cluster) {
        locatePackageData(layout.libDir);
        const clusterModule: typeof import('./cluster') = require('./cluster');
        const joined = new clusterModule.Cluster(
          first.cluster,
          layout.etcdPrefix,
          { runDir: layout.runDir, socket: running.socket },
          ctx.log,
          {
            apply: (group, level) => supervisor.switchGroup(load(), group, level),
            report: () => ({ groups: supervisor.status().groups }),
          },
          options.graceMs,
        );
        cluster = joined;
        // A node name another daemon holds fails the start here; an unreachable etcd does not.
        await joined.start();
        // On TERM the children stay for the next daemon, but a single-host group stops here first,
        // so that the host elected next never runs it beside this one.
        ctx.onStop(async () => {
          for (const group of joined.leadingGroups()) await supervisor.switchGroup(load(), group, '0');
          await joined.close();
        });
      }
      const server = await listenControlSocket(
        { path: running.socket, mode: 0o600 },
        lineRequests(async (line) => {
          try {
            const request = parseRequest(line);
            switch (request.op) {
              case 'switch': {
                if (stopping) throw new ProtocolError('isinit is stopping everything (isinit -k): no switch is taken now');
                // The file is read first: a broken isinittab or an unknown group refuses the
                // switch before anything is written to the cluster or started here.
                const table = load();
                if (!table.entries.some((e) => e.group === request.group) && !supervisor.hasGroup(request.group)) {
                  const groups = [...new Set(table.entries.map((e) => e.group))];
                  throw new ProtocolError(`no group "${request.group}" in ${options.configFile}; its groups are: ${groups.join(', ') || 'none'}`);
                }
                // A level no entry names starts nothing: said, not silent.
                const empty = emptyLevelWarning(table.entries, request.group, request.level);
                if (empty) ctx.log.warn(empty);
                const warnings = empty ? { warnings: [empty] } : {};
                if (cluster) {
                  // The cluster's level first: when etcd refuses, nothing changes anywhere.
                  await cluster.setLevel(request.group, request.level);
                  const results = await supervisor.switchGroup(table, request.group, cluster.effectiveLevel(request.group));
                  const leader = first.cluster!.single.includes(request.group) ? cluster.leaderOf(request.group) : undefined;
                  const notice =
                    leader === undefined || leader === cluster.node ? undefined
                    : `${request.group} is a single-host group led by ${leader ?? 'no host yet (an election is under way)'}; it runs there at level ${request.level}, not here`;
                  return reply({ ok: true, results, ...(notice ? { notice } : {}), cluster: cluster.info(table.groups), ...warnings });
                }
                return reply({ ok: true, results: await supervisor.switchGroup(table, request.group, request.level), ...warnings });
              }
              case 'reread': {
                const { results, warnings } = await reread(ctx.log);
                return reply({ ok: true, results, ...(warnings.length ? { warnings } : {}) });
              }
              case 'status': {
                const here = supervisor.status();
                return reply({ ok: true, ...here, ...(cluster ? { cluster: cluster.info(here.groups.map((g) => g.group)) } : {}) });
              }
              case 'kill': {
                stopping = true;
                const results = await supervisor.stopAll();
                await cluster?.close();
                cluster = null;
                setImmediate(() => void ctx.stop(0));
                return reply({ ok: true, results });
              }
            }
          } catch (err) {
            if (!(err instanceof ProtocolError)) ctx.log.error((err as Error).message);
            return reply({ ok: false, error: (err as Error).message });
          }
        }, MAX_REQUEST, (error) => reply({ ok: false, error })),
      );
      ctx.onStop(() => new Promise<void>((resolve) => server.close(() => resolve())));
    },
    async reload(ctx) {
      const { results } = await reread(ctx.log);
      ctx.log.info(`re-read ${options.configFile}: ${results.length} change(s)`);
    },
  });
}

function reply(body: object): string {
  return `${JSON.stringify(body)}\n`;
}
