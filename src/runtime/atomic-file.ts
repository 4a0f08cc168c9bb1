import fs from 'node:fs';
import path from 'node:path';

export interface AtomicWriteOptions {
  /** File mode of a new file; by default the process's (0o666 less the umask). */
  mode?: number;
  /** Create the parent directory first: for the daemon's own files, not for a path an operator named. */
  createDir?: boolean;
}

/**
 * Writes a file through a temp file beside it and a rename, so that a reader sees the old content
 * or the new, never part of one. The temp file is removed when the write fails.
 */
export function writeFileAtomic(file: string, data: string, options: AtomicWriteOptions = {}): void {
  if (options.createDir) fs.mkdirSync(path.dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(temp, data, { mode: options.mode });
    fs.renameSync(temp, file);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw err;
  }
}
