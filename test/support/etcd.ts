import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { killAndWait, tempDir, waitFor } from './process';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

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

/** A private one-member etcd (Debian's etcd-server) on loopback, with its data in a temp dir. */
export class EtcdServer {
  readonly dir = tempDir('etcd');
  endpoint = '';
  pid = 0;

  async start(): Promise<void> {
    const [client, peer] = [await freePort(), await freePort()];
    this.endpoint = `http://127.0.0.1:${client}`;
    const peerUrl = `http://127.0.0.1:${peer}`;
    const log = fs.openSync(path.join(this.dir, 'etcd.log'), 'a');
    const child = spawn(
      'etcd',
      [
        '--name', 'test', '--data-dir', path.join(this.dir, 'data'),
        '--listen-client-urls', this.endpoint, '--advertise-client-urls', this.endpoint,
        '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl, '--initial-cluster', `test=${peerUrl}`,
      ],
      { stdio: ['ignore', log, log], detached: true },
    );
    fs.closeSync(log);
    child.unref();
    if (!child.pid) throw new Error('etcd did not start: is etcd-server installed (apt-get install etcd-server)?');
    this.pid = child.pid;
    await waitFor('etcd to answer /health', () => healthy(this.endpoint), 20000);
  }

  async stop(): Promise<void> {
    if (this.pid) await killAndWait(this.pid, 'SIGTERM');
    this.pid = 0;
  }

  async cleanup(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
