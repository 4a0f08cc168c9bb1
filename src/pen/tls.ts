import fs from 'node:fs';
import tls from 'node:tls';

export interface TlsOptions {
  cert: string;
  key: string | null;
  caFile: string | null;
  caDir: string | null;
  requireClientCert: boolean;
  compat: boolean;
  protocol: string;
}

const PROTOCOLS: Record<string, tls.SecureVersion | null> = { ssl23: null, tls1: 'TLSv1', ssl3: null, ssl2: null };

/** TLS termination on the client side (`-E`/`-K`/`-G`/`-A`/`-R`/`-L`); backends stay plain. */
export function tlsContext(o: TlsOptions): tls.SecureContextOptions & tls.TlsOptions {
  const read = (file: string, what: string) => {
    try {
      return fs.readFileSync(file);
    } catch {
      throw new Error(`cannot read ${what} ${file}; check the path given to pen`);
    }
  };
  const cert = read(o.cert, 'certificate');
  const ca: Buffer[] = [];
  if (o.caFile) ca.push(read(o.caFile, 'CA file'));
  if (o.caDir) for (const f of fs.readdirSync(o.caDir)) if (/\.(pem|crt|\d)$/.test(f)) ca.push(read(`${o.caDir}/${f}`, 'CA'));
  const options: tls.SecureContextOptions & tls.TlsOptions = {
    cert,
    key: o.key ? read(o.key, 'key') : cert,
    requestCert: o.requireClientCert || ca.length > 0,
    rejectUnauthorized: o.requireClientCert,
  };
  if (ca.length) options.ca = ca;
  const min = PROTOCOLS[o.protocol];
  if (min) options.minVersion = min;
  // A live secure context is checked here, so a bad certificate stops the start, not a client.
  tls.createSecureContext(options);
  return options;
}

export function createTlsServer(options: tls.TlsOptions, onSecure: (socket: tls.TLSSocket) => void): tls.Server {
  return tls.createServer({ ...options, allowHalfOpen: true, pauseOnConnect: true }, onSecure);
}
