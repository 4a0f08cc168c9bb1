import { loadNative } from './native';

interface NodeLinuxPam {
  pamAuthenticatePromise(options: { username: string; password: string; serviceName: string }): Promise<number>;
}

export interface PamResult {
  ok: boolean;
  /** PAM's return code (0 = success), for the log. */
  code: number;
  reason: string;
}

const REASONS: Record<number, string> = {
  0: 'success',
  6: 'permission denied',
  7: 'authentication failure',
  9: 'authentication information unavailable',
  10: 'unknown user',
  12: 'new password required',
  13: 'account expired',
};

/**
 * Authenticates through the real libpam against the stamped service: pam_authenticate, then
 * pam_acct_mgmt (so an expired or locked account is refused, not only a wrong password).
 */
export async function pamAuthenticate(service: string, username: string, password: string, libDir: string): Promise<PamResult> {
  let pam: NodeLinuxPam;
  try {
    pam = loadNative<NodeLinuxPam>('node-linux-pam', libDir);
  } catch (err) {
    // A refusal that says why, not a crash at every login: the package's addon is missing or broken.
    return { ok: false, code: -1, reason: `PAM cannot be used here (${(err as Error).message.split('\n')[0]}); reinstall the package` };
  }
  try {
    await pam.pamAuthenticatePromise({ username, password, serviceName: service });
    return { ok: true, code: 0, reason: 'success' };
  } catch (err) {
    const code = typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
    return { ok: false, code, reason: REASONS[code] ?? (err as Error).message };
  }
}
