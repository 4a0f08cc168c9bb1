import os from 'node:os';
import { noop } from 'cockatiel';
import { Etcd3, type IKeyValue, type Watcher } from 'etcd3';
import type { Logger } from '../runtime';
import { FenceGuard, monotonicMs } from './fence-guard';
import type { ClusterConfig } from './inittab';

/** How long an etcd request may take before the cluster counts as unreachable. */
const REQUEST_TIMEOUT_MS = 3000;
/** One try on one member: a silent member costs this long, then the client tries another. */
const ATTEMPT_MS = 900;
const RETRY_MS = 500;

export class ClusterUnavailable extends Error {}
/** Another daemon already holds this host's node name. */
export class NodeNameTaken extends Error {}

export interface ClusterHooks {
  /** Brings a group to the level this host should run it at. */
  apply(group: string, level: string): Promise<unknown>;
  /** What this host reports about itself under its host key. */
  report(): unknown;
}

export interface ClusterGroupInfo {
  group: string;
  /** The level the cluster wants; null: none was ever set. */
  desired: string | null;
  single: boolean;
  /** Single-host groups: the node that holds the election, null when none does. */
  leader?: string | null;
  /** Single-host groups: this host leads on a claim whose deadline has not passed. */
  claimLive?: boolean;
}

export interface ClusterInfo {
  node: string;
  endpoints: string[];
  /** etcd confirmed this host's keep-alive within the last keep-alive period and a half. */
  reachable: boolean;
  /** When etcd last answered a keep-alive of this host (the time it was sent). */
  lastKeepAlive: string | null;
  /** When this host's claim ends unless renewed: its single-host entries are killed then. */
  claimDeadline: string | null;
  leaseId: string | null;
  leaseTtlS: number;
  marginMs: number;
  /** Single-host groups this host runs now. */
  leading: string[];
  single: string[];
  /** Elections this host takes part in now: at most one per single-host group. */
  campaigns: number;
  /** The process that kills this host's single-host entries at the claim's deadline. */
  fenceGuardPid: number | null;
  groups: ClusterGroupInfo[];
  error?: string;
}

/** Rejects with ClusterUnavailable, naming the endpoints, when `work` fails or takes too long. */
function withTimeout<T>(work: Promise<T>, what: string, endpoints: string[], ms = REQUEST_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ClusterUnavailable(`${what}: no answer from etcd at ${endpoints.join(', ')} within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer)).catch((err: unknown) => {
    if (err instanceof ClusterUnavailable) throw err;
    throw new ClusterUnavailable(`${what}: etcd at ${endpoints.join(', ')} ${readable(err as Error)}`);
  });
}

/** The etcd client's failures, said as an operator would look for them. */
function readable(err: Error): string {
  if (/circuit breaker is open/i.test(err.message)) return 'refused or failed every recent request (retrying in the background)';
  if (/ECONNREFUSED|No connection established|UNAVAILABLE/i.test(err.message)) return `is unreachable (${err.message.split('\n')[0]})`;
  if (/DEADLINE_EXCEEDED/.test(err.message)) return `did not answer within ${ATTEMPT_MS} ms on any member tried`;
  return `failed: ${err.message.split('\n')[0]}`;
}

const wallOf = (mono: number) => new Date(Date.now() - (monotonicMs() - mono)).toISOString();

/**
 * One lease of this host in etcd, kept alive by single keep-alive requests, one at a time, each
 * on its own stream, so that each answer proves the lease alive at the moment its request left.
 * Every election key and the host key hang on it; when it ends, all of them end with it.
 */
class Session {
  readonly ttlMs: number;
  /** Monotonic time the last confirmed keep-alive (or the grant) was sent. */
  confirmedAt: number;
  answeredAt: number;
  live = true;
  readonly ended: Promise<string>;
  private end!: (why: string) => void;
  private timer: NodeJS.Timeout | null = null;

  /** Which member the keep-alives go to now. */
  private member = 0;

  constructor(
    private readonly members: Etcd3[],
    readonly id: string,
    grantedTtlS: number,
    sentAt: number,
    private readonly marginMs: number,
    private readonly softLeadMs: number,
    private readonly onRenewed: (s: Session) => void,
  ) {
    this.ttlMs = grantedTtlS * 1000;
    this.confirmedAt = sentAt;
    this.answeredAt = monotonicMs();
    this.ended = new Promise((resolve) => (this.end = resolve));
    this.schedule();
  }

  /** After this, etcd may already have given this host's elections to others: nothing may run. */
  get deadline(): number {
    return this.confirmedAt + this.ttlMs - this.marginMs;
  }

  /** The daemon gives its claim up at this point, so its own stop ends before the guard's kill. */
  get softDeadline(): number {
    return this.deadline - this.softLeadMs;
  }

  /** A lease that etcd can no longer hold: the keys of this session have certainly gone. */
  get expiredAtEtcdBy(): number {
    return this.confirmedAt + this.ttlMs + this.marginMs;
  }

  private schedule(afterFailure = false): void {
    if (!this.live) return;
    this.timer = setTimeout(() => void this.keepAlive(), afterFailure ? 50 : this.ttlMs / 6);
  }

  private async keepAlive(): Promise<void> {
    if (!this.live) return;
    if (monotonicMs() >= this.softDeadline) return this.close(`no keep-alive confirmed since ${wallOf(this.confirmedAt)}`);
    const sentAt = monotonicMs();
    let failed = false;
    try {
      // An answer takes milliseconds: a short try leaves time for more before the soft deadline,
      // each on the next member.
      const ttl = await this.keepAliveOnce(Math.max(100, Math.min(this.ttlMs / 12, (this.softDeadline - sentAt) / 2)));
      if (!this.live) return;
      if (ttl <= 0) return this.close('etcd reports the lease expired');
      this.confirmedAt = sentAt;
      this.answeredAt = monotonicMs();
      this.onRenewed(this);
    } catch {
      // Counted by the deadline; the next try goes to the next member, at once.
      this.member = (this.member + 1) % this.members.length;
      failed = true;
    }
    if (monotonicMs() >= this.softDeadline) return this.close(`no keep-alive confirmed since ${wallOf(this.confirmedAt)}`);
    this.schedule(failed);
  }

  private async keepAliveOnce(ms: number): Promise<number> {
    const stream = await withTimeout(this.members[this.member]!.leaseClient.leaseKeepAlive(), 'keep-alive', [], ms);
    try {
      return await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('keep-alive timed out')), ms);
        stream.on('data', (res: { TTL: string }) => {
          clearTimeout(timer);
          resolve(Number(res.TTL));
        });
        stream.on('error', (err: Error) => {
          clearTimeout(timer);
          reject(err);
        });
        stream.write({ ID: this.id });
      });
    } finally {
      // Cancelled, not just ended: a stream stuck behind a silent network must not pile up.
      (stream as unknown as { cancel?: () => void }).cancel?.();
    }
  }

  close(why: string): void {
    if (!this.live) return;
    this.live = false;
    if (this.timer) clearTimeout(this.timer);
    this.end(why);
  }
}

/**
 * Hosts that share desired runlevels through etcd v3, under the flavor's prefix (Layout's
 * etcdPrefix): `levels/<group>`, `elect/<group>`, `hosts/<node>`. Everything this host claims hangs
 * on one lease (a Session); single-host groups run here only while that lease is provably alive,
 * and a separate guard process kills them at the claim's deadline even if this daemon cannot.
 * Each session is followed to its end before the next one starts, so there is one election per
 * single-host group per host, and one lease per host, whatever fails.
 */
export class Cluster {
  readonly node: string;
  private readonly client: Etcd3;
  private readonly desired = new Map<string, string>();
  /**
   * The etcd revision at which each group's level in `desired` was known to hold (a read's, a
   * write's); groups not in it are known as of `levelsReadAt`. Only a later revision changes it.
   */
  private readonly levelAsOf = new Map<string, number>();
  private levelsReadAt = 0;
  /** Groups whose level the watch reported changed, being read afresh; true: changed again meanwhile. */
  private readonly confirming = new Map<string, boolean>();
  private readonly leaders = new Map<string, string>();
  private readonly leading = new Set<string>();
  /** Single-host groups whose election key this host is asking for now, in the current session. */
  private readonly asking = new Set<string>();
  /** Single-host groups this host lost to another and waits on, in the current session. */
  private readonly waiting = new Set<string>();
  /** Election keys deleted while this host's try was under way: its answer may be stale. */
  private readonly deletedWhileAsking = new Set<string>();
  private readonly pendingApply = new Set<string>();
  /**
   * Groups whose level a request on this host is writing now, and whether the watch brought a
   * change of them meanwhile: that request applies the level itself and reports what it did.
   */
  private readonly writing = new Map<string, boolean>();
  private readonly ttlS: number;
  private readonly marginMs: number;
  /** How long before the deadline the daemon gives its claim up, to stop its entries itself. */
  private readonly softLeadMs: number;
  private readonly memberClients: Etcd3[];
  private readonly guard: FenceGuard;
  private session: Session | null = null;
  private watcher: Watcher | null = null;
  private closed = false;
  private fatal: string | null = null;
  private reportTimer: NodeJS.Timeout | null = null;
  private loop: Promise<void> | null = null;
  private closeNow!: (why: string) => void;
  private readonly closing = new Promise<string>((resolve) => (this.closeNow = resolve));

  constructor(
    private readonly config: ClusterConfig,
    private readonly prefix: string,
    private readonly instance: { runDir: string; socket: string },
    private readonly log: Logger,
    private readonly hooks: ClusterHooks,
    graceMs: number,
  ) {
    this.node = config.node ?? os.hostname();
    this.ttlS = config.leaseTtlS;
    // Covers the kill's latency and clock rate differences between this host and etcd's leader.
    this.marginMs = Math.max(500, (this.ttlS * 1000) / 4);
    this.softLeadMs = Math.min(graceMs, (this.ttlS * 1000) / 4);
    this.client = new Etcd3({
      hosts: config.endpoints,
      dialTimeout: REQUEST_TIMEOUT_MS,
      // Per try, so that the client's retries move on to another member in time.
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + ATTEMPT_MS }),
      // A member gone silent under the watch is noticed; etcd drops clients that ping more often
      // than every 5 s, so well above that.
      grpcOptions: { 'grpc.keepalive_time_ms': 10000, 'grpc.keepalive_timeout_ms': 3000 },
    });
    // Keep-alives go to one member at a time, the next one after a failure: a silent member
    // must not take the claim down while the others answer.
    // No circuit breaker there: it would hold a member closed for 5 s after etcd came back.
    this.memberClients = config.endpoints.map(
      (host) => new Etcd3({ hosts: [host], dialTimeout: REQUEST_TIMEOUT_MS, faultHandling: { host: () => noop, global: noop } }),
    );
    this.guard = new FenceGuard(log);
  }

  private isSingle(group: string): boolean {
    return this.config.single.includes(group);
  }

  /** The level this host runs a group at: the cluster's, or 0 for a single-host group not led here. */
  effectiveLevel(group: string): string {
    if (this.isSingle(group) && !this.claimLive(group)) return '0';
    return this.desired.get(group) ?? '0';
  }

  private claimLive(group: string): boolean {
    const s = this.session;
    return this.leading.has(group) && s !== null && s.live && monotonicMs() < s.softDeadline;
  }

  /** Why an entry of GROUP may not start now; null when it may. */
  startRefusal(group: string): string | null {
    if (!this.isSingle(group)) return null;
    if (!this.claimLive(group)) return `${group} is a single-host group and this host holds no live claim on it`;
    if (!this.guard.running) return `${group} is a single-host group and its fence guard is not running`;
    return null;
  }

  /** The guard kills a single-host entry's process group when the claim lapses. */
  childStarted(group: string, pid: number): void {
    if (this.isSingle(group)) this.guard.hold(pid);
  }

  childEnded(group: string, pid: number): void {
    if (this.isSingle(group)) this.guard.release(pid);
  }

  leaderOf(group: string): string | null {
    return this.leaders.get(group) ?? null;
  }

  /** Groups the cluster has a level for. */
  groups(): string[] {
    return [...new Set([...this.desired.keys(), ...this.config.single])];
  }

  info(tableGroups: string[] = []): ClusterInfo {
    const s = this.session?.live ? this.session : null;
    const names = [...new Set([...tableGroups, ...this.groups()])];
    return {
      node: this.node,
      endpoints: this.config.endpoints,
      reachable: s !== null && monotonicMs() - s.answeredAt < (s.ttlMs / 6) * 1.5 + 1000,
      lastKeepAlive: s ? wallOf(s.confirmedAt) : null,
      claimDeadline: s ? wallOf(s.deadline) : null,
      leaseId: s?.id ?? null,
      leaseTtlS: this.ttlS,
      marginMs: this.marginMs,
      leading: [...this.leading].filter((g) => this.claimLive(g)).sort(),
      single: this.config.single,
      campaigns: new Set([...this.asking, ...this.waiting, ...this.leading]).size,
      fenceGuardPid: this.guard.pid,
      groups: names.map((group) => ({
        group,
        desired: this.desired.get(group) ?? null,
        single: this.isSingle(group),
        ...(this.isSingle(group) ? { leader: this.leaderOf(group), claimLive: this.claimLive(group) } : {}),
      })),
      ...(this.fatal ? { error: this.fatal } : {}),
    };
  }

  /**
   * Joins in the background. Resolves once the first attempt has claimed the node name or found
   * etcd unreachable (the host then keeps the levels it had); rejects when the name is taken.
   */
  start(): Promise<void> {
    if (this.config.single.length) this.guard.start();
    return new Promise((resolve, reject) => {
      this.loop = this.run((err) => (err ? reject(err) : resolve()));
    });
  }

  private async run(firstAttempt: (err?: Error) => void): Promise<void> {
    let told = false;
    const tell = (err?: Error) => {
      if (!told) firstAttempt(err);
      told = true;
    };
    while (!this.closed) {
      let session: Session | null = null;
      try {
        session = await this.openSession();
        await this.claimNode(session);
        tell();
        await this.follow(session);
        const why = await Promise.race([session.ended, this.closing]);
        this.log.warn(`cluster: claim of node ${this.node} lost (${why}); stopping its single-host groups here`);
      } catch (err) {
        if (err instanceof NodeNameTaken) {
          this.fatal = err.message;
          this.log.error(`cluster: ${err.message}`);
          tell(err);
          this.closed = true;
          session?.close('node name taken');
          break;
        }
        if (!this.closed) this.log.warn(`cluster: ${(err as Error).message}; keeping the levels this host knows, retrying`);
        tell();
      }
      await this.endSession(session);
      if (!this.closed) await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }

  private async openSession(): Promise<Session> {
    const sentAt = monotonicMs();
    const granted = await withTimeout(this.client.leaseClient.leaseGrant({ TTL: this.ttlS, ID: 0 }), 'granting a lease', this.config.endpoints);
    // etcd may raise a TTL below its minimum, never lower it; the lower one is the safe one.
    const session = new Session(this.memberClients, String(granted.ID), Math.min(this.ttlS, Number(granted.TTL)), sentAt, this.marginMs, this.softLeadMs, (s) => this.renewed(s));
    this.session = session;
    this.guard.setDeadline(session.deadline);
    return session;
  }

  private renewed(s: Session): void {
    if (this.session === s) this.guard.setDeadline(s.deadline);
  }

  private record(): string {
    const addresses = Object.values(os.networkInterfaces())
      .flat()
      .filter((a) => a && a.family === 'IPv4')
      .map((a) => a!.address);
    return JSON.stringify({
      node: this.node,
      host: os.hostname(),
      addresses,
      pid: process.pid,
      instance: this.instance,
      leading: [...this.leading],
      ...(this.hooks.report() as object),
      updated: new Date().toISOString(),
    });
  }

  /** Puts the host key under this session, unless another daemon holds the name. */
  private async claimNode(session: Session): Promise<void> {
    const key = `${this.prefix}hosts/${this.node}`;
    for (;;) {
      const answer = await withTimeout(
        this.client.if(key, 'Create', '==', 0).then(this.client.put(key).value(this.record()).lease(session.id)).else(this.client.get(key)).commit(),
        `claiming node name ${this.node}`,
        this.config.endpoints,
      );
      if (answer.succeeded) return;
      const kv = answer.responses[0]?.response_range?.kvs[0] as IKeyValue | undefined;
      if (!kv) continue;
      // Put by an earlier try of this very claim (timed out on one member, retried on another).
      if (kv.lease === session.id) return;
      let other: { host?: string; addresses?: string[]; pid?: number; instance?: { runDir: string } } = {};
      try {
        other = JSON.parse(kv.value.toString()) as typeof other;
      } catch {
        // Not a record of ours: still taken.
      }
      if (other.host === os.hostname() && other.instance?.runDir === this.instance.runDir) {
        // This daemon's own record from before a crash: its lease runs out by itself.
        if (!session.live || this.closed) throw new ClusterUnavailable('the claim ended while waiting for the previous record to expire');
        await new Promise((r) => setTimeout(r, RETRY_MS));
        continue;
      }
      throw new NodeNameTaken(
        `node name "${this.node}" is already used by the isinit daemon on ${other.host ?? 'an unknown host'}` +
          `${other.addresses?.length ? ` (${other.addresses.join(', ')})` : ''}${other.pid ? `, PID ${other.pid}` : ''}; ` +
          'give each host its own :::node: name',
      );
    }
  }

  /** Reads the whole prefix and watches it from there on: levels, elections and hosts. */
  private async follow(session: Session): Promise<void> {
    const current = await withTimeout(this.client.getAll().prefix(this.prefix).exec(), 'reading the cluster levels', this.config.endpoints);
    if (this.session !== session || !session.live) return;
    // The current levels replace all this host knew: what it missed is never replayed.
    const readAt = Number(current.header.revision);
    this.desired.clear();
    this.levelAsOf.clear();
    this.levelsReadAt = readAt;
    this.leaders.clear();
    for (const kv of current.kvs) {
      const { kind, name } = this.parseKey(kv.key.toString());
      if (kind === 'levels') this.desired.set(name, kv.value.toString());
      else if (kind === 'elect') this.leaders.set(name, kv.value.toString());
    }
    const watcher = await withTimeout(
      this.client.watch().prefix(this.prefix).startRevision(String(readAt + 1)).create(),
      'watching the cluster levels',
      this.config.endpoints,
    );
    if (this.session !== session || !session.live) {
      watcher.cancel().catch(() => undefined);
      return;
    }
    this.watcher = watcher;
    // Only the current session's watch counts: an earlier one whose cancel waits behind a cut
    // link delivers, when the link comes back, changes this host has not read afresh.
    watcher.on('put', (kv) => this.watcher === watcher && this.seen(kv, kv.value.toString(), session));
    watcher.on('delete', (kv) => this.watcher === watcher && this.seen(kv, null, session));
    // A watch that lost its stream may replay history when it comes back: the session starts over.
    watcher.on('disconnected', () => session.close('the watch of the cluster lost its connection'));
    this.log.info(`cluster: node ${this.node} joined through ${this.config.endpoints.join(', ')} (lease ${session.id}, ${session.ttlMs / 1000} s); levels ${JSON.stringify(Object.fromEntries(this.desired))}`);
    for (const group of new Set([...this.groups(), ...this.pendingApply])) this.scheduleApply(group);
    for (const group of this.config.single) void this.campaign(group, session);
    this.scheduleReport();
  }

  private parseKey(key: string): { kind: string; name: string } {
    const rest = key.slice(this.prefix.length);
    const slash = rest.indexOf('/');
    return { kind: rest.slice(0, slash), name: rest.slice(slash + 1) };
  }

  private seen(kv: IKeyValue, value: string | null, session: Session): void {
    const { kind, name } = this.parseKey(kv.key.toString());
    if (kind === 'levels') {
      // A change this host already knows of, or older than what it knows, is history.
      if (Number(kv.mod_revision) > this.knownAsOf(name)) void this.confirmLevel(name, session);
    } else if (kind === 'elect') {
      if (value === null) {
        this.leaders.delete(name);
        if (this.asking.has(name)) this.deletedWhileAsking.add(name);
        if (this.isSingle(name)) void this.campaign(name, session);
      } else this.leaders.set(name, value);
    }
  }

  private knownAsOf(group: string): number {
    return this.levelAsOf.get(group) ?? this.levelsReadAt;
  }

  /** Takes GROUP's level as known at etcd revision AT, unless a later one is known; true when taken. */
  private learnLevel(group: string, level: string | null, at: number): boolean {
    if (at <= this.knownAsOf(group)) return false;
    this.levelAsOf.set(group, at);
    if (level === null) this.desired.delete(group);
    else this.desired.set(group, level);
    return true;
  }

  /**
   * A watch event only says that GROUP's level changed: the level applied is the one a fresh read
   * returns, so an event delivered late (held by a slow or cut link) never brings back a level the
   * cluster has left. Events that come while a read is under way make one more read.
   */
  private async confirmLevel(group: string, session: Session): Promise<void> {
    if (this.confirming.has(group)) {
      this.confirming.set(group, true);
      return;
    }
    try {
      for (;;) {
        this.confirming.set(group, false);
        let read;
        try {
          read = await withTimeout(this.client.get(`${this.prefix}levels/${group}`).exec(), `reading the level of ${group}`, this.config.endpoints);
        } catch (err) {
          // The next session reads every level afresh; until then the level known stays.
          if (this.session !== session || !session.live) return;
          this.log.warn(`cluster: ${(err as Error).message}; reading it again`);
          await new Promise((r) => setTimeout(r, RETRY_MS));
          continue;
        }
        const kv = read.kvs[0];
        if (this.learnLevel(group, kv ? kv.value.toString() : null, Number(read.header.revision))) {
          if (this.writing.has(group)) this.writing.set(group, true);
          else this.scheduleApply(group);
        }
        if (!this.confirming.get(group)) return;
      }
    } finally {
      this.confirming.delete(group);
    }
  }

  /** Applies a group's level as it is when the work runs: several changes make one switch. */
  private scheduleApply(group: string): void {
    if (this.pendingApply.has(group)) return;
    this.pendingApply.add(group);
    setImmediate(() => {
      this.pendingApply.delete(group);
      void this.hooks
        .apply(group, this.effectiveLevel(group))
        .catch((err: Error) => this.log.error(`cluster: applying ${group} at level ${this.effectiveLevel(group)} failed: ${err.message}`))
        .finally(() => this.scheduleReport());
    });
  }

  /**
   * Tries once to take GROUP's election key under SESSION; a lost try waits for the key's
   * deletion (the watch calls again). A win counts only for the current, live session.
   */
  private async campaign(group: string, session: Session): Promise<void> {
    if (this.asking.has(group) || this.leading.has(group) || this.session !== session || !session.live || this.closed) return;
    this.asking.add(group);
    this.waiting.delete(group);
    this.deletedWhileAsking.delete(group);
    const key = `${this.prefix}elect/${group}`;
    try {
      const answer = await withTimeout(
        this.client.if(key, 'Create', '==', 0).then(this.client.put(key).value(this.node).lease(session.id)).else(this.client.get(key)).commit(),
        `campaigning for ${group}`,
        this.config.endpoints,
      );
      if (this.session !== session || !session.live) return;
      const holder = answer.responses[0]?.response_range?.kvs[0] as IKeyValue | undefined;
      // The key may be this host's own: put by a try that timed out on one member and was retried.
      if (answer.succeeded || holder?.lease === session.id) {
        this.leaders.set(group, this.node);
        if (monotonicMs() >= session.softDeadline) return;
        this.leading.add(group);
        this.log.notice(`cluster: node ${this.node} elected for single-host group ${group} (claim until ${wallOf(session.deadline)})`);
        this.scheduleApply(group);
        this.scheduleReport();
        return;
      }
      if (holder && !this.deletedWhileAsking.has(group)) {
        this.leaders.set(group, holder.value.toString());
        this.waiting.add(group);
      } else setImmediate(() => void this.campaign(group, session));
    } catch (err) {
      // One failure ends the session: the next session campaigns again, from a clean state.
      session.close(`campaign for ${group}: ${(err as Error).message}`);
    } finally {
      if (this.session === session) this.asking.delete(group);
    }
  }

  /** Stops what the session allowed, then lets etcd know, then forgets it. */
  private async endSession(session: Session | null): Promise<void> {
    if (!session) return;
    session.close('ended');
    const wasLeading = [...this.leading];
    this.leading.clear();
    this.asking.clear();
    this.waiting.clear();
    this.deletedWhileAsking.clear();
    for (const group of this.config.single) this.leaders.delete(group);
    this.watcher?.cancel().catch(() => undefined);
    this.watcher = null;
    // The entries stop before the lease goes: revoking frees the elections for the other hosts.
    await Promise.all(wasLeading.map((group) => this.hooks.apply(group, '0').catch(() => undefined)));
    if (this.session === session) this.session = null;
    await withTimeout(this.client.leaseClient.leaseRevoke({ ID: session.id }), 'revoking the lease', this.config.endpoints, 1000).catch(() => undefined);
  }

  private scheduleReport(): void {
    if (this.reportTimer || !this.session?.live) return;
    this.reportTimer = setTimeout(() => {
      this.reportTimer = null;
      const s = this.session;
      if (!s?.live) return;
      const key = `${this.prefix}hosts/${this.node}`;
      // Only over this host's own record: a name taken meanwhile stays the other's.
      this.client.if(key, 'Lease', '==', s.id).then(this.client.put(key).value(this.record()).lease(s.id)).commit().catch(() => undefined);
    }, 50);
  }

  /**
   * Sets a group's level for every host, guarded by this host's lease: when etcd does not answer,
   * the session is given up and the answer waits until the lease has certainly expired in etcd,
   * so a refused switch can never be applied later.
   */
  async setLevel(group: string, level: string): Promise<void> {
    this.writing.set(group, false);
    try {
      await this.writeLevel(group, level);
    } catch (err) {
      // The request fails and applies nothing: a change the watch held back is applied here.
      if (this.writing.get(group)) this.scheduleApply(group);
      throw err;
    } finally {
      this.writing.delete(group);
    }
  }

  private async writeLevel(group: string, level: string, retried = false): Promise<void> {
    const s = this.session;
    if (this.fatal) throw new ClusterUnavailable(`not in the cluster: ${this.fatal}`);
    if (!s?.live) throw new ClusterUnavailable(`setting ${group} to level ${level}: this host is not connected to etcd at ${this.config.endpoints.join(', ')} now; nothing was changed`);
    const hostKey = `${this.prefix}hosts/${this.node}`;
    const key = `${this.prefix}levels/${group}`;
    let answer;
    try {
      answer = await withTimeout(
        this.client.if(hostKey, 'Lease', '==', s.id).then(this.client.put(key).value(level)).commit(),
        `setting ${group} to level ${level}`,
        this.config.endpoints,
      );
    } catch (err) {
      s.close(`a switch got no answer: ${(err as Error).message}`);
      const wait = s.expiredAtEtcdBy - monotonicMs();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      throw new ClusterUnavailable(`${(err as Error).message}; this host's lease has expired since, so the switch will never apply`);
    }
    if (!answer.succeeded) {
      // The claim was renewed under a new lease meanwhile: this answer is final, so one more try is safe.
      if (!retried && this.session !== s && this.session?.live) return this.writeLevel(group, level, true);
      throw new ClusterUnavailable(`setting ${group} to level ${level}: this host's lease in etcd had expired; nothing was changed`);
    }
    // A later level this host already read stays: the later command wins.
    this.learnLevel(group, level, Number(answer.header.revision));
  }

  /** Single-host groups this host leads; they must stop here before another host may take them. */
  leadingGroups(): string[] {
    return [...this.leading];
  }

  /** Leaves the cluster: gives up elections (after the caller stopped their groups) and the host record. */
  async close(): Promise<void> {
    if (this.closed && !this.loop) return;
    this.closed = true;
    if (this.reportTimer) clearTimeout(this.reportTimer);
    this.closeNow('leaving the cluster');
    const loop = this.loop;
    this.loop = null;
    this.session?.close('leaving the cluster');
    await loop;
    this.guard.close();
    this.client.close();
    for (const c of this.memberClients) c.close();
  }
}
