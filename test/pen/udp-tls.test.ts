// UDP balancing (-U) and TLS termination (-E/-K) of our pen, with real sockets on loopback.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { after, describe, it } from 'node:test';
import { freePort, waitForTcp } from '../pentools/support';
import { killAndWait, spawnTs, tempDir } from '../support/process';
import { Backend } from './harness';

const root = tempDir('pen-udp-tls');
const pids: number[] = [];
const closers: Array<() => unknown> = [];
after(async () => {
  for (const pid of pids) await killAndWait(pid, 'SIGTERM');
  for (const close of closers) await close();
  fs.rmSync(root, { recursive: true, force: true });
});

function startOurs(dir: string, args: string[]): number {
  fs.mkdirSync(dir, { recursive: true });
  const child = spawnTs('src/pen/bin/pen.ts', ['-f', '-p', path.join(dir, 'pen.pid'), ...args], { FLAVOR: 'abc', FLAVORKIT_ROOT: dir });
  pids.push(child.pid!);
  return child.pid!;
}

describe('UDP (-U)', () => {
  it('datagrams reach the backend and its replies come back to the client', async () => {
    const echo = dgram.createSocket('udp4');
    echo.on('message', (msg, from) => echo.send(Buffer.concat([Buffer.from('echo:'), msg]), from.port, from.address));
    await new Promise<void>((resolve) => echo.bind(0, '127.0.0.1', resolve));
    closers.push(() => echo.close());
    const port = await freePort();
    startOurs(path.join(root, 'udp'), ['-U', `127.0.0.1:${port}`, `127.0.0.1:${echo.address().port}`]);
    const client = dgram.createSocket('udp4');
    closers.push(() => client.close());
    const reply = await new Promise<string>((resolve, reject) => {
      const deadline = Date.now() + 10000;
      client.on('message', (m) => resolve(m.toString()));
      // pen may still be starting: resend until the first answer, within a bound.
      const tick = setInterval(() => {
        if (Date.now() > deadline) {
          clearInterval(tick);
          reject(new Error('no UDP reply through pen in 10 s'));
        } else client.send('ping', port, '127.0.0.1');
      }, 200);
      client.on('message', () => clearInterval(tick));
    });
    assert.equal(reply, 'echo:ping');
  });
});

describe('TLS termination (-E/-K)', () => {
  it('a TLS client gets the plain backend through pen', async () => {
    const dir = path.join(root, 'tls');
    fs.mkdirSync(dir, { recursive: true });
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore', timeout: 30000 });
    const backend = await new Backend('T').start();
    closers.push(() => backend.stop());
    const port = await freePort();
    startOurs(dir, ['-E', cert, '-K', key, `127.0.0.1:${port}`, `127.0.0.1:${backend.port}`]);
    await waitForTcp(port);
    const body = await new Promise<string>((resolve, reject) => {
      const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => s.write('GET / HTTP/1.0\r\nHost: x\r\n\r\n'));
      let out = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => (out += d));
      s.on('end', () => resolve(out));
      s.on('error', reject);
      s.setTimeout(10000, () => s.destroy(new Error('no TLS reply through pen in 10 s')));
    });
    assert.match(body, /^HTTP\/1\.[01] 200/);
    assert.match(body, /T/);
  });
});
