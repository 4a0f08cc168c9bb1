// Which byte path a running pen takes (the FFI loop by default, the handles where the configuration
// needs them or the environment asks), what it says about it, and what a pen on the FFI loop
// refuses at run time: real pens as child processes, real backends, penctl's protocol.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../tools/ports';
import { PROJECT_ROOT, run, TSX_LOADER, waitFor } from '../support/process';
import { Backend, fetchName, PenInstance } from './harness';

interface Status {
  data_path?: string;
  data_path_reason?: string;
  ffi_rounds?: string;
  ffi_rounds_reason?: string;
  counters: { bytes_to_servers: number; bytes_from_servers: number };
}

const instances: PenInstance[] = [];
const backend = new Backend('A');
before(() => backend.start());
after(async () => {
  for (const p of instances) await p.stop();
  await backend.stop();
});

async function startPen(args: string[], env: NodeJS.ProcessEnv = {}): Promise<PenInstance> {
  const pen = new PenInstance('ours', env);
  instances.push(pen);
  return pen.start(args, [`127.0.0.1:${backend.port}`]);
}

const statusOf = async (pen: PenInstance) => JSON.parse(await pen.ctl('status_json')) as Status;

/** The reply of a refused command: the fix named, in one line. */
const REFUSED = /^do_cmd: [^\n]*: only pen's handle data path serves this, and this pen runs the FFI path; put it in the config file and restart pen \(which then starts on the handles\), or run pen with FLAVORKIT_PEN_DATA_PATH=handles\n$/;

describe('the data path a pen runs', () => {
  it('a plain configuration runs on the FFI loop, logs it once and says so in status_json', async () => {
    const pen = await startPen([]);
    assert.deepEqual(await statusOf(pen).then((s) => [s.data_path, s.data_path_reason]), ['ffi', undefined]);
    assert.equal(await fetchName(pen.port), 'A');
    assert.equal(pen.stderr.match(/data path: /g)?.length, 1, pen.stderr);
    assert.match(pen.stderr, /data path: an epoll loop on libc \(FFI\)\n/);
    // Its rounds in C: the library scripts/setup.sh builds for the sources.
    assert.deepEqual(await statusOf(pen).then((s) => [s.ffi_rounds, s.ffi_rounds_reason]), ['c', undefined]);
    assert.equal(pen.stderr.match(/FFI loop: relaying in /g)?.length, 1, pen.stderr);
    assert.match(pen.stderr, /FFI loop: relaying in C rounds\n/);
  });

  it("FLAVORKIT_PEN_FFI_ROUND=ts runs the FFI loop's rounds in TypeScript and says so; an unknown value stops the start", async () => {
    const pen = await startPen([], { FLAVORKIT_PEN_FFI_ROUND: 'ts' });
    assert.deepEqual(await statusOf(pen).then((s) => [s.data_path, s.ffi_rounds, s.ffi_rounds_reason]), ['ffi', 'ts', 'FLAVORKIT_PEN_FFI_ROUND=ts']);
    assert.match(pen.stderr, /FFI loop: relaying in TypeScript rounds \(FLAVORKIT_PEN_FFI_ROUND=ts\)\n/);
    assert.equal(await fetchName(pen.port), 'A');
    const bad = await run(process.execPath, [...TSX_LOADER, path.join(PROJECT_ROOT, 'src/pen/bin/pen.ts'), '-f', `127.0.0.1:${await freePort()}`, `127.0.0.1:${backend.port}`], {
      env: { ...process.env, FLAVOR: 'abc', FLAVORKIT_PEN_FFI_ROUND: 'asm' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'pen: FLAVORKIT_PEN_FFI_ROUND=asm names no round; use c or ts, or leave it unset\n');
  });

  // Bytes the C round relays are counted per descriptor and added to pen's counters when a command
  // reads them and when the pair closes: the figures are exact either way, as on the TypeScript rounds.
  for (const rounds of ['c', 'ts']) {
    it(`counters are exact on the ${rounds} rounds: servers, recent and status_json, while a connection is open and after it closes`, async () => {
      const echo = net.createServer((s) => {
        s.on('error', () => undefined);
        s.pipe(s);
      });
      await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
      try {
        const pen = new PenInstance('ours', { FLAVORKIT_PEN_FFI_ROUND: rounds });
        instances.push(pen);
        await pen.start([], [`127.0.0.1:${(echo.address() as net.AddressInfo).port}`]);
        assert.equal((await statusOf(pen)).ffi_rounds, rounds);
        const client = net.connect(pen.port, '127.0.0.1');
        client.on('error', () => undefined);
        let echoed = 0;
        client.on('data', (d: Buffer) => (echoed += d.length));
        const counted = async (n: number) => {
          await waitFor(`${n} bytes echoed`, () => echoed === n);
          assert.match(await pen.ctl('servers'), new RegExp(`^0 addr 127\\.0\\.0\\.1 .* sx ${n} rx ${n}\n$`));
          assert.match(await pen.ctl('recent'), new RegExp(`^127\\.0\\.0\\.1 connects \\d+ sx ${n} rx ${n}\n$`));
          const { counters } = await statusOf(pen);
          assert.deepEqual([counters.bytes_to_servers, counters.bytes_from_servers], [n, n]);
        };
        client.write(Buffer.alloc(1000, 'a'));
        await counted(1000);
        client.write(Buffer.alloc(300_000, 'b'));
        await counted(301_000);
        client.end();
        await new Promise((r) => client.on('close', r));
        await waitFor('the connection closed in pen', async () => JSON.parse(await pen.ctl('status_json')).counters.connections === 0);
        await counted(301_000);
      } finally {
        echo.close();
      }
    });
  }

  for (const [what, args, reason] of [
    ['a health check', ['-o', 'server 0 check tcp inter 2'], /the FFI path does not serve health checks/],
    ['a PROXY header to a server', ['-o', 'server 1 address 127.0.0.1 port 9 proxy v1'], /the FFI path does not serve the PROXY protocol to servers/],
    // Headers only from 10.0.0.1: this test's client is balanced as usual.
    ['accept_proxy', ['-o', 'acl 1 permit 10.0.0.1', '-o', 'accept_proxy 1'], /the FFI path does not serve accept_proxy/],
  ] as const) {
    it(`${what} in the configuration starts pen on the handles, with the reason logged and in status_json`, async () => {
      const pen = await startPen([...args]);
      const status = await statusOf(pen);
      assert.equal(status.data_path, 'handles');
      assert.match(status.data_path_reason ?? '', reason);
      assert.match(pen.stderr, new RegExp(`data path: libuv stream handles \\(${reason.source}`));
      assert.equal(await fetchName(pen.port), 'A');
    });
  }

  it('FLAVORKIT_PEN_DATA_PATH=handles and =net force those paths; an unknown value stops the start, naming the three', async () => {
    for (const forced of ['handles', 'net']) {
      const pen = await startPen([], { FLAVORKIT_PEN_DATA_PATH: forced });
      assert.equal((await statusOf(pen)).data_path, forced);
      assert.equal(await fetchName(pen.port), 'A');
    }
    const bad = await run(process.execPath, [...TSX_LOADER, path.join(PROJECT_ROOT, 'src/pen/bin/pen.ts'), '-f', `127.0.0.1:${await freePort()}`, `127.0.0.1:${backend.port}`], {
      env: { ...process.env, FLAVOR: 'abc', FLAVORKIT_PEN_DATA_PATH: 'epoll' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'pen: FLAVORKIT_PEN_DATA_PATH=epoll names no data path; use ffi, handles or net, or leave it unset\n');
  });
});

describe('a pen on the FFI loop at run time', () => {
  let pen: PenInstance;
  let config: string;
  before(async () => {
    pen = new PenInstance('ours');
    instances.push(pen);
    config = path.join(pen.root, 'pen.cfg');
    fs.writeFileSync(config, 'timeout 4\n', { mode: 0o644 });
    await pen.start(['-F', config], [`127.0.0.1:${backend.port}`]);
    assert.equal((await statusOf(pen)).data_path, 'ffi');
  });

  it('refuses every command that needs the handle path, naming the fix, and changes nothing', async () => {
    for (const command of ['server 0 check tcp', 'server 0 check http GET /health 200', 'server 0 port 80 check tcp inter 2', 'server 0 proxy v2', 'server 0 drain proxy v1', 'accept_proxy 0', 'metrics_port 127.0.0.1:9', 'metrics_port on']) {
      assert.match(await pen.ctl(command), REFUSED, command);
    }
    assert.match(await pen.ctl('health'), /^0 addr .* check off\n$/);
    assert.equal(await pen.ctl('accept_proxy'), 'accept_proxy off\n');
    assert.doesNotMatch(await pen.ctl('servers'), /port 80 /);
    assert.equal(await fetchName(pen.port), 'A');
  });

  it('takes what it serves: check off, drain and no drain, no proxy, drain_timeout', async () => {
    for (const command of ['server 0 check off', 'server 0 drain', 'server 0 no drain', 'server 0 no proxy', 'no accept_proxy']) assert.equal(await pen.ctl(command), '', command);
    assert.equal(await pen.ctl('drain_timeout 3'), '3\n');
    assert.equal(await pen.ctl('drain_timeout 0'), '0\n');
    assert.equal(await fetchName(pen.port), 'A');
  });

  it('refuses the same commands in a file it includes, and in its config file re-read on SIGHUP', async () => {
    const included = path.join(pen.root, 'checks.cfg');
    fs.writeFileSync(included, 'timeout 5\nserver 0 check tcp\n', { mode: 0o644 });
    const reply = await pen.ctl(`include ${included}`);
    assert.match(reply, new RegExp(`^5\ndo_cmd: ${included} line 2: server 0 check: only pen's handle data path serves this`));
    assert.equal(await pen.ctl('timeout'), '5\n', 'the other line was applied');
    fs.writeFileSync(config, 'timeout 6\naccept_proxy 0\n');
    process.kill(pen.pid, 'SIGHUP');
    await waitFor('the config file re-read', async () => (await pen.ctl('timeout')) === '6\n');
    await waitFor('the refusal logged', () => /pen\.cfg line 2: accept_proxy: only pen's handle data path serves this/.test(pen.stderr));
    assert.equal(await pen.ctl('accept_proxy'), 'accept_proxy off\n');
    assert.equal(await fetchName(pen.port), 'A');
  });
});

/** CPU seconds `pid` has used, user and system, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime, fields 14 and 15 of stat(5), in clock ticks (100 a second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * Sets the soft RLIMIT_NOFILE of pen (which runs as nobody): as nobody, whose IDs are pen's, as
 * root may lack CAP_SYS_RESOURCE for another user's process.
 */
function setOpenFiles(pid: number, soft: number): void {
  execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'prlimit', '--pid', String(pid), `--nofile=${soft}:`]);
}

/** The lowest descriptor number `pid` has free: the next accept4 takes it. */
function lowestFreeDescriptor(pid: number): number {
  const taken = new Set(fs.readdirSync(`/proc/${pid}/fd`).map(Number));
  let fd = 0;
  while (taken.has(fd)) fd++;
  return fd;
}

describe('a pen on the FFI loop out of descriptors', () => {
  for (const rounds of ['c', 'ts'] as const) {
    it(`rests its listener rather than spin, and takes the waiting client once descriptors are free (${rounds} rounds)`, async () => {
      const pen = await startPen([], rounds === 'ts' ? { FLAVORKIT_PEN_FFI_ROUND: 'ts' } : {});
      assert.equal((await statusOf(pen)).ffi_rounds, rounds);
      assert.equal(await fetchName(pen.port), 'A');
      const limits = fs.readFileSync(`/proc/${pen.pid}/limits`, 'utf8');
      const soft = Number(/^Max open files\s+(\d+)/m.exec(limits)![1]);
      // The last client's descriptors closed (the loop may put a close off to its next round).
      const listed = () => fs.readdirSync(`/proc/${pen.pid}/fd`).join(',');
      let seen = '';
      await waitFor('descriptors settled', async () => {
        const [first] = [listed(), await new Promise((r) => setTimeout(r, 200))];
        return (seen = listed()) === first;
      });
      // Every descriptor from the lowest free one up is out of reach: accept4 fails with EMFILE.
      const limit = lowestFreeDescriptor(pen.pid);
      setOpenFiles(pen.pid, limit);
      // What went wrong, should a step fail: the descriptors before, the limit, pen's log.
      const context = () => `descriptors before: ${seen}; limit ${limit}; now: ${listed()}; pen's log ends: ${pen.stderr.slice(-400)}`;
      try {
        let answered: string | null = null;
        const answer = fetchName(pen.port).then((body) => (answered = body));
        await new Promise((r) => setTimeout(r, 300));
        const before = cpuSeconds(pen.pid);
        await new Promise((r) => setTimeout(r, 1500));
        const used = cpuSeconds(pen.pid) - before;
        assert.equal(answered, null, `the client had an answer (${JSON.stringify(answered)}) with no descriptor free; ${context()}`);
        // A listener retried in every round would keep the loop's thread busy the whole time.
        assert.ok(used < 0.5, `pen used ${used} s of CPU in 1.5 s with a client it cannot take`);
        setOpenFiles(pen.pid, soft);
        assert.equal(await answer, 'A', `the waiting client, once descriptors were free; ${context()}`);
      } finally {
        setOpenFiles(pen.pid, soft);
      }
      assert.equal(await fetchName(pen.port), 'A', `a new client; ${context()}`);
    });
  }
});
