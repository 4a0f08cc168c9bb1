import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import type { SslOption, TlsSettings } from './state';

export interface TlsOptions {
  cert: string;
  key: string | null;
  caFile: string | null;
  caDir: string | null;
  requireClientCert: boolean;
  compat: boolean;
  protocol: string;
}

type ServerOptions = tls.SecureContextOptions & tls.TlsOptions;

const PROTOCOLS: Record<string, tls.SecureVersion | null> = { ssl23: null, tls1: 'TLSv1', ssl3: null, ssl2: null };

/** Each version, and the `ssl_option` that excludes it. */
const VERSIONS: [tls.SecureVersion, SslOption | null][] = [['TLSv1', 'no_tlsv1'], ['TLSv1.1', 'no_tlsv1.1'], ['TLSv1.2', 'no_tlsv1.2'], ['TLSv1.3', null]];

/**
 * The lowest version offered: `-L`'s (or Node's default), raised above every excluded version.
 * A range cannot have holes here, so excluding a version excludes the ones below it too.
 */
function minimumVersion(protocol: string, options: Set<SslOption>): tls.SecureVersion {
  let lowest = VERSIONS.findIndex(([version]) => version === (PROTOCOLS[protocol] ?? tls.DEFAULT_MIN_VERSION));
  VERSIONS.forEach(([, option], i) => {
    if (option && options.has(option) && i >= lowest) lowest = i + 1;
  });
  return VERSIONS[lowest]![0];
}

function readFor(what: string): (file: string) => Buffer {
  return (file) => {
    try {
      return fs.readFileSync(file);
    } catch {
      throw new Error(`cannot read ${what} ${file}; check the path given to pen`);
    }
  };
}

/** TLS termination on the client side (`-E`/`-K`/`-G`/`-A`/`-R`/`-L`/`-Z` and `ssl_*`); backends stay plain. */
export function tlsContext(o: TlsOptions, settings: TlsSettings): ServerOptions {
  const cert = readFor('certificate')(o.cert);
  const ca: Buffer[] = [];
  if (o.caFile) ca.push(readFor('CA file')(o.caFile));
  if (o.caDir) for (const f of fs.readdirSync(o.caDir)) if (/\.(pem|crt|\d)$/.test(f)) ca.push(readFor('CA')(`${o.caDir}/${f}`));
  const options: ServerOptions = {
    cert,
    key: o.key ? readFor('key')(o.key) : cert,
    requestCert: o.requireClientCert || ca.length > 0,
    rejectUnauthorized: o.requireClientCert,
    minVersion: minimumVersion(o.protocol, settings.options),
    honorCipherOrder: settings.options.has('cipher_server_preference'),
  };
  if (ca.length) options.ca = ca;
  if (settings.ciphers !== null) options.ciphers = settings.ciphers;
  if (o.compat) options.secureOptions = crypto.constants.SSL_OP_ALL;
  // A live secure context is checked here, so a bad certificate or cipher list stops the start, not a client.
  try {
    tls.createSecureContext(options);
  } catch (err) {
    const message = (err as Error).message;
    if (settings.ciphers !== null && /cipher/i.test(message)) throw new Error(`ssl_ciphers "${settings.ciphers}" matches no cipher this OpenSSL offers (${message})`);
    throw new Error(`the TLS certificate and key cannot be used: ${message}`);
  }
  return options;
}

/**
 * OCSP responses to staple, by the certificate they answer for. The file is looked up and read at
 * every request, so a response fetched later (pen-ocsp.sh, or `ssl_ocsp_response FILE` sent at run
 * time) is stapled from then on.
 */
class OcspResponses {
  private readonly files = new Map<string, () => string | null>();

  add(certificatePem: Buffer, file: () => string | null): void {
    this.files.set(new crypto.X509Certificate(certificatePem).raw.toString('base64'), file);
  }

  answer = (certificate: Buffer, _issuer: Buffer, callback: (err: Error | null, response?: Buffer) => void): void => {
    const file = this.files.get(certificate.toString('base64'))?.();
    if (!file) return callback(null);
    // A missing or unreadable response file means no staple, not a failed handshake.
    fs.readFile(file, (err, data) => callback(null, err ? undefined : data));
  };
}

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/**
 * `ssl_sni_path DIR`: a client naming a host that has DIR/NAME.crt and DIR/NAME.key gets that
 * certificate (with DIR/NAME.ca as its CA and DIR/NAME.ocsp stapled); any other name gets the
 * default one. The directory is read at start, before pen gives up root, so the keys may stay
 * readable by root alone; a certificate replaced later is taken up if pen can read it.
 */
function sniContexts(dir: string, base: ServerOptions, ocsp: OcspResponses): NonNullable<tls.TlsOptions['SNICallback']> {
  const loaded = new Map<string, { mtimeMs: number; context: tls.SecureContext }>();
  const load = (name: string): tls.SecureContext | undefined => {
    const file = (ext: string) => path.join(dir, `${name}.${ext}`);
    const known = loaded.get(name);
    const stat = fs.statSync(file('crt'), { throwIfNoEntry: false });
    if (!stat || (known && known.mtimeMs === stat.mtimeMs)) return known?.context;
    try {
      const cert = fs.readFileSync(file('crt'));
      const ca = fs.existsSync(file('ca')) ? fs.readFileSync(file('ca')) : base.ca;
      const context = tls.createSecureContext({ ...base, cert, key: fs.readFileSync(file('key')), ca });
      ocsp.add(cert, () => file('ocsp'));
      loaded.set(name, { mtimeMs: stat.mtimeMs, context });
      return context;
    } catch {
      return known?.context;
    }
  };
  for (const entry of fs.readdirSync(dir)) {
    const name = entry.toLowerCase().replace(/\.crt$/, '');
    if (entry.endsWith('.crt') && HOST_NAME.test(name)) load(name);
  }
  return (servername, callback) => {
    // The name comes from the client: only a host name may become a file name.
    callback(null, HOST_NAME.test(servername) ? load(servername.toLowerCase()) : undefined);
  };
}

export function createTlsServer(options: ServerOptions, settings: TlsSettings, onSecure: (socket: tls.TLSSocket) => void): tls.Server {
  const ocsp = new OcspResponses();
  ocsp.add(options.cert as Buffer, () => settings.ocspResponse);
  const sni = settings.sniPath ? { SNICallback: sniContexts(settings.sniPath, options, ocsp) } : {};
  // Node's guard against client renegotiation (documented as settable), set to pen's rule: at
  // most one per interval.
  const limits = tls as { CLIENT_RENEG_LIMIT: number; CLIENT_RENEG_WINDOW: number };
  limits.CLIENT_RENEG_LIMIT = settings.renegotiationInterval > 0 ? 1 : Number.MAX_SAFE_INTEGER;
  if (settings.renegotiationInterval > 0) limits.CLIENT_RENEG_WINDOW = settings.renegotiationInterval;
  const server = tls.createServer({ ...options, ...sni, allowHalfOpen: true, pauseOnConnect: true }, onSecure);
  server.on('OCSPRequest', ocsp.answer);
  return server;
}
