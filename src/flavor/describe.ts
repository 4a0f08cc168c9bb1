import { companionsOf, extraFiles, type Layout } from './layout';

/** A layout as an aligned two-column table: `flavor show` and every program's `--flavor`. */
export function layoutTable(l: Layout, extra: Array<[string, string]> = []): string {
  const rows: Array<[string, string]> = [
    ['flavor', l.flavor],
    ['daemon', l.daemon],
    ...extra,
    ['package', l.packageName],
    ['prefix', l.prefix],
    ['relocatable', l.isDefault ? 'no' : 'yes'],
    ...Object.entries(l.programs).map(([k, v]): [string, string] => [`program ${k}`, v]),
    ['lib dir', l.libDir],
    ['config dir', l.configDir],
    ['config file', l.configFile],
    ['run dir', l.runDir],
    ['PID file', l.pidFile],
    ['start lock', l.startLock],
    ['control socket', l.controlSocket],
    ['log dir', l.logDir],
    ['console log', l.consoleLog],
    ['data dir', l.dataDir],
    ['doc dir', l.docDir],
    ...Object.entries(extraFiles(l)).map(([k, v]): [string, string] => [`file ${k}`, v]),
    ...Object.entries(companionsOf(l)).flatMap(([name, c]): Array<[string, string]> => [
      [`${name} PID file`, c.pidFile],
      [`${name} start lock`, c.startLock],
      [`${name} console log`, c.consoleLog],
      [`${name} log identity`, c.logIdentity],
    ]),
    ['log identity', l.logIdentity],
    ['PAM service', l.pamService],
    ['PAM file', l.pamFile],
    ['init script', l.initScript],
    ['logrotate file', l.logrotateFile],
    // Only a daemon that can share state through etcd has keys there.
    ...('cluster' in l.features ? [['etcd prefix', l.etcdPrefix] as [string, string]] : []),
    ...Object.entries(l.ports).map(([k, v]): [string, string] => [`${k} port`, String(v)]),
    ...Object.entries(l.features).map(([k, v]): [string, string] => [`feature ${k}`, v ? 'on' : 'off']),
    ['user', l.user ?? '(invoking user)'],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}
