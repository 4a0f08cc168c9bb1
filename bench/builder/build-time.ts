// Time of a full build of one flavor: bundles, rendered templates, units and every package format.
// Usage: node --import tsx bench/builder/build-time.ts [FLAVOR] [RUNS]
// It times `flavor build FLAVOR` end to end (the command an operator runs) and, in the same run,
// each phase through the library.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DAEMONS, loadFlavor } from '../../src/flavor';
import { buildFlavor } from '../../src/builder/build';
import { PROJECT_ROOT } from '../../src/builder/project';
import { PACKAGERS } from '../../src/builder/packagers';

const flavorName = process.argv[2] ?? 'abc';
const runs = Number(process.argv[3] ?? 5);

/** One build through the pipeline the CLI runs, with each phase's time summed over the daemons. */
async function phases(work: string): Promise<Record<string, number>> {
  const t: Record<string, number> = {};
  const started = process.hrtime.bigint();
  await buildFlavor(flavorName, { distDir: work, onPhase: (phase, ms) => (t[phase] = (t[phase] ?? 0) + ms) });
  t.total = Number(process.hrtime.bigint() - started) / 1e6;
  return t;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const flavor = loadFlavor(flavorName);
  const cli: number[] = [];
  const parts: Array<Record<string, number>> = [];
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
    `Flavor \`${flavorName}\` (${flavor.daemons.join(', ')}; one package per format each: ${PACKAGERS.map((f) => f.format).join(', ')}), ${runs} runs, milliseconds:`,
    '',
    '| step | median | min | max |',
    '|---|---|---|---|',
    row(`\`flavor build ${flavorName}\` (whole command, incl. Node and tsx start-up)`, cli),
    row('library build (the same pipeline in-process)', parts.map((p) => p.total!)),
    row('bundles (esbuild, stamped)', parts.map((p) => p.bundle!)),
    row('native addons copied', parts.map((p) => p.natives!)),
    row('init scripts, units, PAM, configs rendered', parts.map((p) => p.render!)),
    // The packagers run side by side: these sum each package's own time, overlapping.
    ...PACKAGERS.map((f) => row(`${f.format} packages (each package's time, summed; they run in parallel)`, parts.map((p) => p[f.format]!))),
    '',
    `Target: < 2 000 ms for the library build. Daemons: ${DAEMONS.filter((d) => flavor.daemons.includes(d)).join(', ')}.`,
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
