// `npm test`: every test file, in two groups. Files that share something with each other run
// one at a time (the serial group, each listed with what it shares); all others run side by side.
//   node --import tsx test/suite.ts [concurrent|serial]
// FLAVORKIT_TEST_CONCURRENCY sets how many files of the concurrent group run at once; by default
// one per core, and at least two: most of a file's time is spent waiting on what it starts, but
// every daemon a test starts compiles its sources first, and a starved start runs into deadlines.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const TEST_DIR = __dirname;
const ROOT = path.dirname(TEST_DIR);

const SHARED_PAM = 'writes /etc/pam.d/depotabc and adds users (useradd locks /etc/passwd)';
const SERIAL: Record<string, string> = {
  'test/builder/deb.test.ts': 'mounts a private /usr to install .debs',
  'test/builder/install.test.ts': 'installs packages into the host rpm database and /usr (root)',
  'test/builder/repo.test.ts': 'installs from repositories in mount namespaces (root)',
  'test/builder/systemd-live.test.ts': 'boots a systemd container',
  'test/depot/hardening.test.ts': SHARED_PAM,
  'test/depot/protocol.test.ts': SHARED_PAM,
  'test/depot/tls.test.ts': SHARED_PAM,
  'test/faults/depot.test.ts': 'fills small log disks in mount namespaces and counts descriptors against limits',
  'test/faults/init.test.ts': 'fills small log disks in mount namespaces and counts descriptors against limits',
  'test/faults/pen.test.ts': 'fills small log disks in mount namespaces and counts descriptors against limits',
  'test/faults/runtime.test.ts': 'fills small log disks in mount namespaces',
  'test/runtime/pam.test.ts': 'writes PAM service files in /etc/pam.d and adds users',
  'test/runtime/syslog.test.ts': 'replaces /dev/log in mount namespaces',
  'test/init/cluster.test.ts': 'etcd leases of a few seconds, which a busy CPU lets expire',
  'test/init/cluster-faults.test.ts': 'etcd leases of a few seconds, which a busy CPU lets expire',
};

function testFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return testFiles(file);
    return entry.name.endsWith('.test.ts') ? [path.relative(ROOT, file)] : [];
  });
}

function runGroup(files: string[], concurrency: number): number {
  if (files.length === 0) return 0;
  const ran = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...files], { cwd: ROOT, stdio: 'inherit' });
  return ran.status ?? 1;
}

const all = testFiles(TEST_DIR).sort();
const stale = Object.keys(SERIAL).filter((f) => !all.includes(f));
if (stale.length) {
  process.stderr.write(`test/suite.ts lists files that do not exist: ${stale.join(', ')}; update SERIAL\n`);
  process.exit(2);
}
const group = process.argv[2];
if (group !== undefined && group !== 'concurrent' && group !== 'serial') {
  process.stderr.write(`unknown group "${group}"; give concurrent, serial or nothing (both)\n`);
  process.exit(2);
}
const concurrency = Number(process.env.FLAVORKIT_TEST_CONCURRENCY ?? Math.max(2, os.availableParallelism()));
if (!Number.isInteger(concurrency) || concurrency < 1) {
  process.stderr.write(`FLAVORKIT_TEST_CONCURRENCY=${process.env.FLAVORKIT_TEST_CONCURRENCY} is not a whole number of at least 1\n`);
  process.exit(2);
}
let status = 0;
if (group !== 'serial') status ||= runGroup(all.filter((f) => !(f in SERIAL)), concurrency);
if (group !== 'concurrent') status = runGroup(all.filter((f) => f in SERIAL), 1) || status;
process.exit(status);
