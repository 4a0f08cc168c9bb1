import crypto from 'node:crypto';
import { pathProblem, readOrExplain } from './errno-messages';

/** What each option or command that names a TLS path wants there, for messages that say what to give. */
export const WANTED = {
  '-E': 'the PEM file of the certificate pen serves',
  '-K': "the PEM file of that certificate's private key, or leave -K out when the -E file holds it",
  '-G': 'a PEM file of the CA certificates that sign client certificates',
  '-A': 'a directory of PEM CA certificates, as c_rehash leaves it',
  ssl_sni_path: 'a directory with NAME.crt and NAME.key for each host name',
  ssl_ocsp_response: 'the DER OCSP response file that pen-ocsp.sh fetches',
} as const;
export type TlsPathSource = keyof typeof WANTED;

/** Why the path an option or command names cannot be used, and what to give instead; null when it can. */
export function explainPath(source: TlsPathSource, file: string, kind: 'file' | 'directory'): string | null {
  const problem = pathProblem(file, kind);
  return problem && `${source} ${file} ${problem}; give ${WANTED[source]}`;
}

/** Reads the file an option names, or throws naming the option, the file and what to give. */
export function readNamed(source: TlsPathSource, file: string): Buffer {
  try {
    return readOrExplain(file);
  } catch (err) {
    throw new Error(`${source} ${(err as Error).message}; give ${WANTED[source]}`);
  }
}

export interface PemFile {
  /** What messages call it: its path, or the option and path that gave it. */
  name: string;
  data: Buffer;
}

/** What makes a certificate and its key unusable together, naming the file at fault, or null. */
export function pairProblem(cert: PemFile, key: PemFile): string | null {
  let certificate: crypto.X509Certificate;
  try {
    certificate = new crypto.X509Certificate(cert.data);
  } catch {
    return `${cert.name} holds no PEM certificate`;
  }
  let privateKey: crypto.KeyObject;
  try {
    privateKey = crypto.createPrivateKey(key.data);
  } catch {
    // An encrypted key fails here too: pen has no way to ask for its passphrase.
    return `${key.name} holds no unencrypted PEM private key`;
  }
  let matches = false;
  try {
    matches = certificate.checkPrivateKey(privateKey);
  } catch {
    // A key of another type than the certificate's does not match it either.
  }
  return matches ? null : `the key in ${key.name} does not match the certificate in ${cert.name}`;
}

/** Whether `data` holds at least one PEM certificate (Node takes anything else as a CA silently). */
export function holdsCertificate(data: Buffer): boolean {
  try {
    new crypto.X509Certificate(data);
    return true;
  } catch {
    return false;
  }
}
