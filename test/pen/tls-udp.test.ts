import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../pentools/support';
import { tempDir } from '../support/process';
import { Backend, PenInstance } from './harness';

const instances: PenInstance[] = [];
after(async () => {
  for (const p of instances) await p.stop();
});

describe('TLS termination (-E/-K)', () => {
  let dir: string;
  const backend = new Backend('T');
  before(async () => {
    dir = tempDir('tls');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-days', '1',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
    fs.chmodSync(dir, 0o755);
    await backend.start();
  });
  after(async () => {
    await backend.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('clients speak TLS to pen, the backend gets plain HTTP with X-Forwarded-Proto https', async () => {
    const pen = new PenInstance('ours');
    instances.push(pen);
    // The start-up probe is a plain TCP connect; pen drops it when no TLS handshake follows.
    await pen.start(['-H', '-E', path.join(dir, 'cert.pem'), '-K', path.join(dir, 'key.pem')], [`127.0.0.1:${backend.port}`]);
    const answer = await new Promise<string>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: pen.port, rejectUnauthorized: false }, () => s.write('GET / HTTP/1.0\r\n\r\n'));
      let data = '';
      s.on('data', (d) => (data += d));
      s.on('end', () => resolve(data));
      s.on('error', reject);
    });
    assert.match(answer, /\r\n\r\nT$/);
    assert.equal(backend.seen.at(-1)?.['x-forwarded-proto'], 'https');
  });

  it('a certificate that cannot be read stops the start with the path named', async () => {
    const pen = new PenInstance('ours');
    instances.push(pen);
    await assert.rejects(pen.start(['-E', path.join(dir, 'missing.pem')], [`127.0.0.1:${backend.port}`]));
    assert.match(pen.stderr, /cannot read certificate .*missing\.pem/);
  });
});

describe('UDP (-U)', () => {
  it('datagrams go to the chosen server and replies come back, round robin between two', async () => {
    const echo = async (name: string) => {
      const s = dgram.createSocket('udp4');
      s.on('message', (m, from) => s.send(`${name}:${m}`, from.port, from.address));
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
      return s;
    };
    const one = await echo('one');
    const two = await echo('two');
    const port = await freePort('udp');
    const pen = new PenInstance('ours');
    instances.push(pen);
    await pen.startUdp(['-U', '-r'], port, [`127.0.0.1:${one.address().port}`, `127.0.0.1:${two.address().port}`]);
    const replies: string[] = [];
    for (let i = 0; i < 4; i++) {
      const c = dgram.createSocket('udp4');
      await new Promise<void>((r) => c.bind(0, '127.0.0.1', () => r()));
      replies.push(
        await new Promise<string>((resolve, reject) => {
          // UDP may be lost, and pen binds its port just after its control port is up: resend.
          const resend = setInterval(() => c.send(`ping${i}`, port, '127.0.0.1'), 200);
          const timer = setTimeout(() => {
            clearInterval(resend);
            reject(new Error('no UDP reply'));
          }, 3000);
          c.once('message', (m) => {
            clearInterval(resend);
            clearTimeout(timer);
            resolve(m.toString());
          });
          c.send(`ping${i}`, port, '127.0.0.1');
        }),
      );
      c.close();
    }
    assert.deepEqual(replies, ['two:ping0', 'one:ping1', 'two:ping2', 'one:ping3']);
    one.close();
    two.close();
  });
});
