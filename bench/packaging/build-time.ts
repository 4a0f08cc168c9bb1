// Time of a full build of one flavor: bundles, rendered templates and RPMs.
// Usage: node --import tsx bench/packaging/build-time.ts [FLAVOR] [RUNS]
// It times `flavor build FLAVOR` end to end (the command an operator runs) and, in the same run,
// each phase through the library.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DAEMONS, layout, loadFlavor } from '../../src/flavor';
import { bundleDaemon, PROJECT_ROOT } from '../../src/build/bundle';
import { copyNatives } from '../../src/build/natives';
import { defaultPackageOptions, packageDaemon } from '../../src/build/rpm';

const flavorName = process.argv[2] ?? 'abc';
const runs = Number(process.argv[3] ?? 5);

async function phases(work: string): Promise<{ bundle: number; natives: number; rpm: number }> {
  const flavor = loadFlavor(flavorName);
  const options = defaultPackageOptions();
  const t = { bundle: 0, natives: 0, rpm: 0 };
  for (const daemon of flavor.daemons) {
    const l = layout(flavor, daemon);
    const root = path.join(work, daemon, 'root');
    let s = process.hrtime.bigint();
    await bundleDaemon(flavor, daemon, path.join(root, l.binDir));
    t.bundle += Number(process.hrtime.bigint() - s) / 1e6;
    s = process.hrtime.bigint();
    await copyNatives(PROJECT_ROOT, path.join(root, l.libDir));
    t.natives += Number(process.hrtime.bigint() - s) / 1e6;
    s = process.hrtime.bigint();
    await packageDaemon(l, root, work, path.join(work, daemon, 'rpmwork'), options);
    t.rpm += Number(process.hrtime.bigint() - s) / 1e6;
  }
  return t;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const flavor = loadFlavor(flavorName);
  const cli: number[] = [];
  const parts: Array<{ bundle: number; natives: number; rpm: number }> = [];
  for (let i = 0; i < runs; i++) {
    const s = process.hrtime.bigint();
    const r = spawnSync(process.execPath, [path.join(PROJECT_ROOT, 'bin/flavor'), 'build', flavorName], { cwd: PROJECT_ROOT, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`flavor build ${flavorName} failed:\n${r.stderr}`);
    cli.push(Number(process.hrtime.bigint() - s) / 1e6);
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'flavorkit-bench-build-'));
    try {
      parts.push(await phases(work));
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  }
  const row = (name: string, xs: number[]) => `| ${name} | ${median(xs).toFixed(0)} | ${Math.min(...xs).toFixed(0)} | ${Math.max(...xs).toFixed(0)} |`;
  const lines = [
    `Flavor \`${flavorName}\` (${flavor.daemons.join(', ')}; one RPM each), ${runs} runs, milliseconds:`,
    '',
    '| step | median | min | max |',
    '|---|---|---|---|',
    row(`\`flavor build ${flavorName}\` (whole command, incl. Node and tsx start-up)`, cli),
    row('bundles (esbuild, stamped)', parts.map((p) => p.bundle)),
    row('native addons copied', parts.map((p) => p.natives)),
    row('templates rendered + RPMs (spec, rpmbuild)', parts.map((p) => p.rpm)),
    '',
    `Target: < 10 000 ms for the whole command. Daemons: ${DAEMONS.filter((d) => flavor.daemons.includes(d)).join(', ')}.`,
    '',
    `Machine: ${os.cpus().length} CPUs (\`nproc\` ${execFileSync('nproc').toString().trim()}), kernel ${os.release()}, Node ${process.version}; ` +
      `memory: ${execFileSync('free', ['-h']).toString().split('\n')[1]!.replace(/\s+/g, ' ')}.`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
