import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { layout, loadFlavor } from '../../src/flavor';
import { pamAuthenticate } from '../../src/runtime';
import { createTestUser, writeTestPamService, type TestUser } from '../support/pam';

// The service name is the flavor's own: penabc for pen of flavor abc.
const abcPen = layout(loadFlavor('abc'), 'pen');

describe('PAM through the real libpam against the stamped service', () => {
  let user: TestUser;
  let expired: TestUser;
  const cleanups: Array<() => void> = [];

  before(() => {
    user = createTestUser();
    expired = createTestUser({ expired: true });
  });
  after(() => {
    for (const c of cleanups.reverse()) c();
    user.remove();
    expired.remove();
  });

  const withService = (lines: string[]) => cleanups.push(writeTestPamService(abcPen.pamService, lines));

  it('accepts a user through a service file with pam_permit', async () => {
    withService(['auth required pam_permit.so', 'account required pam_permit.so']);
    const result = await pamAuthenticate(abcPen.pamService, user.name, 'anything', abcPen.libDir);
    assert.deepEqual(result, { ok: true, code: 0, reason: 'success' });
  });

  it('refuses the same user through a service file with pam_deny', async () => {
    withService(['auth required pam_deny.so', 'account required pam_deny.so']);
    const result = await pamAuthenticate(abcPen.pamService, user.name, user.password, abcPen.libDir);
    assert.equal(result.ok, false);
    assert.equal(result.reason, 'authentication failure');
  });

  it('checks the password with pam_unix, and refuses an expired account in account management', async () => {
    withService(['auth required pam_unix.so', 'account required pam_unix.so']);
    assert.equal((await pamAuthenticate(abcPen.pamService, user.name, user.password, abcPen.libDir)).ok, true);
    assert.equal((await pamAuthenticate(abcPen.pamService, user.name, `${user.password}x`, abcPen.libDir)).ok, false);
    const result = await pamAuthenticate(abcPen.pamService, expired.name, expired.password, abcPen.libDir);
    assert.equal(result.ok, false);
    assert.equal(result.reason, 'account expired');
  });
});
