import { layoutTable } from '../flavor/describe';
import type { DaemonName } from '../flavor/daemons';
import { currentLayout, stampOrigin } from './layout';

/** `extra`: what a daemon adds about itself (pen: its data path), after the layout. */
export function flavorBanner(daemon: DaemonName, json: boolean, extra: Array<[string, string]> = []): string {
  const l = currentLayout(daemon);
  const rows: Array<[string, string]> = [['origin', stampOrigin()], ...extra];
  return json ? JSON.stringify({ ...l, ...Object.fromEntries(rows) }, null, 2) : layoutTable(l, rows);
}

/**
 * Every program answers `--flavor` (and `--flavor --json`) with the layout it was built for,
 * before parsing anything else. Returns true when it answered.
 */
export function handleFlavorFlag(daemon: DaemonName, argv: readonly string[], extra: Array<[string, string]> = []): boolean {
  if (!argv.includes('--flavor')) return false;
  process.stdout.write(`${flavorBanner(daemon, argv.includes('--json'), extra)}\n`);
  return true;
}
