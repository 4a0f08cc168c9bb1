// Active health checks against real nginx backends: a killed backend leaves the rotation within
// inter × fall + 1 s with no client error, comes back after `rise` checks, and an HTTP check sees
// nginx's 503. Then the check grammar's errors, and `write` keeping the checks.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort } from '../../tools/ports';
import { waitFor } from '../support/process';
import { fetchName, PenInstance } from './harness';
import { Nginx } from './nginx';

const instances: PenInstance[] = [];
const backends: Nginx[] = [];
after(async () => {
  for (const p of instances) await p.stop();
  for (const b of backends) await b.stop();
});

async function startPen(args: string[], servers: Nginx[], env: NodeJS.ProcessEnv = {}): Promise<PenInstance> {
  const pen = new PenInstance('ours', env);
  instances.push(pen);
  return pen.start(args, servers.map((b) => `127.0.0.1:${b.port}`));
}

async function nginxPair(): Promise<[Nginx, Nginx]> {
  const a = await new Nginx('A').start();
  const b = await new Nginx('B').start();
  backends.push(a, b);
  return [a, b];
}

/** The `health` line of server `index`. */
async function healthLine(pen: PenInstance, index: number): Promise<string> {
  const line = (await pen.ctl('health')).split('\n').find((l) => l.startsWith(`${index} `));
  assert.ok(line, `health names server ${index}`);
  return line;
}

/**
 * Clients one after another until stopped; every answer kept, '' for a failed one. `between` runs
 * an action after one client has its answer and before the next connects, so that no client is
 * in flight while it runs.
 */
function clientLoop(port: number): { answers: string[]; between: (action: () => Promise<void>) => Promise<void>; stop: () => Promise<void> } {
  const answers: string[] = [];
  let running = true;
  const actions: Array<() => Promise<void>> = [];
  const done = (async () => {
    while (running) {
      answers.push(await fetchName(port));
      for (const action of actions.splice(0)) await action();
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    answers,
    between: (action) => new Promise<void>((resolve, reject) => actions.push(() => action().then(resolve, reject))),
    stop: async () => {
      running = false;
      await done;
    },
  };
}

describe('active health checks', () => {
  it('a killed backend leaves the rotation within inter × fall + 1 s, with no client error, and returns after rise checks', async () => {
    const [a, b] = await nginxPair();
    const interMs = 500;
    const [rise, fall] = [2, 2];
    const check = `check tcp inter ${interMs}ms rise ${rise} fall ${fall}`;
    const pen = await startPen(['-r', '-o', `server 0 ${check}`, '-o', `server 1 ${check}`], [a, b]);
    await waitFor('both servers checked', async () => /health up/.test(await healthLine(pen, 0)) && /health up/.test(await healthLine(pen, 1)));

    const clients = clientLoop(pen.port);
    await new Promise((r) => setTimeout(r, 300));
    // A client already relayed to B when B dies fails with it, which no balancer can prevent; so B
    // dies between two clients, and every client after must get its answer: from A when B refuses
    // it before the checks find B down (pen fails over), and from the rotation after.
    let killedAt = 0;
    await clients.between(async () => {
      killedAt = Date.now();
      await b.kill();
    });
    await waitFor('server 1 down', async () => / state down /.test(await healthLine(pen, 1)), 5000);
    const downAfter = Date.now() - killedAt;
    // Each interval may be up to a tenth longer (the checks' spread in time).
    assert.ok(downAfter <= interMs * 1.1 * fall + 1000, `down after ${downAfter} ms`);
    assert.match(await healthLine(pen, 1), /failures [2-9]\d* .*last ECONNREFUSED/);

    const port = b.port;
    await new Nginx('B').start(port).then((again) => backends.push(again));
    const backAt = Date.now();
    await waitFor('server 1 back', async () => / state available /.test(await healthLine(pen, 1)), 5000);
    const upAfter = Date.now() - backAt;
    assert.ok(upAfter <= interMs * 1.1 * rise + 1000, `up after ${upAfter} ms`);
    await new Promise((r) => setTimeout(r, 300));
    await clients.stop();

    assert.equal(clients.answers.filter((x) => x === '').length, 0, 'no client saw an error');
    assert.ok(clients.answers.length > 20, `${clients.answers.length} requests made`);
    const afterReturn = await Promise.all([fetchName(pen.port), fetchName(pen.port), fetchName(pen.port), fetchName(pen.port)]);
    assert.ok(afterReturn.includes('B'), `round robin reaches B again: ${afterReturn.join(' ')}`);
    assert.match(pen.stderr, /server 1 \(127\.0\.0\.1:\d+\) is down: 2 health check\(s\) failed in a row \(ECONNREFUSED\)/);
    assert.match(pen.stderr, /server 1 \(127\.0\.0\.1:\d+\) is up: 2 health check\(s\) passed \(connected\)/);
  });

  it('an HTTP check takes a server answering 503 out of rotation, moves its tracked client, and brings it back on 200', async () => {
    const [a, b] = await nginxPair();
    const check = 'check http GET /health 200-399 host backend.example inter 300ms rise 2 fall 2';
    // Client tracking (no -r): pen's start-up probe tracks this host's clients to server 1, B.
    const pen = await startPen(['-o', `server 0 ${check}`, '-o', `server 1 ${check}`], [a, b]);
    await waitFor('server 1 checked', async () => /health up .*last 200/.test(await healthLine(pen, 1)));
    assert.equal(await fetchName(pen.port), 'B');

    b.healthy(false);
    await waitFor('server 1 down on 503', async () => / state down .*last 503/.test(await healthLine(pen, 1)), 3000);
    // Still accepting connections, but out of rotation: the tracked client is moved to A and stays there.
    assert.deepEqual([await fetchName(pen.port), await fetchName(pen.port), await fetchName(pen.port)], ['A', 'A', 'A']);
    // The same check given again (a config file re-read on SIGHUP) leaves the server down.
    assert.equal(await pen.ctl(`server 1 ${check}`), '');
    assert.match(await healthLine(pen, 1), / state down .*health down passes 0 failures [2-9]/);
    const status = JSON.parse(await pen.ctl('status_json'));
    assert.equal(status.servers[1].state, 'down');
    assert.equal(status.servers[1].health.last_result, '503');
    assert.equal(status.clients.find((c: { address: string }) => c.address === '127.0.0.1').server, 0);

    b.healthy(true);
    await waitFor('server 1 back on 200', async () => / state available .*health up passes [2-9]/.test(await healthLine(pen, 1)), 3000);
    // servers keeps pen's format: nothing of the checks shows there.
    assert.match(await pen.ctl('servers'), /^0 addr 127\.0\.0\.1 port \d+ conn 0 max 0 hard 0 weight 0 prio 0 sx \d+ rx \d+\n1 addr/);
  });

  it('a check on a port where nothing answers HTTP fails on its timeout', async () => {
    const [a] = await nginxPair();
    // A listener that never answers: the TCP connect succeeds, the status line never comes.
    const silent = await import('node:net').then((net) => net.createServer(() => undefined));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const silentPort = (silent.address() as { port: number }).port;
    try {
      const pen = await startPen(['-r', '-o', 'server 1 check http inter 200ms timeout 100ms fall 1'], [a]);
      await pen.ctl(`server 1 address 127.0.0.1 port ${silentPort}`);
      await waitFor('server 1 down on timeout', async () => / state down .*last timeout/.test(await healthLine(pen, 1)), 3000);
      const [s0, s1] = (await pen.ctl('health')).split('\n');
      assert.match(s0!, /^0 addr 127\.0\.0\.1 port \d+ state available blacklist 0 check off$/);
      assert.match(s1!, /check http GET \/ 200-399 inter 200ms timeout 100ms rise 2 fall 1 health down/);
    } finally {
      silent.close();
    }
  });
});

describe('the check grammar', () => {
  it('refuses a mistake with the word at fault and changes nothing; check off ends the checks', async () => {
    const [a] = await nginxPair();
    // Checks turned on at run time: the handle path, which serves them (the FFI path refuses them: data-path.test.ts).
    const pen = await startPen([], [a], { FLAVORKIT_PEN_DATA_PATH: 'handles' });
    const refusals: Array<[string, RegExp]> = [
      ['server 0 check', /^do_cmd: server 0 check takes tcp, http or off, not ''; e\.g\. check http GET \/health 200-399/],
      ['server 0 check udp', /takes tcp, http or off, not 'udp'/],
      ['server 0 check tcp inter 0', /check inter takes seconds \(2, 0\.5\) or milliseconds \(100ms\)/],
      ['server 0 check tcp rise x', /check rise takes a whole number from 1 to 1000, not 'x'/],
      ['server 0 check tcp fall', /check fall needs a value/],
      ['server 0 check http GET /h 600', /status range '600' must lie within 100-599/],
      ['server 0 check http GET /h 399-200', /status range '399-200' must lie within 100-599, low to high/],
      ['server 0 check tcp GET', /check tcp: unexpected 'GET'; give inter, timeout, rise or fall/],
      ['server 0 check tcp host x', /check host applies to http checks only/],
      ['server 0 port 99999 check tcp', /port 99999 is out of range/],
    ];
    for (const [command, expected] of refusals) assert.match(await pen.ctl(command), expected, command);
    assert.match(await pen.ctl('health'), /^0 addr .* check off\n$/);

    assert.equal(await pen.ctl('server 0 max 5 check http HEAD /health 204 inter 2.5 rise 3 fall 4'), '');
    assert.match(await pen.ctl('health'), /^0 .* check http HEAD \/health 204 inter 2500ms rise 3 fall 4 /);
    assert.match(await pen.ctl('servers'), /^0 addr .* max 5 hard 0/);
    assert.equal(await pen.ctl('server 0 check off'), '');
    assert.match(await pen.ctl('health'), /check off\n$/);
  });

  it('write keeps the checks and the metrics port, and -F reads them back', async () => {
    const [a, b] = await nginxPair();
    const metricsPort = await freePort();
    const pen = await startPen(['-o', `metrics_port ${metricsPort}`, '-o', 'server 1 check http GET /health 200-299 inter 1 fall 2'], [a, b]);
    const file = path.join(pen.root, 'saved.conf');
    assert.equal(await pen.ctl(`write ${file}`), '');
    const saved = fs.readFileSync(file, 'utf8');
    assert.match(saved, /^server 1 acl 0 address 127\.0\.0\.1 port \d+ max 0 hard 0 check http GET \/health 200-299 inter 1 rise 2 fall 2$/m);
    assert.match(saved, /^server 0 acl 0 address 127\.0\.0\.1 port \d+ max 0 hard 0$/m);
    assert.match(saved, new RegExp(`^metrics_port ${metricsPort}$`, 'm'));
    // A running pen keeps its metrics endpoint.
    assert.match(await pen.ctl('metrics_port 9999'), /^do_cmd: metrics_port: a running pen keeps its metrics endpoint \(\d+\); put the change in the config file and restart pen/);

    const again = new PenInstance('ours');
    instances.push(again);
    // Without the metrics port, which the first pen holds.
    fs.writeFileSync(path.join(again.root, 'saved.conf'), saved.replace(/^metrics_port .*\n/m, ''));
    await again.start(['-F', path.join(again.root, 'saved.conf')], []);
    assert.match(await healthLine(again, 1), /check http GET \/health 200-299 inter 1 rise 2 fall 2/);
  });
});
