import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic, type Logger } from '../runtime';
import { adoptChild, exitWithin, startChild, stopChild, type Child } from './child';
import { parseInittab, type Entry, type Inittab } from './inittab';
import { InitstatWriter, type GroupState } from './initstat';

/** Respawn throttle: more than this many starts of one tag within the window holds it. */
const THROTTLE_STARTS = 5;
const THROTTLE_WINDOW_MS = 10_000;
const BACKOFF_FIRST_MS = 1_000;
const BACKOFF_CAP_MS = 60_000;
/** A child that ran this long counts as healthy again: its backoff starts over. */
const HEALTHY_AFTER_MS = 10_000;

export type Action = 'started' | 'stopped' | 'kept' | 'passed' | 'failed' | 'held' | 'error';

export interface TagResult {
  group: string;
  tag: string;
  action: Action;
  pid?: number;
  exitCode?: number | null;
  error?: string;
}

export interface EntryStatus {
  group: string;
  tag: string;
  mode: string;
  state: 'running' | 'stopped' | 'done' | 'failed' | 'held';
  pid: number | null;
  restarts: number;
  heldUntil: string | null;
}

/** One entry's life inside the supervisor. */
interface Run {
  entry: Entry;
  /** The entry belongs to its group's current level. */
  wanted: boolean;
  child: Child | null;
  state: EntryStatus['state'];
  starts: number[];
  restarts: number;
  backoffMs: number;
  heldUntil: number | null;
  holdTimer: NodeJS.Timeout | null;
}

interface PersistedState {
  levels: Record<string, string>;
  children: Array<{ group: string; tag: string; pid: number; startTime: string | null }>;
}

export interface SupervisorOptions {
  entryLogDir: string;
  initstatFile: string;
  stateFile: string;
  log: Logger;
  graceMs: number;
  /** Why an entry of GROUP may not start now (a single-host group without a live claim); null: it may. */
  startRefusal?: (group: string) => string | null;
  /** Told of every child's start and end, with its PID (its process group). */
  childStarted?: (group: string, pid: number) => void;
  childEnded?: (group: string, pid: number) => void;
}

const keyOf = (e: { group: string; tag: string }) => `${e.group}:${e.tag}`;

/**
 * Keeps every group at its desired runlevel: each group's level is remembered, so a crashed
 * respawn entry is restarted whichever group was told last.
 */
export class Supervisor {
  private table: Inittab = parseInittab('');
  private readonly levels = new Map<string, string>();
  private readonly groupStates = new Map<string, GroupState>();
  private readonly runs = new Map<string, Run>();
  private readonly initstat: InitstatWriter;
  private shuttingDown = false;
  /** Switches of one group run one after another; other groups are not held up. */
  private readonly groupQueues = new Map<string, Promise<unknown>>();

  constructor(private readonly options: SupervisorOptions) {
    this.initstat = new InitstatWriter(options.initstatFile);
  }

  /**
   * Adopts the children a previous daemon left running, and its levels, but for the groups in
   * `undecided`: their level is for someone else to give (a cluster election), so nothing of
   * theirs is started here.
   */
  restore(table: Inittab, undecided: string[] = []): TagResult[] {
    this.table = table;
    let saved: PersistedState;
    try {
      saved = JSON.parse(fs.readFileSync(this.options.stateFile, 'utf8')) as PersistedState;
    } catch {
      this.publish();
      return [];
    }
    const results: TagResult[] = [];
    for (const [group, level] of Object.entries(saved.levels ?? {})) {
      if (undecided.includes(group)) continue;
      this.levels.set(group, level);
      this.groupStates.set(group, level === '0' ? 'stopped' : 'run');
    }
    for (const saved1 of saved.children ?? []) {
      const entry = table.entries.find((e) => keyOf(e) === keyOf(saved1));
      const child = adoptChild(saved1.pid, saved1.startTime);
      if (!child) continue;
      const level = entry ? this.levels.get(entry.group) : undefined;
      if (!entry || level === undefined || !this.inLevel(entry, level)) {
        // Gone from the file, turned off or out of its level while the daemon was down, or in a
        // single-host group whose election is still to come: stopped rather than left running.
        void stopChild(child, this.options.graceMs);
        continue;
      }
      const run = this.runFor(entry);
      run.wanted = true;
      this.watch(run, child);
      results.push({ group: entry.group, tag: entry.tag, action: 'kept', pid: child.pid });
    }
    // Entries of a restored level that are not running (died while the daemon was down).
    for (const [group, level] of this.levels) {
      for (const entry of table.entries.filter((e) => e.group === group && this.inLevel(e, level))) {
        const run = this.runFor(entry);
        if (!run.wanted) {
          run.wanted = true;
          if (entry.mode === 'respawn') this.spawn(run);
        }
      }
    }
    this.persist();
    this.publish();
    return results;
  }

  private inLevel(entry: Entry, level: string): boolean {
    return level !== '0' && entry.mode !== 'off' && entry.levels.includes(level);
  }

  private runFor(entry: Entry): Run {
    const key = keyOf(entry);
    let run = this.runs.get(key);
    if (!run) {
      run = { entry, wanted: false, child: null, state: 'stopped', starts: [], restarts: 0, backoffMs: BACKOFF_FIRST_MS, heldUntil: null, holdTimer: null };
      this.runs.set(key, run);
    }
    run.entry = entry;
    return run;
  }

  private logFile(entry: Entry): string {
    // ":" is in no group or tag name, so no two entries share a log ("a.b" "c" and "a" "b.c" did).
    return path.join(this.options.entryLogDir, `${entry.group}:${entry.tag}.log`);
  }

  /** Starts the entry's command; the reason as text when it cannot start. */
  private spawn(run: Run): Child | string {
    const { entry } = run;
    if (run.holdTimer) clearTimeout(run.holdTimer);
    run.holdTimer = null;
    run.heldUntil = null;
    const refusal = this.options.startRefusal?.(entry.group);
    if (refusal) {
      run.state = 'stopped';
      return refusal;
    }
    let child: Child;
    try {
      child = startChild(entry.command, this.logFile(entry), entry.user);
    } catch (err) {
      const reason = `cannot start: ${(err as Error).message}`;
      this.options.log.error(`${entry.group}:${entry.tag}: ${reason}`);
      run.state = 'failed';
      // A respawn entry is tried again after its backoff: the cause may pass (a full process table).
      if (entry.mode === 'respawn' && run.wanted && !this.shuttingDown) this.hold(run, 'could not be started');
      return reason;
    }
    run.starts.push(Date.now());
    this.watch(run, child);
    this.options.log.info(`${entry.group}:${entry.tag}: started PID ${child.pid}`);
    return child;
  }

  private watch(run: Run, child: Child): void {
    run.child = child;
    run.state = 'running';
    const startedAt = Date.now();
    this.options.childStarted?.(run.entry.group, child.pid);
    this.persist();
    void child.exited.then((code) => {
      this.options.childEnded?.(run.entry.group, child.pid);
      if (run.child !== child) return;
      run.child = null;
      run.state = code === 0 ? 'done' : 'failed';
      this.persist();
      if (run.entry.mode !== 'respawn' || !run.wanted || this.shuttingDown) return;
      if (Date.now() - startedAt >= HEALTHY_AFTER_MS) run.backoffMs = BACKOFF_FIRST_MS;
      this.respawn(run, code);
    });
  }

  /** Restarts at once, unless the tag restarts too often: then it is held, and retried by itself. */
  private respawn(run: Run, code: number | null): void {
    const now = Date.now();
    run.starts = run.starts.filter((t) => now - t < THROTTLE_WINDOW_MS);
    if (run.starts.length >= THROTTLE_STARTS) {
      this.hold(run, `respawning too rapidly (exit ${code})`);
      return;
    }
    run.restarts++;
    this.spawn(run);
  }

  /** Holds a respawn entry for its backoff, which doubles each time, then tries it again. */
  private hold(run: Run, why: string): void {
    run.state = 'held';
    run.heldUntil = Date.now() + run.backoffMs;
    this.options.log.warn(`${run.entry.group}:${run.entry.tag} ${why}; held for ${run.backoffMs / 1000} s`);
    run.holdTimer = setTimeout(() => {
      run.holdTimer = null;
      if (run.wanted && !this.shuttingDown) {
        run.starts = [];
        run.restarts++;
        this.spawn(run);
      }
    }, run.backoffMs);
    run.backoffMs = Math.min(run.backoffMs * 2, BACKOFF_CAP_MS);
  }

  private async stopRun(run: Run): Promise<TagResult | null> {
    run.wanted = false;
    if (run.holdTimer) clearTimeout(run.holdTimer);
    run.holdTimer = null;
    run.heldUntil = null;
    const child = run.child;
    if (!child) {
      run.state = 'stopped';
      return null;
    }
    run.child = null;
    await stopChild(child, this.options.graceMs);
    run.state = 'stopped';
    this.options.log.info(`${run.entry.group}:${run.entry.tag}: stopped PID ${child.pid}`);
    return { group: run.entry.group, tag: run.entry.tag, action: 'stopped', pid: child.pid };
  }

  /**
   * wait and test run to their end, or are stopped at the file's waitlimit so that the group's
   * next entries and switches go on; the daemon keeps serving meanwhile.
   */
  private async runToEnd(run: Run): Promise<TagResult> {
    const { group, tag, mode } = run.entry;
    const child = this.spawn(run);
    if (typeof child === 'string') return { group, tag, action: 'error', error: child };
    const limitS = this.table.waitLimitS;
    const code = await exitWithin(child, limitS * 1000);
    if (code === 'running') {
      this.options.log.warn(`${group}:${tag}: ${mode} entry did not end within ${limitS} s (:::waitlimit:); stopping PID ${child.pid} and going on with group ${group}`);
      await stopChild(child, this.options.graceMs);
      return { group, tag, action: 'failed', pid: child.pid, error: `did not end within ${limitS} s; stopped (raise :::waitlimit: if it needs longer)` };
    }
    const passed = code === 0;
    return { group, tag, action: mode === 'test' ? (passed ? 'passed' : 'failed') : 'started', pid: child.pid, exitCode: code };
  }

  /** Serialises the work on one group. */
  private inGroupQueue<T>(group: string, work: () => Promise<T>): Promise<T> {
    const previous = this.groupQueues.get(group) ?? Promise.resolve();
    const next = previous.then(work, work);
    this.groupQueues.set(group, next.catch(() => undefined));
    return next;
  }

  /**
   * Brings GROUP to LEVEL: entries that leave the level stop (in parallel), entries that enter
   * start in file order (wait and test to their end), entries in both keep running.
   */
  switchGroup(table: Inittab, group: string, level: string): Promise<TagResult[]> {
    return this.inGroupQueue(group, async () => {
      this.table = table;
      this.levels.set(group, level);
      this.setGroupState(group, level === '0' ? 'stopping' : 'start');
      const entries = table.entries.filter((e) => e.group === group);
      const keys = new Set(entries.map(keyOf));
      const leaving = [
        ...entries.filter((e) => !this.inLevel(e, level)).map((e) => this.runFor(e)),
        ...[...this.runs.values()].filter((r) => r.entry.group === group && !keys.has(keyOf(r.entry))),
      ];
      const results = (await Promise.all(leaving.map((r) => this.stopRun(r)))).filter((r): r is TagResult => r !== null);
      for (const r of [...this.runs.values()]) if (r.entry.group === group && !keys.has(keyOf(r.entry))) this.runs.delete(keyOf(r.entry));
      let failed = false;
      for (const entry of entries.filter((e) => this.inLevel(e, level))) {
        const run = this.runFor(entry);
        const result = await this.enter(run);
        if (result.action === 'failed' || result.action === 'error') failed = true;
        results.push(result);
      }
      this.persist();
      this.setGroupState(group, level === '0' ? 'stopped' : failed ? 'fail' : 'run');
      return results;
    });
  }

  private async enter(run: Run): Promise<TagResult> {
    const { group, tag, mode } = run.entry;
    if (run.wanted) {
      if (mode === 'respawn' && !run.child && !run.holdTimer) {
        return this.started(run);
      }
      if (run.state === 'held') return { group, tag, action: 'held' };
      return { group, tag, action: 'kept', pid: run.child?.pid };
    }
    run.wanted = true;
    run.backoffMs = BACKOFF_FIRST_MS;
    run.starts = [];
    if (mode === 'wait' || mode === 'test') return this.runToEnd(run);
    return this.started(run);
  }

  private started(run: Run): TagResult {
    const { group, tag } = run.entry;
    const child = this.spawn(run);
    return typeof child === 'string' ? { group, tag, action: 'error', error: child } : { group, tag, action: 'started', pid: child.pid };
  }

  /** Re-applies every group's level after the file changed: removed or `off` entries stop. */
  async reread(table: Inittab): Promise<TagResult[]> {
    const results: TagResult[] = [];
    const groups = new Set([...this.levels.keys()]);
    for (const r of this.runs.values()) groups.add(r.entry.group);
    for (const group of groups) results.push(...(await this.switchGroup(table, group, this.levels.get(group) ?? '0')));
    return results;
  }

  /** Stops everything, in parallel. */
  async stopAll(): Promise<TagResult[]> {
    this.shuttingDown = true;
    const results = await Promise.all([...this.runs.values()].map((r) => this.stopRun(r)));
    for (const group of this.levels.keys()) this.groupStates.set(group, 'stopped');
    this.levels.clear();
    this.persist();
    this.publish();
    return results.filter((r): r is TagResult => r !== null);
  }

  /** Whether GROUP has a level or entries here (a group dropped from the file may still run). */
  hasGroup(group: string): boolean {
    return this.levels.has(group) || [...this.runs.values()].some((r) => r.entry.group === group);
  }

  /**
   * Every group of the file and every group seen, with its level (null: never switched) and all
   * its entries, those never started included.
   */
  status(): { groups: Array<{ group: string; level: string | null; state: GroupState }>; entries: EntryStatus[] } {
    const groups = [...new Set([...this.table.groups, ...this.groupStates.keys()])];
    const entries: EntryStatus[] = [...this.runs.values()].map((r) => ({
      group: r.entry.group,
      tag: r.entry.tag,
      mode: r.entry.mode,
      state: r.state,
      pid: r.child?.pid ?? null,
      restarts: r.restarts,
      heldUntil: r.heldUntil ? new Date(r.heldUntil).toISOString() : null,
    }));
    for (const e of this.table.entries) {
      if (!this.runs.has(keyOf(e))) entries.push({ group: e.group, tag: e.tag, mode: e.mode, state: 'stopped', pid: null, restarts: 0, heldUntil: null });
    }
    return {
      groups: groups.map((group) => ({ group, level: this.levels.get(group) ?? null, state: this.groupStates.get(group) ?? 'stopped' })),
      entries,
    };
  }

  private setGroupState(group: string, state: GroupState): void {
    this.groupStates.set(group, state);
    this.publish();
  }

  /** initstat lists every group in the file or seen, level 0 included. */
  private publish(): void {
    const groups = new Set([...this.table.groups, ...this.groupStates.keys()]);
    this.initstat.write(
      [...groups].map((group) => ({ group, state: this.groupStates.get(group) ?? 'stopped', level: this.levels.get(group) ?? '0' })),
    );
  }

  /** The state a restarted daemon adopts: written atomically on every change. */
  private persist(): void {
    const state: PersistedState = {
      levels: Object.fromEntries(this.levels),
      children: [...this.runs.values()]
        .filter((r) => r.child && r.child.pid > 0)
        .map((r) => ({ group: r.entry.group, tag: r.entry.tag, pid: r.child!.pid, startTime: r.child!.startTime })),
    };
    writeFileAtomic(this.options.stateFile, JSON.stringify(state), { createDir: true });
  }
}
