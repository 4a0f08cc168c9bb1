import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { freePort } from './debian';
import { tempDir, waitFor } from '../support/process';
import { Backend, PenInstance } from './harness';

const instances: PenInstance[] = [];
after(async () => {
  for (const p of instances) await p.stop();
});

describe('TLS termination (-E/-K)', () => {
  let dir: string;
  const backend = new Backend('T');
  const certificate = (name: string, key: string, cert: string) =>
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-days', '1',
      '-keyout', path.join(dir, key), '-out', path.join(dir, cert)], { stdio: 'ignore' });
  before(async () => {
    dir = tempDir('tls');
    certificate('127.0.0.1', 'key.pem', 'cert.pem');
    fs.mkdirSync(path.join(dir, 'sni'));
    certificate('other.test', 'sni/other.test.key', 'sni/other.test.crt');
    // Beside the SNI directory: what a name like "../outside" would reach if names became paths.
    certificate('outside.test', 'outside.key', 'outside.crt');
    fs.writeFileSync(path.join(dir, 'sni/other.test.ocsp'), 'response for other.test');
    fs.writeFileSync(path.join(dir, 'default.ocsp'), 'response for 127.0.0.1');
    for (const d of [dir, path.join(dir, 'sni')]) fs.chmodSync(d, 0o755);
    await backend.start();
  });
  const tlsPen = async (commands: string[]) => {
    const pen = new PenInstance('ours');
    instances.push(pen);
    return pen.start(['-E', path.join(dir, 'cert.pem'), '-K', path.join(dir, 'key.pem'), ...commands.flatMap((c) => ['-o', c])], [`127.0.0.1:${backend.port}`]);
  };
  interface Handshake {
    protocol: string | null;
    cipher: string;
    subject: string;
    stapled: string | null;
  }
  /** A TLS handshake with pen, and what the client saw of it; rejects when the handshake fails. */
  const handshake = (port: number, options: tls.ConnectionOptions = {}) =>
    new Promise<Handshake>((resolve, reject) => {
      let stapled: string | null = null;
      const connection: tls.ConnectionOptions & Pick<tls.TLSSocketOptions, 'requestOCSP'> = { host: '127.0.0.1', port, rejectUnauthorized: false, requestOCSP: true, ...options };
      const s = tls.connect(connection, () => {
        const seen = { protocol: s.getProtocol(), cipher: s.getCipher().name, subject: String(s.getPeerCertificate().subject.CN), stapled };
        s.end();
        resolve(seen);
      });
      s.on('OCSPResponse', (response: Buffer | null) => (stapled = response ? response.toString() : null));
      s.on('error', reject);
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

  it('ssl_option removes protocol versions and ssl_ciphers chooses the TLS 1.2 ciphers', async () => {
    const pen = await tlsPen(['ssl_option no_tlsv1.2']);
    assert.equal((await handshake(pen.port)).protocol, 'TLSv1.3');
    await assert.rejects(handshake(pen.port, { maxVersion: 'TLSv1.2' }));
    const only = await tlsPen(['ssl_ciphers ECDHE-RSA-AES128-GCM-SHA256', 'ssl_option cipher_server_preference']);
    assert.equal((await handshake(only.port, { maxVersion: 'TLSv1.2' })).cipher, 'ECDHE-RSA-AES128-GCM-SHA256');
    await assert.rejects(handshake(only.port, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES256-GCM-SHA384' }));
  });

  it('ssl_sni_path serves the named host its own certificate and staple; other names get the default', async () => {
    const pen = await tlsPen([`ssl_sni_path ${path.join(dir, 'sni')}`, `ssl_ocsp_response ${path.join(dir, 'default.ocsp')}`]);
    const named = await handshake(pen.port, { servername: 'other.test' });
    assert.deepEqual([named.subject, named.stapled], ['other.test', 'response for other.test']);
    const unknown = await handshake(pen.port, { servername: 'unknown.test' });
    assert.equal(unknown.subject, '127.0.0.1');
    assert.equal(unknown.stapled, 'response for 127.0.0.1');
    // A name that is not a host name never becomes a file name.
    assert.equal((await handshake(pen.port, { servername: '../outside' })).subject, '127.0.0.1');
  });

  it('an SNI certificate that cannot be used is logged with its file and problem, and its name gets the default', async () => {
    const broken = path.join(dir, 'sni-broken');
    fs.mkdirSync(broken);
    certificate('mismatch.test', 'sni-broken/unused.key', 'sni-broken/mismatch.test.crt');
    fs.copyFileSync(path.join(dir, 'key.pem'), path.join(broken, 'mismatch.test.key'));
    fs.writeFileSync(path.join(broken, 'garbage.test.crt'), 'not a certificate\n');
    fs.copyFileSync(path.join(dir, 'key.pem'), path.join(broken, 'garbage.test.key'));
    certificate('nokey.test', 'sni-broken/other.key', 'sni-broken/nokey.test.crt');
    fs.chmodSync(broken, 0o755);
    const pen = await tlsPen([`ssl_sni_path ${broken}`]);
    const logged = (pattern: RegExp) => pen.stderr.split('\n').filter((l) => pattern.test(l));
    assert.equal(logged(/the key in .*mismatch\.test\.key does not match the certificate in .*mismatch\.test\.crt; clients asking for mismatch\.test get the default certificate/).length, 1, pen.stderr);
    assert.equal(logged(/garbage\.test\.crt holds no PEM certificate; clients asking for garbage\.test get the default/).length, 1, pen.stderr);
    assert.equal(logged(/nokey\.test\.key does not exist; clients asking for nokey\.test get the default/).length, 1, pen.stderr);
    for (const name of ['mismatch.test', 'garbage.test', 'nokey.test']) assert.equal((await handshake(pen.port, { servername: name })).subject, '127.0.0.1', name);
    // Logged once, not at every handshake for the name.
    assert.equal(logged(/mismatch\.test\.key does not match/).length, 1, pen.stderr);
  });

  /** How many of `tries` renegotiations pen lets one TLS 1.2 connection make. */
  const renegotiations = (port: number, tries: number) =>
    new Promise<number>((resolve) => {
      let done = 0;
      const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, maxVersion: 'TLSv1.2' }, () => next());
      const next = (): void => {
        if (done === tries) return void s.destroy();
        s.renegotiate({ rejectUnauthorized: false }, (err) => {
          if (err) return void s.destroy();
          done++;
          next();
        });
      };
      s.on('error', () => s.destroy());
      s.on('close', () => resolve(done));
    });

  it('at run time ssl_sni_path and the renegotiation interval take effect, and a change of ciphers or options is refused', async () => {
    const pen = await tlsPen(['ssl_option no_tlsv1']);
    assert.equal((await handshake(pen.port, { servername: 'other.test' })).subject, '127.0.0.1');
    // Read at run time, by the user pen runs as: its key must be readable by nobody.
    const open = path.join(dir, 'sni-open');
    fs.mkdirSync(open, { mode: 0o755 });
    for (const ext of ['crt', 'key']) fs.copyFileSync(path.join(dir, `sni/other.test.${ext}`), path.join(open, `other.test.${ext}`));
    fs.chmodSync(path.join(open, 'other.test.key'), 0o644);
    assert.equal(await pen.ctl(`ssl_sni_path ${open}`), '');
    assert.equal((await handshake(pen.port, { servername: 'other.test' })).subject, 'other.test');
    assert.equal(await renegotiations(pen.port, 2), 1, "pen's default: one renegotiation an hour");
    assert.equal(await pen.ctl('ssl_client_renegotiation_interval 0'), '');
    assert.equal(await renegotiations(pen.port, 2), 2);
    assert.equal(await pen.ctl('ssl_ciphers HIGH'), 'do_cmd: ssl_ciphers HIGH: the TLS listener keeps the ciphers it opened with; put the command in the config file and restart pen\n');
    assert.match(await pen.ctl('ssl_option no_tlsv1.2'), /^do_cmd: ssl_option no_tlsv1\.2: the TLS listener keeps the protocol versions and options it opened with; /);
    assert.equal(await pen.ctl('ssl_option no_tlsv1'), '', 'an option already in force');
    assert.equal((await handshake(pen.port, { maxVersion: 'TLSv1.2' })).protocol, 'TLSv1.2');
  });

  it('an SNI directory only root may read serves its certificates after SIGHUP re-reads the config file, without a warning', async () => {
    const closed = path.join(dir, 'sni-root-only');
    fs.mkdirSync(closed, { mode: 0o700 });
    for (const ext of ['crt', 'key']) fs.copyFileSync(path.join(dir, `sni/other.test.${ext}`), path.join(closed, `other.test.${ext}`));
    const config = path.join(dir, 'sni.cfg');
    fs.writeFileSync(config, `ssl_sni_path ${closed}\n`, { mode: 0o644 });
    const pen = new PenInstance('ours');
    instances.push(pen);
    await pen.start(['-E', path.join(dir, 'cert.pem'), '-K', path.join(dir, 'key.pem'), '-F', config], [`127.0.0.1:${backend.port}`]);
    process.kill(pen.pid, 'SIGHUP');
    await waitFor('the config file re-read', () => pen.stderr.includes('configuration re-read'));
    assert.doesNotMatch(pen.stderr, /sni-root-only/);
    assert.equal((await handshake(pen.port, { servername: 'other.test' })).subject, 'other.test');
  });

  it('an OCSP response given at run time is stapled from then on, as pen-ocsp.sh expects', async () => {
    const pen = await tlsPen([]);
    assert.equal((await handshake(pen.port)).stapled, null);
    assert.equal(await pen.ctl(`ssl_ocsp_response ${path.join(dir, 'default.ocsp')}`), '');
    assert.equal((await handshake(pen.port)).stapled, 'response for 127.0.0.1');
  });

  it('a cipher list that matches nothing stops the start, naming ssl_ciphers', async () => {
    const pen = new PenInstance('ours');
    instances.push(pen);
    await assert.rejects(pen.start(['-E', path.join(dir, 'cert.pem'), '-K', path.join(dir, 'key.pem'), '-o', 'ssl_ciphers NO-SUCH-CIPHER'], [`127.0.0.1:${backend.port}`]));
    assert.match(pen.stderr, /ssl_ciphers "NO-SUCH-CIPHER" matches no cipher/);
  });

  it('a TLS file or directory that cannot be used stops the start, naming the option, the path and what to give', async () => {
    const file = (name: string) => path.join(dir, name);
    fs.writeFileSync(file('junk.pem'), 'not a certificate\n');
    const tlsArgs = ['-E', file('cert.pem'), '-K', file('key.pem')];
    const cases: Array<[string[], RegExp]> = [
      [['-E', file('missing.pem')], /-E \S*missing\.pem does not exist; give the PEM file of the certificate pen serves/],
      [['-E', file('cert.pem'), '-K', file('outside.key')], /the key in -K \S*outside\.key does not match the certificate in -E \S*cert\.pem; give with -E a PEM certificate and with -K its/],
      [['-E', file('junk.pem'), '-K', file('key.pem')], /-E \S*junk\.pem holds no PEM certificate; give with -E/],
      [[...tlsArgs, '-A', file('no-such-dir')], /-A \S*no-such-dir does not exist; give a directory of PEM CA certificates/],
      [[...tlsArgs, '-A', file('cert.pem')], /-A \S*cert\.pem is not a directory; give a directory of PEM CA certificates/],
      [[...tlsArgs, '-G', file('junk.pem')], /-G \S*junk\.pem holds no PEM certificate; give a PEM file of the CA certificates/],
      [[...tlsArgs, '-o', `ssl_sni_path ${file('no-such-dir')}`], /-o "ssl_sni_path \S+": ssl_sni_path \S*no-such-dir does not exist; give a directory with NAME\.crt and NAME\.key/],
      [[...tlsArgs, '-o', `ssl_ocsp_response ${file('no.ocsp')}`], /ssl_ocsp_response \S*no\.ocsp does not exist; give the DER OCSP response file/],
    ];
    for (const [args, message] of cases) {
      const pen = new PenInstance('ours');
      instances.push(pen);
      await assert.rejects(pen.start(args, [`127.0.0.1:${backend.port}`]), /pen exited with status 1/, args.join(' '));
      assert.match(pen.stderr, message, args.join(' '));
    }
  });

  it('ssl_sni_path and ssl_ocsp_response at run time answer a path that cannot be used with an error, and pen keeps serving', async () => {
    const pen = await tlsPen([]);
    const reply = (command: string) => pen.ctl(command);
    assert.match(await reply(`ssl_sni_path ${path.join(dir, 'no-such-dir')}`), /^do_cmd: ssl_sni_path \S*no-such-dir does not exist; give a directory with NAME\.crt and NAME\.key for each host name\n$/);
    assert.match(await reply(`ssl_sni_path ${path.join(dir, 'cert.pem')}`), /^do_cmd: ssl_sni_path \S*cert\.pem is not a directory; give /);
    // pen runs as nobody by now: a directory only root may read is named as such.
    const closed = path.join(dir, 'closed');
    fs.mkdirSync(closed, { mode: 0o700 });
    assert.match(await reply(`ssl_sni_path ${closed}`), /^do_cmd: ssl_sni_path \S*closed cannot be read by user nobody \(make it readable by that user\); give /);
    assert.match(await reply(`ssl_ocsp_response ${path.join(dir, 'no.ocsp')}`), /^do_cmd: ssl_ocsp_response \S*no\.ocsp does not exist; give the DER OCSP response file that pen-ocsp\.sh fetches\n$/);
    assert.equal((await handshake(pen.port)).subject, '127.0.0.1');
    assert.equal(await reply('pid'), `${pen.pid}\n`);
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
