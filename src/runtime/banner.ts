import { layoutTable } from '../flavor/describe';
import type { DaemonName } from '../flavor/daemons';
import { currentLayout, stampOrigin } from './layout';

export function flavorBanner(daemon: DaemonName, json: boolean): string {
  const l = currentLayout(daemon);
  return json ? JSON.stringify({ ...l, origin: stampOrigin() }, null, 2) : layoutTable(l, [['origin', stampOrigin()]]);
}

/**
 * Every program answers `--flavor` (and `--flavor --json`) with the layout it was built for,
 * before parsing anything else. Returns true when it answered.
 */
export function handleFlavorFlag(daemon: DaemonName, argv: readonly string[]): boolean {
  if (!argv.includes('--flavor')) return false;
  process.stdout.write(`${flavorBanner(daemon, argv.includes('--json'))}\n`);
  return true;
}
