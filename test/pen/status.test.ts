// pen's status for programs: `status_json` checked against the JSON Schema in docs/ (through
// Debian's penctl too), and the metrics endpoint read by Prometheus' own parsers: promtool, and
// the Python client's OpenMetrics parser.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { freePort } from '../../tools/ports';
import { killAndWait, PROJECT_ROOT, spawnTs, tempDir, waitFor } from '../support/process';
import { fetchName, PenInstance } from './harness';
import { Nginx } from './nginx';

const SCHEMA = path.join(PROJECT_ROOT, 'docs/pen-status.schema.json');

function get(port: number, urlPath: string, accept?: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, headers: accept ? { Accept: accept } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`no answer from ${urlPath}`)));
  });
}

describe('status for programs', () => {
  const a = new Nginx('A');
  const b = new Nginx('B');
  const pen = new PenInstance('ours');
  let metricsPort = 0;
  const schema = (() => {
    const ajv = new Ajv2020({ strict: true, allErrors: true });
    addFormats(ajv);
    return ajv.compile(JSON.parse(fs.readFileSync(SCHEMA, 'utf8')));
  })();
  const validate = Object.assign((value: unknown): boolean => schema(value), { get errors() { return schema.errors; } });

  before(async () => {
    await a.start();
    await b.start();
    metricsPort = await freePort();
    await pen.start(['-r', '-o', `metrics_port ${metricsPort}`, '-o', 'server 1 check http GET /health 200 inter 200ms fall 1 rise 1'], [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`]);
    for (let i = 0; i < 6; i++) await fetchName(pen.port);
    b.healthy(false);
    await waitFor('server 1 down', async () => / state down /.test(await pen.ctl('health')));
  });
  after(async () => {
    await pen.stop();
    await a.stop();
    await b.stop();
  });

  it('status_json, through Debian penctl, is one line of JSON that the schema in docs/ accepts', async () => {
    const ran = await pen.penctl(['status_json']);
    assert.equal(ran.code, 0);
    assert.match(ran.stdout, /^\{.*\}\n$/s);
    assert.equal(ran.stdout.split('\n').length, 2, 'one line');
    const status = JSON.parse(ran.stdout);
    assert.ok(validate(status), JSON.stringify(validate.errors));
    assert.equal(status.pid, pen.pid);
    assert.ok(status.counters.connections_accepted >= 7, `accepted ${status.counters.connections_accepted}`);
    assert.equal(status.servers.length, 2);
    const [s0, s1] = status.servers;
    assert.deepEqual([s0.state, s0.health.check, s0.health.status], ['available', null, 'unchecked']);
    assert.deepEqual([s1.state, s1.health.status, s1.health.last_result], ['down', 'down', '503']);
    assert.equal(s1.health.check, 'http GET /health 200 inter 200ms rise 1 fall 1');
    assert.ok(s0.bytes_received > 0 && s1.bytes_received > 0, 'both served before server 1 went down');
    assert.equal(status.counters.bytes_from_servers, s0.bytes_received + s1.bytes_received);
    assert.deepEqual(status.clients.map((c: { address: string }) => c.address), ['127.0.0.1']);
  });

  it('the schema is strict: a reply with a field renamed or a wrong state fails it', async () => {
    const status = JSON.parse(await pen.ctl('status_json'));
    status.servers[0].state = 'sleeping';
    assert.equal(validate(status), false);
    const renamed = JSON.parse(await pen.ctl('status_json'));
    renamed.counters.conns = renamed.counters.connections;
    delete renamed.counters.connections;
    assert.equal(validate(renamed), false);
  });

  it('a blacklisted server shows its remaining time in health and status_json', async () => {
    assert.equal(await pen.ctl('server 0 blacklist 40'), '');
    assert.match(await pen.ctl('health'), /^0 addr 127\.0\.0\.1 port \d+ state blacklisted blacklist (39|40) check off\n/);
    const status = JSON.parse(await pen.ctl('status_json'));
    assert.ok(validate(status));
    assert.equal(status.servers[0].state, 'blacklisted');
    assert.ok(status.servers[0].blacklist_remaining >= 39);
    assert.equal(await pen.ctl('server 0 blacklist 0'), '');
  });

  it('a draining server is shown as draining', async () => {
    assert.equal(await pen.ctl('server 0 drain'), '');
    assert.match(await pen.ctl('health'), /^0 addr 127\.0\.0\.1 port \d+ state draining blacklist 0 check off\n/);
    const status = JSON.parse(await pen.ctl('status_json'));
    assert.ok(validate(status), JSON.stringify(validate.errors));
    assert.equal(status.servers[0].state, 'draining');
    assert.equal(await pen.ctl('server 0 no drain'), '');
    assert.match(await pen.ctl('health'), /^0 addr 127\.0\.0\.1 port \d+ state available /);
  });

  it('the metrics endpoint passes promtool check metrics and says which server is down', async () => {
    const res = await get(metricsPort, '/metrics');
    assert.equal(res.status, 200);
    assert.equal(res.type, 'text/plain; version=0.0.4; charset=utf-8');
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: res.body, encoding: 'utf8', timeout: 20000 });
    assert.equal(promtool.status, 0, `promtool: ${promtool.stdout}${promtool.stderr}`);
    assert.equal(`${promtool.stdout}${promtool.stderr}`.trim(), '', 'no lint findings');
    assert.match(res.body, new RegExp(`^pen_server_available\\{server="0",address="127\\.0\\.0\\.1:${a.port}"\\} 1$`, 'm'));
    assert.match(res.body, new RegExp(`^pen_server_health_down\\{server="1",address="127\\.0\\.0\\.1:${b.port}"\\} 1$`, 'm'));
    assert.match(res.body, /^pen_connections_accepted_total \d+$/m);
    // promtool is no lenient reader: it refuses a sample without its metric's format.
    const broken = spawnSync('promtool', ['check', 'metrics'], { input: res.body.replace(/^pen_connections \d+$/m, 'pen_connections one'), encoding: 'utf8' });
    assert.notEqual(broken.status, 0);
  });

  it('a scraper asking for OpenMetrics gets it, as the Prometheus Python client parses it', async () => {
    const res = await get(metricsPort, '/metrics', 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5');
    assert.equal(res.type, 'application/openmetrics-text; version=1.0.0; charset=utf-8');
    assert.match(res.body, /# EOF\n$/);
    const program = `import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = {}
for f in text_string_to_metric_families(sys.stdin.read()):
    out[f.name] = {'type': f.type, 'unit': f.unit, 'samples': [[s.name, s.labels, s.value] for s in f.samples]}
print(json.dumps(out))`;
    // Debian's python3, where python3-prometheus-client is installed.
    const parsed = spawnSync('/usr/bin/python3', ['-c', program], { input: res.body, encoding: 'utf8', timeout: 20000 });
    assert.equal(parsed.status, 0, parsed.stderr);
    const families = JSON.parse(parsed.stdout);
    assert.equal(families.pen_server_sent_bytes.type, 'counter');
    assert.equal(families.pen_server_sent_bytes.unit, 'bytes');
    assert.deepEqual(
      families.pen_server_health_down.samples.map(([, labels, value]: [string, { server: string }, number]) => [labels.server, value]),
      [['0', 0], ['1', 1]],
    );
  });

  it('the endpoint answers /metrics only', async () => {
    assert.equal((await get(metricsPort, '/')).status, 404);
    assert.equal((await get(metricsPort, '/metrics/x')).status, 404);
  });
});

describe('metrics_port on', () => {
  it("listens on the flavor's metrics port, on loopback", async () => {
    // A flavor of its own, whose metrics port is known to be free.
    const flavors = tempDir('flavors');
    const root = tempDir('pen-metrics');
    const [service, control, metrics, backend] = [await freePort(), await freePort(), await freePort(), await freePort()];
    fs.writeFileSync(path.join(flavors, 'hmet.json'), JSON.stringify({ daemons: ['pen'], ports: { pen: { service, control, metrics } } }));
    const pen = spawnTs('src/pen/bin/pen.ts', ['-f', '-o', 'metrics_port on', '-p', path.join(root, 'pen.pid'), `127.0.0.1:${service}`, `127.0.0.1:${backend}`], {
      FLAVOR: 'hmet',
      FLAVORKIT_FLAVORS_DIR: flavors,
      FLAVORKIT_ROOT: root,
    });
    let stderr = '';
    pen.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      await waitFor(`pen's metrics on ${metrics}`, () => get(metrics, '/metrics').then((r) => r.status === 200, () => false), 15000).catch((err: Error) => {
        throw new Error(`${err.message}: ${stderr}`);
      });
      assert.match((await get(metrics, '/metrics')).body, new RegExp(`^pen_server_available\\{server="0",address="127\\.0\\.0\\.1:${backend}"\\} 1$`, 'm'));
    } finally {
      await killAndWait(pen.pid!, 'SIGTERM');
      fs.rmSync(flavors, { recursive: true, force: true });
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
