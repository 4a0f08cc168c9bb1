import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { freePort, isAlive, killAndWait, tempDir, waitFor } from './process';

function healthy(endpoint: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(`${endpoint}/health`, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 && body.includes('true')));
    });
    req.on('error', () => resolve(false));
    req.setTimeout(1000, () => req.destroy());
  });
}

interface Member {
  name: string;
  client: number;
  peer: number;
  pid: number;
}

/**
 * A private etcd cluster (Debian's etcd-server) on loopback, with its data in a temp dir: one
 * member by default, or several; members can be killed and started again on their own data.
 */
export class EtcdCluster {
  readonly dir = tempDir('etcd');
  readonly members: Member[] = [];

  constructor(private readonly size = 1) {}

  endpointOf(i: number): string {
    return `http://127.0.0.1:${this.members[i]!.client}`;
  }

  get endpoints(): string[] {
    return this.members.map((_, i) => this.endpointOf(i));
  }

  async start(): Promise<void> {
    for (let i = 0; i < this.size; i++) this.members.push({ name: `m${i}`, client: await freePort(), peer: await freePort(), pid: 0 });
    for (let i = 0; i < this.size; i++) this.startMember(i);
    await Promise.all(this.members.map((_, i) => waitFor(`etcd member ${i} to answer /health`, () => healthy(this.endpointOf(i)), 30000)));
  }

  private startMember(i: number): void {
    const m = this.members[i]!;
    const url = this.endpointOf(i);
    const peerOf = (x: Member) => `http://127.0.0.1:${x.peer}`;
    const log = fs.openSync(path.join(this.dir, `${m.name}.log`), 'a');
    const child = spawn(
      'etcd',
      [
        '--name', m.name, '--data-dir', path.join(this.dir, m.name),
        '--listen-client-urls', url, '--advertise-client-urls', url,
        '--listen-peer-urls', peerOf(m), '--initial-advertise-peer-urls', peerOf(m),
        '--initial-cluster', this.members.map((x) => `${x.name}=${peerOf(x)}`).join(','),
        '--initial-cluster-token', path.basename(this.dir),
      ],
      { stdio: ['ignore', log, log], detached: true },
    );
    fs.closeSync(log);
    child.unref();
    if (!child.pid) throw new Error('etcd did not start: is etcd-server installed (apt-get install etcd-server)?');
    m.pid = child.pid;
  }

  /** Kills member I at once (-9), as a crash would. */
  async kill(i: number): Promise<void> {
    const m = this.members[i]!;
    if (m.pid) await killAndWait(m.pid, 'SIGKILL');
    m.pid = 0;
  }

  /** Starts member I again on its data. */
  async restart(i: number): Promise<void> {
    this.startMember(i);
    await waitFor(`etcd member ${i} to run again`, () => isAlive(this.members[i]!.pid), 10000);
  }

  async stop(): Promise<void> {
    for (const m of this.members) {
      if (m.pid) await killAndWait(m.pid, 'SIGTERM');
      m.pid = 0;
    }
  }

  async cleanup(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A private one-member etcd on loopback. */
export class EtcdServer extends EtcdCluster {
  get endpoint(): string {
    return this.endpointOf(0);
  }
}
