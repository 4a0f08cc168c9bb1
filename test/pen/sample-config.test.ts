// The shipped sample configuration: every command in it, once uncommented, is one pen accepts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, it } from 'node:test';
import { Backend, PenInstance } from './harness';

const SAMPLE = path.join(__dirname, '../../packaging/pen/pen.conf.sample');
const instances: PenInstance[] = [];
const backend = new Backend('A');
after(async () => {
  for (const p of instances) await p.stop();
  await backend.stop();
});

it('every command of pen.conf.sample is accepted when uncommented', async () => {
  await backend.start();
  const pen = new PenInstance('ours');
  instances.push(pen);
  const commands = fs
    .readFileSync(SAMPLE, 'utf8')
    .split('\n')
    .filter((line) => /^#[a-z]/.test(line))
    .map((line) => line.slice(1))
    // Paths inside the instance's temp dir (the TLS ones must exist); server 1 of the sample needs a second server.
    .map((line) => line.replace(/^log .*/, `log ${path.join(pen.root, 'pen.log')}`))
    .map((line) => line.replace(/^web_stats .*/, `web_stats ${path.join(pen.root, 'pen.html')}`))
    .map((line) => line.replace(/^ssl_sni_path .*/, `ssl_sni_path ${pen.root}`))
    .map((line) => line.replace(/^ssl_ocsp_response .*/, `ssl_ocsp_response ${path.join(pen.root, 'ocsp.der')}`));
  fs.writeFileSync(path.join(pen.root, 'ocsp.der'), '', { mode: 0o644 });
  // The log exists and belongs to the user pen drops to, so that `log` can reopen it at run time.
  fs.writeFileSync(path.join(pen.root, 'pen.log'), '');
  fs.chownSync(path.join(pen.root, 'pen.log'), 65534, 65534);
  assert.ok(commands.length >= 15, `the sample documents its commands (found ${commands.length})`);
  const file = path.join(pen.root, 'full.conf');
  fs.writeFileSync(file, commands.join('\n') + '\n');
  fs.chmodSync(file, 0o644);
  await pen.start(['-F', file], [`127.0.0.1:${backend.port}`, `127.0.0.1:${backend.port}`]);
  assert.doesNotMatch(pen.stderr, /do_cmd|full\.conf/, `config errors: ${pen.stderr}`);
  assert.equal((await pen.ctl('blacklist')).trim(), '30');
  assert.equal((await pen.ctl('tracking')).trim(), '0');
  assert.match(await pen.ctl('mode'), /roundrobin/);
  for (const c of commands) {
    const reply = await pen.ctl(c);
    assert.doesNotMatch(reply, /do_cmd|error|unknown/i, `${c} -> ${reply}`);
  }
});
