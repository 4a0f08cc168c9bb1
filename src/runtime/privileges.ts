import { execFileSync } from 'node:child_process';

export interface Account {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/** Looks a user up through NSS (getent), as the C library would. */
export function lookupUser(name: string): Account {
  let line: string;
  try {
    line = execFileSync('getent', ['passwd', name], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    throw new Error(`user "${name}" does not exist; create it or set another user for this flavor`);
  }
  const fields = line.split(':');
  return { name, uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] || '/', shell: fields[6] || '/bin/sh' };
}

/**
 * Drops root to the configured user after the privileged work (binding ports, opening the
 * control socket). A no-op when not root; an error when the user is missing.
 */
export function dropPrivileges(user: string | null): Account | null {
  if (!user || process.getuid?.() !== 0) return null;
  const account = lookupUser(user);
  process.setgroups?.([account.gid]);
  process.setgid?.(account.gid);
  process.setuid?.(account.uid);
  return account;
}
