import fs from 'node:fs';
import { writeFileAtomic } from '../runtime';

export type GroupState = 'start' | 'run' | 'fail' | 'stopping' | 'stopped';

export interface GroupStatus {
  group: string;
  state: GroupState;
  level: string;
}

/**
 * Writes the initstat file: rows `group state level` between `!startid N` and `!endid N`,
 * through a temp file and a rename, so a reader never sees a mix of two versions.
 */
export class InitstatWriter {
  private id = 0;

  constructor(readonly file: string) {}

  write(rows: GroupStatus[]): void {
    this.id++;
    const body = [`!startid ${this.id}`, ...rows.map((r) => `${r.group} ${r.state} ${r.level}`), `!endid ${this.id}`, ''].join('\n');
    writeFileAtomic(this.file, body, { mode: 0o644, createDir: true });
  }
}

/** Reads an initstat file; null while it is being replaced or half-written. */
export function readInitstat(file: string): GroupStatus[] | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const lines = text.split('\n').filter((l) => l !== '');
  const start = lines[0]?.match(/^!startid (\d+)$/);
  const end = lines.at(-1)?.match(/^!endid (\d+)$/);
  if (!start || !end || start[1] !== end[1]) return null;
  return lines.slice(1, -1).map((l) => {
    const [group, state, level] = l.split(' ');
    return { group: group!, state: state as GroupState, level: level! };
  });
}
