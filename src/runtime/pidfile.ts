import fs from 'node:fs';
import path from 'node:path';

/** Writes the PID file atomically (temp + rename): readers never see a partial number. */
export function writePidFile(file: string, pid = process.pid): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temp = `${file}.tmp`;
  fs.writeFileSync(temp, `${pid}\n`, { mode: 0o644 });
  fs.renameSync(temp, file);
}

export function removePidFile(file: string, pid = process.pid): void {
  try {
    if (Number(fs.readFileSync(file, 'utf8').trim()) === pid) fs.rmSync(file, { force: true });
  } catch {
    // Already gone.
  }
}
