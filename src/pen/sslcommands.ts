import { SSL_OPTIONS, type PenState, type SslOption } from './state';
import type { LiveTls } from './tls';
import { explainPath } from './tlsfiles';

/** The reply to an ssl_* change that an open TLS listener cannot take up. */
function keptUntilRestart(line: string, what: string): string {
  return `do_cmd: ${line}: the TLS listener keeps the ${what} it opened with; put the command in the config file and restart pen\n`;
}

/**
 * The `ssl_*` commands. They shape the TLS listener when it opens; once it is open, as in pen,
 * ssl_sni_path, ssl_ocsp_response and the renegotiation interval take effect at once, and a
 * change of ciphers or options is refused rather than ignored.
 */
export function sslCommand(state: PenState, live: LiveTls | null, cmd: string, arg: string | undefined): string {
  const tls = state.tls;
  if (cmd === 'ssl_ciphers') {
    // As in pen, ssl_ciphers alone goes back to the default list.
    const ciphers = arg ?? null;
    if (live && ciphers !== tls.ciphers) return keptUntilRestart(`ssl_ciphers ${arg ?? ''}`.trim(), 'ciphers');
    tls.ciphers = ciphers;
    return '';
  }
  if (arg === undefined) return `do_cmd: ${cmd} needs a value\n`;
  switch (cmd) {
    case 'ssl_option':
      if (!(SSL_OPTIONS as readonly string[]).includes(arg)) return `do_cmd: unknown ssl_option '${arg}'; use one of ${SSL_OPTIONS.join(', ')}\n`;
      if (live && !tls.options.has(arg as SslOption)) return keptUntilRestart(`ssl_option ${arg}`, 'protocol versions and options');
      tls.options.add(arg as SslOption);
      return '';
    case 'ssl_sni_path': case 'ssl_ocsp_response': {
      // Unchanged, as when SIGHUP re-reads the config file: nothing to check, and pen may no longer read it.
      if (cmd === 'ssl_sni_path' && arg === tls.sniPath) return '';
      const problem = explainPath(cmd, arg, cmd === 'ssl_sni_path' ? 'directory' : 'file');
      if (problem) return `do_cmd: ${problem}\n`;
      if (cmd === 'ssl_sni_path') tls.sniPath = arg;
      else tls.ocspResponse = arg;
      break;
    }
    default: {
      if (!/^\d+$/.test(arg)) return `do_cmd: ${cmd} takes a number of seconds, not '${arg}'\n`;
      tls.renegotiationInterval = Number(arg);
    }
  }
  live?.refresh();
  return '';
}
