import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';

/** First line of every PAM file a test writes: how a test knows a file is its own. */
export const PAM_TEST_MARKER = '# written by a flavorkit test; removed when it ends';

/**
 * Writes /etc/pam.d/<service> for a test; refuses when a file is there that a test did not write,
 * so a host's own PAM configuration is never overwritten.
 */
export function writeTestPamService(service: string, lines: string[]): () => void {
  const file = `/etc/pam.d/${service}`;
  if (fs.existsSync(file) && !fs.readFileSync(file, 'utf8').startsWith(PAM_TEST_MARKER)) {
    throw new Error(`${file} exists and was not written by a test; refusing to overwrite it`);
  }
  fs.writeFileSync(file, `${PAM_TEST_MARKER}\n${lines.join('\n')}\n`, { mode: 0o644 });
  return () => {
    if (fs.existsSync(file) && fs.readFileSync(file, 'utf8').startsWith(PAM_TEST_MARKER)) fs.rmSync(file);
  };
}

export interface TestUser {
  name: string;
  password: string;
  remove(): void;
}

/** A real local user with a password, created for one test and removed after. */
export function createTestUser(options: { expired?: boolean } = {}): TestUser {
  const name = `fkt${crypto.randomBytes(3).toString('hex')}`;
  const password = crypto.randomBytes(9).toString('base64url');
  execFileSync('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', name]);
  execFileSync('chpasswd', [], { input: `${name}:${password}\n` });
  // An account that expired on 2 January 1970.
  if (options.expired) execFileSync('chage', ['-E', '1', name]);
  return { name, password, remove: () => execFileSync('userdel', [name]) };
}
