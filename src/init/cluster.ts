import os from 'node:os';
import { Etcd3, type Campaign, type Lease, type Watcher } from 'etcd3';
import type { Logger } from '../runtime';
import type { ClusterConfig } from './inittab';

/** How long an etcd request may take before the cluster counts as unreachable. */
const REQUEST_TIMEOUT_MS = 3000;
/** A leader that stops renewing loses a single-host group after this long; another host takes it. */
const ELECTION_TTL_S = 2;
/** A host that stops renewing disappears from the host list after this long. */
const HOST_TTL_S = 5;
const RETRY_MS = 1000;

export class ClusterUnavailable extends Error {}

export interface ClusterHooks {
  /** Brings a group to the level this host should run it at. */
  apply(group: string, level: string): Promise<unknown>;
  /** What this host reports about itself under its host key. */
  report(): unknown;
}

export interface ClusterInfo {
  node: string;
  endpoints: string[];
  reachable: boolean;
  /** Single-host groups this host runs now. */
  leading: string[];
  single: string[];
}

function withTimeout<T>(work: Promise<T>, what: string, endpoints: string[]): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ClusterUnavailable(`${what}: no answer from etcd at ${endpoints.join(', ')} within ${REQUEST_TIMEOUT_MS} ms`)), REQUEST_TIMEOUT_MS);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer)).catch((err: unknown) => {
    if (err instanceof ClusterUnavailable) throw err;
    throw new ClusterUnavailable(`${what}: etcd at ${endpoints.join(', ')} failed: ${(err as Error).message}`);
  });
}

/**
 * Hosts that share desired runlevels through etcd v3. Each group's level lives under
 * `/flavorkit/<flavor>/isinit/levels/<group>`; every host watches that prefix and applies what it
 * sees. A single-host group runs only on the host elected for it; the others hold it at level 0.
 * Each host keeps a record of itself under a lease, so a host that dies drops out by itself.
 * While etcd is unreachable a host keeps the last levels it knew, and a leader whose election
 * lease is lost stops its single-host groups (seconds after etcd may have elected another host:
 * see docs/isinit-cluster.md for that window).
 */
export class Cluster {
  readonly node: string;
  private readonly prefix: string;
  private readonly client: Etcd3;
  private readonly desired = new Map<string, string>();
  private readonly leading = new Set<string>();
  private readonly campaigns = new Map<string, Campaign>();
  private watcher: Watcher | null = null;
  private hostLease: Lease | null = null;
  private reachable = false;
  private closed = false;
  private reportTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly config: ClusterConfig,
    flavor: string,
    private readonly log: Logger,
    private readonly hooks: ClusterHooks,
  ) {
    this.node = config.node ?? os.hostname();
    this.prefix = `/flavorkit/${flavor}/isinit/`;
    this.client = new Etcd3({ hosts: config.endpoints, dialTimeout: REQUEST_TIMEOUT_MS });
  }

  private isSingle(group: string): boolean {
    return this.config.single.includes(group);
  }

  /** The level this host runs a group at: the cluster's, or 0 for a single-host group led elsewhere. */
  effectiveLevel(group: string): string {
    if (this.isSingle(group) && !this.leading.has(group)) return '0';
    return this.desired.get(group) ?? '0';
  }

  /** Groups the cluster has a level for. */
  groups(): string[] {
    return [...new Set([...this.desired.keys(), ...this.config.single])];
  }

  info(): ClusterInfo {
    return { node: this.node, endpoints: this.config.endpoints, reachable: this.reachable, leading: [...this.leading].sort(), single: this.config.single };
  }

  /** Connects in the background: until etcd answers, the host keeps the levels it had. */
  start(): void {
    void this.connect();
  }

  private async connect(): Promise<void> {
    while (!this.closed) {
      try {
        const levels = this.prefix + 'levels/';
        const current = await withTimeout(this.client.getAll().prefix(levels).exec(), 'reading the cluster levels', this.config.endpoints);
        for (const kv of current.kvs) this.desired.set(kv.key.toString().slice(levels.length), kv.value.toString());
        this.watcher = await withTimeout(
          this.client.watch().prefix(levels).startRevision(String(Number(current.header.revision) + 1)).create(),
          'watching the cluster levels',
          this.config.endpoints,
        );
        this.watcher.on('put', (kv) => this.changed(kv.key.toString().slice(levels.length), kv.value.toString()));
        this.watcher.on('delete', (kv) => this.changed(kv.key.toString().slice(levels.length), null));
        this.watcher.on('connected', () => this.setReachable(true));
        this.watcher.on('disconnected', () => this.setReachable(false));
        this.setReachable(true);
        this.log.info(`cluster: node ${this.node} joined through ${this.config.endpoints.join(', ')}; levels ${JSON.stringify(Object.fromEntries(this.desired))}`);
        for (const group of this.groups()) void this.apply(group);
        for (const group of this.config.single) this.campaign(group);
        this.keepHostRecord();
        return;
      } catch (err) {
        this.setReachable(false);
        this.log.warn(`cluster: ${(err as Error).message}; keeping the levels this host knows, retrying`);
        this.watcher?.cancel().catch(() => undefined);
        this.watcher = null;
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }

  private setReachable(on: boolean): void {
    if (this.reachable !== on) this.log.info(`cluster: etcd ${on ? 'reachable' : 'unreachable'}`);
    this.reachable = on;
  }

  private changed(group: string, level: string | null): void {
    // A level this host already holds (its own request, applied by that request) changes nothing.
    if (level !== null && this.desired.get(group) === level) return;
    if (level === null) this.desired.delete(group);
    else this.desired.set(group, level);
    void this.apply(group);
  }

  private async apply(group: string): Promise<void> {
    try {
      await this.hooks.apply(group, this.effectiveLevel(group));
    } catch (err) {
      this.log.error(`cluster: applying ${group} at level ${this.effectiveLevel(group)} failed: ${(err as Error).message}`);
    }
    this.scheduleReport();
  }

  private campaign(group: string): void {
    if (this.closed) return;
    const campaign = this.client.election(`${this.prefix}elect/${group}`, ELECTION_TTL_S).campaign(this.node);
    this.campaigns.set(group, campaign);
    campaign.on('elected', () => {
      this.leading.add(group);
      this.log.notice(`cluster: node ${this.node} elected for single-host group ${group}`);
      void this.apply(group);
    });
    campaign.on('error', (err) => {
      const wasLeading = this.leading.delete(group);
      this.campaigns.delete(group);
      if (this.closed) return;
      this.log.warn(`cluster: election for ${group} lost (${err.message})${wasLeading ? '; stopping it here' : ''}`);
      if (wasLeading) void this.apply(group);
      setTimeout(() => this.campaign(group), RETRY_MS);
    });
  }

  private keepHostRecord(): void {
    if (this.closed) return;
    const lease = this.client.lease(HOST_TTL_S);
    this.hostLease = lease;
    lease.on('lost', () => {
      if (this.hostLease === lease && !this.closed) setTimeout(() => this.keepHostRecord(), RETRY_MS);
    });
    this.scheduleReport();
  }

  private scheduleReport(): void {
    if (this.reportTimer || !this.hostLease) return;
    this.reportTimer = setTimeout(() => {
      this.reportTimer = null;
      const record = JSON.stringify({ node: this.node, pid: process.pid, leading: [...this.leading], ...(this.hooks.report() as object), updated: new Date().toISOString() });
      this.hostLease?.put(`${this.prefix}hosts/${this.node}`).value(record).catch(() => undefined);
    }, 50);
  }

  /** Sets a group's level for every host. Refused, with the level unchanged, when etcd does not answer. */
  async setLevel(group: string, level: string): Promise<void> {
    // Held before the write: the watch may report it before the write's own answer arrives.
    const previous = this.desired.get(group);
    this.desired.set(group, level);
    try {
      await withTimeout(this.client.put(`${this.prefix}levels/${group}`).value(level).exec(), `setting ${group} to level ${level}`, this.config.endpoints);
    } catch (err) {
      if (previous === undefined) this.desired.delete(group);
      else this.desired.set(group, previous);
      throw err;
    }
  }

  /** Single-host groups this host leads; they must stop here before another host may take them. */
  leadingGroups(): string[] {
    return [...this.leading];
  }

  /** Leaves the cluster: gives up elections (after the caller stopped their groups) and the host record. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.reportTimer) clearTimeout(this.reportTimer);
    const quietly = (p: Promise<unknown> | undefined) => (p ? withTimeout(p, 'leaving the cluster', this.config.endpoints).catch(() => undefined) : undefined);
    await Promise.all([...this.campaigns.values()].map((c) => quietly(c.resign())));
    await quietly(this.hostLease?.revoke());
    await quietly(this.watcher?.cancel());
    this.client.close();
  }
}
