import fs from 'node:fs';
import { writeFileAtomic } from './atomic-file';

/** Writes the PID file atomically: readers never see a partial number. */
export function writePidFile(file: string, pid = process.pid): void {
  writeFileAtomic(file, `${pid}\n`, { mode: 0o644, createDir: true });
}

export function removePidFile(file: string, pid = process.pid): void {
  try {
    if (Number(fs.readFileSync(file, 'utf8').trim()) === pid) fs.rmSync(file, { force: true });
  } catch {
    // Already gone.
  }
}
