import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { SniCertificates } from './sni';
import type { SslOption, TlsSettings } from './state';
import { explainPath, holdsCertificate, pairProblem, readNamed, WANTED, type TlsPathSource } from './tlsfiles';

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

/** The CA certificates of -G and -A, each checked: Node would take a file that holds none silently. */
function clientCas(o: TlsOptions): Buffer[] {
  const files: Array<[TlsPathSource, string]> = o.caFile ? [['-G', o.caFile]] : [];
  if (o.caDir) {
    const problem = explainPath('-A', o.caDir, 'directory');
    if (problem) throw new Error(problem);
    const inDir = fs.readdirSync(o.caDir).filter((f) => /\.(pem|crt|\d)$/.test(f));
    if (!inDir.length) throw new Error(`-A ${o.caDir} holds no *.pem, *.crt or HASH.0 file; give ${WANTED['-A']}`);
    files.push(...inDir.map((f): [TlsPathSource, string] => ['-A', path.join(o.caDir!, f)]));
  }
  return files.map(([source, file]) => {
    const data = readNamed(source, file);
    if (!holdsCertificate(data)) throw new Error(`${source} ${file} holds no PEM certificate; give ${WANTED[source]}`);
    return data;
  });
}

/** TLS termination on the client side (`-E`/`-K`/`-G`/`-A`/`-R`/`-L`/`-Z` and `ssl_*`); backends stay plain. */
export function tlsContext(o: TlsOptions, settings: TlsSettings): ServerOptions {
  const cert = readNamed('-E', o.cert);
  const key = o.key ? readNamed('-K', o.key) : cert;
  const wrong = pairProblem({ name: `-E ${o.cert}`, data: cert }, { name: o.key ? `-K ${o.key}` : `-E ${o.cert}`, data: key });
  if (wrong) throw new Error(`${wrong}; give with -E a PEM certificate and with -K its unencrypted private key (or put the key in the -E file)`);
  const ca = clientCas(o);
  const options: ServerOptions = {
    cert,
    key,
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

/** Node's guard against client renegotiation (documented as settable), set to pen's rule: at most one per interval. */
function limitRenegotiation(settings: TlsSettings): void {
  const limits = tls as { CLIENT_RENEG_LIMIT: number; CLIENT_RENEG_WINDOW: number };
  limits.CLIENT_RENEG_LIMIT = settings.renegotiationInterval > 0 ? 1 : Number.MAX_SAFE_INTEGER;
  if (settings.renegotiationInterval > 0) limits.CLIENT_RENEG_WINDOW = settings.renegotiationInterval;
}

/** What an open TLS listener takes up from the ssl_* commands. */
export interface LiveTls {
  /** Reads the SNI directory and applies the renegotiation interval anew, as pen's handshakes use both as they are. */
  refresh(): void;
}

/** The TLS listener; `warn` logs what it cannot use (an SNI certificate, say) and goes on without it. */
export function createTlsServer(
  options: ServerOptions,
  settings: TlsSettings,
  onSecure: (socket: tls.TLSSocket) => void,
  warn: (message: string) => void,
): { server: tls.Server; live: LiveTls } {
  const ocsp = new OcspResponses();
  ocsp.add(options.cert as Buffer, () => settings.ocspResponse);
  const certificates = new SniCertificates(() => settings.sniPath, options, (cert, ocspFile) => ocsp.add(cert, () => ocspFile), warn);
  const live = {
    refresh: () => {
      certificates.scan();
      limitRenegotiation(settings);
    },
  };
  live.refresh();
  const server = tls.createServer({ ...options, SNICallback: certificates.callback, allowHalfOpen: true, pauseOnConnect: true }, onSecure);
  server.on('OCSPRequest', ocsp.answer);
  return { server, live };
}
