// The depot over HTTPS with the flavor's certificate, through a real TLS client; admin/0 only there.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateRepository } from '../../tools/repogen/generate';
import { createTestUser, writeTestPamService, type TestUser } from '../support/pam';
import { DepotHarness, type Reply } from './harness';

const VERSION = '1.0,5.11-0:20250101T000000Z';
const stamp = new Date('2025-01-01T00:00:00Z');

/** A self-signed certificate for 127.0.0.1 and its key, where the flavor's layout keeps them. */
function writeCertificate(cert: string, key: string, name = '127.0.0.1'): void {
  fs.mkdirSync(path.dirname(cert), { recursive: true });
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`, '-addext', `subjectAltName=IP:${name}`], { stdio: 'ignore' });
}

function tlsGet(port: number, ca: Buffer, urlPath: string, headers: Record<string, string> = {}): Promise<Reply & { protocol: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: urlPath, ca, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), protocol: (res.socket as import('node:tls').TLSSocket).getProtocol?.() ?? '' }));
    });
    req.setTimeout(10000, () => req.destroy(new Error(`no answer to ${urlPath}`)));
    req.on('error', reject);
    req.end();
  });
}

const basic = (u: string, p: string) => ({ Authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });

describe('depot over HTTPS', () => {
  const depot = new DepotHarness();
  let user: TestUser;
  let removePam: () => void;
  let ca: Buffer;
  before(async () => {
    user = createTestUser();
    removePam = writeTestPamService(depot.layout.pamService, ['auth required pam_unix.so', 'account required pam_unix.so']);
    writeCertificate(depot.layout.files.tlsCert!, depot.layout.files.tlsKey!);
    ca = fs.readFileSync(depot.layout.files.tlsCert!);
    const repo = path.join(depot.root, 'repo');
    generateRepository(repo, { created: stamp, lastModified: stamp, publishers: [{ name: 'test', packages: [{ stem: 'a/b', versions: [{ version: VERSION, summary: 'secure' }] }] }] });
    await depot.start(['-E', '-S', '-d', `${repo}=main`]);
  });
  after(async () => {
    await depot.stop();
    removePam();
    user.remove();
  });

  it('serves the repository to a TLS client that checks the certificate, and its origin is https', async () => {
    const versions = await tlsGet(depot.port, ca, '/main/versions/0/');
    assert.equal(versions.status, 200);
    assert.match(versions.protocol, /^TLSv1\.[23]$/);
    const p5i = JSON.parse((await tlsGet(depot.port, ca, '/main/publisher/0/')).body.toString()) as { publishers: Array<{ repositories: Array<{ origins: string[] }> }> };
    assert.deepEqual(p5i.publishers[0]!.repositories[0]!.origins, [`https://127.0.0.1:${depot.port}/main/`]);
    await assert.rejects(depot.get('/main/versions/0/'), 'plain HTTP is not answered on the TLS port');
  });

  it('admin/0 takes a PAM login over HTTPS', async () => {
    assert.equal((await tlsGet(depot.port, ca, '/main/admin/0?cmd=status', basic(user.name, 'wrong'))).status, 401);
    assert.equal((await tlsGet(depot.port, ca, '/main/admin/0?cmd=status', basic(user.name, user.password))).status, 200);
  });
});

describe('depot over plain HTTP: admin/0', () => {
  const depot = new DepotHarness();
  before(async () => {
    const repo = path.join(depot.root, 'repo');
    generateRepository(repo, { created: stamp, lastModified: stamp, publishers: [{ name: 'test', packages: [{ stem: 'a/b', versions: [{ version: VERSION }] }] }] });
    await depot.start(['-S', '-d', repo]);
  });
  after(() => depot.stop());

  it('is refused before any password is checked, saying how to allow it', async () => {
    const reply = await depot.get('/admin/0?cmd=status', basic('nobody', 'x'));
    assert.equal(reply.status, 403);
    assert.match(reply.body.toString(), /over HTTPS \(-E\), or allow it with --admin-over-http/);
  });
});

describe('depot -E with a missing or broken certificate', () => {
  const depot = new DepotHarness();
  after(() => depot.stop());

  it('does not start, and says which file and how to fix it', async () => {
    const repo = path.join(depot.root, 'repo');
    generateRepository(repo, { created: stamp, lastModified: stamp, publishers: [{ name: 'test', packages: [{ stem: 'a/b', versions: [{ version: VERSION }] }] }] });
    const missing = await depot.run(['-E', '-S', '-p', '1', '-d', repo]);
    assert.equal(missing.code, 1);
    assert.ok(missing.stderr.includes(`cannot read the TLS certificate ${depot.layout.files.tlsCert} (ENOENT); put it there (PEM) or give --tls-cert FILE`), missing.stderr);
    const other = path.join(depot.root, 'other');
    writeCertificate(`${other}.crt`, `${other}.key`);
    writeCertificate(depot.layout.files.tlsCert!, depot.layout.files.tlsKey!);
    const mismatched = await depot.run(['--tls-key', `${other}.key`, '-S', '-p', '1', '-d', repo]);
    assert.equal(mismatched.code, 1);
    assert.match(mismatched.stderr, /are not a PEM certificate and its private key .*; fix or replace them/);
    assert.equal(fs.existsSync(depot.layout.pidFile), false);
  });
});
