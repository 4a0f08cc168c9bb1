import fs from 'node:fs';
import { writeFileAtomic } from './atomic-file';

/** Writes the PID file atomically: readers never see a partial number. */
export function writePidFile(file: string, pid = process.pid): void {
  try {
    writeFileAtomic(file, `${pid}\n`, { mode: 0o644, createDir: true });
  } catch (err) {
    throw new Error(`the PID file ${file} cannot be written (${(err as Error).message}); give a path whose directory the daemon's user can create or write to`);
  }
}

export function removePidFile(file: string, pid = process.pid): void {
  try {
    if (Number(fs.readFileSync(file, 'utf8').trim()) === pid) fs.rmSync(file, { force: true });
  } catch {
    // Already gone.
  }
}
