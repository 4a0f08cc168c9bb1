import zlib from 'node:zlib';
import fs from 'node:fs';
import type { Fmri } from './fmri';
import { attr, parseManifest } from './manifest';

/** Sizes as pkg prints them: 1024-based, two decimals. */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(2)} ${units[unit]}`;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `20161224T160903Z` as C's ctime() writes it: `Sat Dec 24 16:09:03 2016`. */
export function ctime(timestamp: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(timestamp);
  if (!m) return timestamp;
  const d = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
  const two = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

/** The info/0 text of a package: its summary, version parts, sizes and license texts. */
export function packageInfo(publisher: string, fmri: Fmri, manifest: string, licenseFile: (hash: string) => string | null): string {
  const actions = parseManifest(manifest);
  const summary = actions.find((a) => a.type === 'set' && attr(a, 'name') === 'pkg.summary');
  let size = 0;
  let csize = 0;
  for (const a of actions) {
    size += Number(attr(a, 'pkg.size') ?? 0);
    csize += Number(attr(a, 'pkg.csize') ?? 0);
  }
  const [releaseBranch = '', timestamp = ''] = fmri.version.split(':');
  const [releaseBuild = '', branch = ''] = releaseBranch.split('-');
  const [release = '', build = ''] = releaseBuild.split(',');
  const rows: Array<[string, string]> = [
    ['Name', fmri.stem],
    ['Summary', summary ? (attr(summary, 'value') ?? '') : ''],
    ['Publisher', publisher],
    ['Version', release],
    ['Build Release', build],
    ['Branch', branch],
    ['Packaging Date', ctime(timestamp)],
    ['Size', humanSize(size)],
    ['Compressed Size', humanSize(csize)],
    ['FMRI', `pkg://${publisher}/${fmri.stem}@${fmri.version}`],
  ];
  let out = rows.map(([k, v]) => `${k.padStart(15)}: ${v}`).join('\n') + '\n';
  for (const license of actions.filter((a) => a.type === 'license' && a.hash)) {
    const file = licenseFile(license.hash!);
    const text = file ? zlib.gunzipSync(fs.readFileSync(file)).toString('utf8') : '';
    out += `\nLicense:\n${text}\n`;
  }
  return out;
}
