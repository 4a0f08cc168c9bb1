import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { readOrExplain } from './errno-messages';
import { holdsCertificate, pairProblem } from './tlsfiles';

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

interface Loaded {
  /** The modification times of NAME.crt, .key and .ca when they were last read. */
  stamp: string;
  context: tls.SecureContext | null;
}

function modified(file: string): string {
  try {
    return String(fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? '-');
  } catch {
    return '?';
  }
}

/**
 * `ssl_sni_path DIR`: a client naming a host that has DIR/NAME.crt and DIR/NAME.key gets that
 * certificate (with DIR/NAME.ca as its CA and DIR/NAME.ocsp stapled); any other name gets the
 * default one. As in pen, DIR is the one named at the handshake. Its files are read when it is
 * named (at start, before pen gives up root, so the keys may stay readable by root alone); a file
 * replaced later is taken up if pen can read it. A pair that cannot be used is logged once per
 * change, and its name keeps the certificate it had, else gets the default one.
 */
export class SniCertificates {
  /** By the path of NAME.crt. */
  private readonly loaded = new Map<string, Loaded>();

  constructor(
    private readonly directory: () => string | null,
    private readonly base: tls.SecureContextOptions,
    private readonly onLoaded: (certificate: Buffer, ocspFile: string) => void,
    private readonly warn: (message: string) => void,
  ) {}

  /** Reads every NAME.crt of the directory, logging those no client could be given. */
  scan(): void {
    const dir = this.directory();
    if (dir === null) return;
    let entries: string[];
    try {
      entries = fs.readdirSync(dir);
    } catch (err) {
      this.warn(`ssl_sni_path ${dir} cannot be read (${(err as Error).message}); every client gets the default certificate`);
      return;
    }
    for (const entry of entries.filter((e) => e.endsWith('.crt'))) {
      const name = entry.slice(0, -'.crt'.length);
      const file = path.join(dir, entry);
      if (!HOST_NAME.test(name)) this.warn(`ssl_sni_path: ${file}: "${name}" is not a host name a client can ask for; name the files after the host`);
      else if (name !== name.toLowerCase()) this.warn(`ssl_sni_path: ${file}: names are looked up in lower case; rename it ${name.toLowerCase()}.crt, and its .key, .ca and .ocsp alike`);
      else this.load(dir, name);
    }
  }

  readonly callback = (servername: string, callback: (err: Error | null, context?: tls.SecureContext) => void): void => {
    const dir = this.directory();
    // The name comes from the client: only a host name may become a file name.
    const context = dir !== null && HOST_NAME.test(servername) ? this.load(dir, servername.toLowerCase()) : null;
    callback(null, context ?? undefined);
  };

  private load(dir: string, name: string): tls.SecureContext | null {
    const file = (ext: string) => path.join(dir, `${name}.${ext}`);
    const known = this.loaded.get(file('crt'));
    const stamp = ['crt', 'key', 'ca'].map((ext) => modified(file(ext))).join(' ');
    if (stamp.startsWith('- ')) return known?.context ?? null;
    if (known?.stamp === stamp) return known.context;
    let context: tls.SecureContext | null = null;
    try {
      const cert = readOrExplain(file('crt'));
      const key = readOrExplain(file('key'));
      const ca = stamp.endsWith(' -') ? undefined : readOrExplain(file('ca'));
      const wrong = pairProblem({ name: file('crt'), data: cert }, { name: file('key'), data: key });
      if (wrong) throw new Error(wrong);
      if (ca && !holdsCertificate(ca)) throw new Error(`${file('ca')} holds no PEM certificate`);
      context = tls.createSecureContext({ ...this.base, cert, key, ...(ca ? { ca } : {}) });
      this.onLoaded(cert, file('ocsp'));
    } catch (err) {
      const instead = known?.context ? 'the certificate loaded before' : 'the default certificate';
      this.warn(`ssl_sni_path: ${(err as Error).message}; clients asking for ${name} get ${instead} until that is fixed`);
    }
    this.loaded.set(file('crt'), { stamp, context: context ?? known?.context ?? null });
    return context ?? known?.context ?? null;
  }
}
