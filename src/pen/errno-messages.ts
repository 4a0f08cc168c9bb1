import fs from 'node:fs';
import os from 'node:os';

function currentUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid ${process.geteuid?.() ?? '?'}`;
  }
}

/** Why a file or directory could not be used, from the error of the call that tried. */
export function errnoProblem(err: unknown, use: 'read' | 'written' = 'read'): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ENOENT': return use === 'read' ? 'does not exist' : 'cannot be created: its directory does not exist';
    case 'EACCES': case 'EPERM': return `cannot be ${use} by user ${currentUser()} (make it ${use === 'read' ? 'readable' : 'writable'} by that user)`;
    case 'ENOTDIR': return 'cannot be reached: a part of its path is not a directory';
    case 'EISDIR': return 'is a directory, not a file';
    default: return (err as Error).message;
  }
}

/** What stops pen from reading `file` as a file or a directory, or null when nothing does. */
export function pathProblem(file: string, kind: 'file' | 'directory'): string | null {
  try {
    const stat = fs.statSync(file);
    if (kind === 'directory' && !stat.isDirectory()) return 'is not a directory';
    if (kind === 'file' && stat.isDirectory()) return 'is a directory, not a file';
    fs.accessSync(file, kind === 'directory' ? fs.constants.R_OK | fs.constants.X_OK : fs.constants.R_OK);
    return null;
  } catch (err) {
    return errnoProblem(err);
  }
}

/** Reads a file, or throws naming it and what stops it ("/etc/x.key does not exist"). */
export function readOrExplain(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new Error(`${file} ${errnoProblem(err)}`);
  }
}
