import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Where extracted reference packages are cached between runs (ignored by git). */
export const REFERENCE_DIR = path.resolve(__dirname, '../.tmp/ref');

/**
 * A file of a Debian package, extracted and never installed: the reference binaries (Debian's
 * pen, say) would clash with paths the default flavor ships. Downloads once per machine.
 */
export function referenceFile(pkg: string, file: string): string {
  const root = path.join(REFERENCE_DIR, pkg);
  const target = path.join(root, file);
  if (fs.existsSync(target)) return target;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `ref-${pkg}-`));
  try {
    execFileSync('apt-get', ['download', pkg], { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });
    const deb = fs.readdirSync(work).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${pkg} produced no .deb; run 'apt-get update' first`);
    fs.mkdirSync(REFERENCE_DIR, { recursive: true });
    const staging = `${root}.partial`;
    fs.rmSync(staging, { recursive: true, force: true });
    execFileSync('dpkg', ['-x', path.join(work, deb), staging]);
    fs.rmSync(root, { recursive: true, force: true });
    fs.renameSync(staging, root);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  if (!fs.existsSync(target)) throw new Error(`package ${pkg} has no ${file}`);
  return target;
}
