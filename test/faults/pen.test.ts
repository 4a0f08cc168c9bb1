// pen under faults: a full log disk while it serves and reloads, hostile control clients on both
// of its control sockets, and control commands that would block or read files.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { layout, loadFlavor, underRoot } from '../../src/flavor';
import { CONN_MAX_RUNNING } from '../../src/pen/commands';
import { Backend, fetchName, PenInstance } from '../pen/harness';
import { askSocket, freePort, isAlive, killAndWait, PROJECT_ROOT, TSX_LOADER, tempDir, waitFor, waitForTcp } from '../support/process';
import { assaultControl, fillLogDisk, freeLogDisk, hangUps, openDescriptors, readInNamespace, runWithSmallLogDisk } from './support';

describe('pen with a full log disk', () => {
  const root = tempDir('pen-disk');
  const logs = underRoot(layout(loadFlavor('abc'), 'pen'), root);
  const requestLog = path.join(logs.logDir, 'requests.log');
  const backend = new Backend('alpha');
  let pid = 0;

  before(async () => {
    await backend.start();
  });

  after(async () => {
    if (pid) await killAndWait(pid, 'SIGTERM');
    await backend.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('keeps serving through 100 HUPs while nothing can be logged, and says what it lost once it can', async () => {
    const port = await freePort();
    const started = await runWithSmallLogDisk(
      logs.logDir,
      256,
      [process.execPath, ...TSX_LOADER, path.join(PROJECT_ROOT, 'src/pen/bin/pen.ts'), '-l', requestLog, `127.0.0.1:${port}`, `127.0.0.1:${backend.port}`],
      { FLAVOR: 'abc', FLAVORKIT_ROOT: root },
    );
    assert.equal(started.code, 0, started.stderr);
    pid = Number(fs.readFileSync(logs.pidFile, 'utf8'));
    await waitForTcp(port);
    assert.equal(await fetchName(port), 'alpha');
    const descriptors = openDescriptors(pid);

    await fillLogDisk(pid, logs.logDir);
    // Enough requests to outgrow the request log's last page, which the fill could not take.
    for (let round = 0; round < 10; round++) {
      await hangUps(pid, 10);
      for (let i = 0; i < 12; i++) assert.equal(await fetchName(port), 'alpha', `served in round ${round + 1} of the full disk`);
    }
    assert.ok(isAlive(pid));

    await freeLogDisk(pid, logs.logDir);
    process.kill(pid, 'SIGHUP');
    assert.equal(await fetchName(port), 'alpha');
    let console = '';
    await waitFor('the losses in the console log', async () => {
      console = await readInNamespace(pid, logs.consoleLog);
      return /\d+ log line\(s\) lost from \S+ to \S+ \(ENOSPC\)/.test(console) && /\d+ request log line\(s\) lost from/.test(console);
    }).catch((err: Error) => assert.fail(`${err.message}; the console log ends:\n${console.slice(-600)}`));
    assert.match(console, /log reopened and configuration re-read\n[^]*$/);
    // Whole records only: a line the full disk cut short was ended before the next.
    const records = (await readInNamespace(pid, requestLog)).split('\n').filter((l) => l !== '');
    assert.ok(records.length > 1);
    const record = /^127\.0\.0\.1 (?!.*127\.0\.0\.1 \d+ )/;
    for (const r of records) assert.ok(record.test(r) || '127.0.0.1 '.startsWith(r), `one record, or a record cut short, per line: ${r}`);
    assert.match(records.at(-1)!, /^127\.0\.0\.1 \d+ 127\.0\.0\.1 GET \/ HTTP\/1\.1$/);
    await waitFor('descriptors back to where they were', () => openDescriptors(pid) <= descriptors);
  });
});

describe('penlogd with a full log disk', () => {
  const root = tempDir('penlogd-disk');
  const logs = underRoot(layout(loadFlavor('abc'), 'pen'), root);
  const merged = path.join(logs.logDir, 'merged.log');
  const sender = dgram.createSocket('udp4');
  let pid = 0;

  after(async () => {
    sender.close();
    if (pid) await killAndWait(pid, 'SIGTERM');
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('keeps merging through HUPs while its log cannot grow, and says what it lost once it can', async () => {
    const port = await freePort();
    const started = await runWithSmallLogDisk(
      logs.logDir,
      256,
      [process.execPath, ...TSX_LOADER, path.join(PROJECT_ROOT, 'src/pen/bin/penlogd.ts'), '-l', merged, `127.0.0.1:${port}`],
      { FLAVOR: 'abc', FLAVORKIT_ROOT: root },
    );
    assert.equal(started.code, 0, started.stderr);
    pid = Number(fs.readFileSync(logs.companions.penlogd.pidFile, 'utf8'));
    const record = (n: number) =>
      new Promise<void>((resolve, reject) => sender.send(`127.0.0.1 "GET /${n} HTTP/1.1" 200 ${n}\n`, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
    await record(0);
    await waitFor('the first record', async () => (await readInNamespace(pid, merged)).includes('GET /0 '));
    await fillLogDisk(pid, logs.logDir);
    for (let round = 0; round < 10; round++) {
      await hangUps(pid, 10);
      for (let i = 1; i <= 20; i++) await record(round * 100 + i);
    }
    await freeLogDisk(pid, logs.logDir);
    await waitFor('the last record and the count of the lost ones', async () => {
      await record(9999);
      const console = await readInNamespace(pid, logs.companions.penlogd.consoleLog);
      return (await readInNamespace(pid, merged)).includes('GET /9999 ') && /\d+ merged log line\(s\) lost from \S+ to \S+ \(ENOSPC\)/.test(console);
    });
    assert.ok(isAlive(pid));
  });
});

describe("pen's control sockets against a hostile local client", () => {
  const backend = new Backend('alpha');
  const pen = new PenInstance('ours');
  let flavorSocket = '';

  before(async () => {
    await backend.start();
    await pen.start(['-X'], [`127.0.0.1:${backend.port}`]);
    flavorSocket = underRoot(layout(loadFlavor('abc'), 'pen'), pen.root).controlSocket;
    await waitFor('the flavor control socket', () => fs.existsSync(flavorSocket));
  });

  after(async () => {
    await pen.stop();
    await backend.stop();
  });

  it('answers a request ended by half-close, on pen.sock and on the -C port', async () => {
    assert.equal(await askSocket(flavorSocket, 'blacklist 2', { halfClose: true }), '2\n');
    assert.equal(await askSocket({ port: pen.control, host: '127.0.0.1' }, 'blacklist 3', { halfClose: true }), '3\n');
  });

  it('outlives 1 MB lines, half-closed requests and 300 idle clients on each, with its descriptors back', async () => {
    await assaultControl(pen.pid, flavorSocket, () => askSocket(flavorSocket, 'pid'), 'pid', new RegExp(`^${pen.pid}\\n$`));
    await assaultControl(pen.pid, { port: pen.control, host: '127.0.0.1' }, () => pen.ctl('pid'), 'pid', new RegExp(`^${pen.pid}\\n$`));
    assert.equal(await fetchName(pen.port), 'alpha');
  });

  it('include of a FIFO is refused at once, and pen keeps proxying', async () => {
    const fifo = path.join(pen.root, 'fifo');
    execFileSync('mkfifo', [fifo]);
    try {
      assert.equal(await pen.ctl(`include ${fifo}`), `do_cmd: can't read config file '${fifo}': it is not a regular file; include reads config files only\n`);
      assert.equal(await fetchName(pen.port), 'alpha');
    } finally {
      fs.rmSync(fifo, { force: true });
    }
  });

  it("include does not show a file's lines that are no pen commands", async () => {
    const reply = await pen.ctl('include /etc/passwd');
    assert.doesNotMatch(reply, /root:/);
    assert.match(reply, /^do_cmd: \/etc\/passwd line 1: not a pen command \(the line is not shown\)$/m);
  });

  it('conn_max of a running pen is bounded, and a size within the bound is taken', async () => {
    assert.equal(await pen.ctl('conn_max 1000'), '1000\n');
    assert.equal(
      await pen.ctl('conn_max 500000'),
      `do_cmd: conn_max 500000: a running pen grows its connection table to at most ${CONN_MAX_RUNNING}; start pen with -x 500000 for a larger one\n`,
    );
    assert.equal(await pen.ctl('conn_max'), '1000\n');
    assert.equal(await fetchName(pen.port), 'alpha');
  });

  it("status writes the flavor's pen.html when no web_stats is set", async () => {
    const page = await pen.ctl('status');
    assert.match(page, /<title>Pen status page<\/title>/);
    const file = underRoot(layout(loadFlavor('abc'), 'pen'), pen.root).files.webStats;
    assert.match(fs.readFileSync(file, 'utf8'), /<title>Pen status page<\/title>/);
  });
});
