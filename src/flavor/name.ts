import { DAEMONS, DAEMON_SPECS } from './daemons';

export const DEFAULT_FLAVOR = 'tog';
export const FLAVOR_NAME_PATTERN = /^[a-z][a-z0-9]{0,11}$/;

export class FlavorError extends Error {
  override name = 'FlavorError';
}

/** Names that would make a flavored name ambiguous with a daemon's own names. */
const RESERVED = new Set<string>([
  ...DAEMONS,
  ...DAEMONS.map((d) => DAEMON_SPECS[d].systemName),
  ...DAEMONS.flatMap((d) => DAEMON_SPECS[d].programs),
  'flavor',
]);

/**
 * A flavor name reaches shell scripts, file names, syslog and RPM names, so it is checked
 * before any use. Throws a FlavorError that names the problem and the fix.
 */
export function validateFlavorName(name: unknown): string {
  const fix = 'use 1 to 12 characters: a lowercase letter, then lowercase letters or digits (e.g. "abc")';
  if (typeof name !== 'string' || name.length === 0) {
    throw new FlavorError(`flavor name is empty; ${fix}`);
  }
  const shown = JSON.stringify(name);
  if (name.length > 12) throw new FlavorError(`flavor name ${shown} is ${name.length} characters long; ${fix}`);
  if (!FLAVOR_NAME_PATTERN.test(name)) throw new FlavorError(`flavor name ${shown} is not allowed; ${fix}`);
  if (RESERVED.has(name)) {
    throw new FlavorError(`flavor name ${shown} is the name of a daemon or program; choose another name`);
  }
  return name;
}
