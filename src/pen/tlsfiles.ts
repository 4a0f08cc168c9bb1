import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';

function currentUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid ${process.geteuid?.() ?? '?'}`;
  }
}

function errnoProblem(err: unknown): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ENOENT': return 'does not exist';
    case 'EACCES': case 'EPERM': return `cannot be read by user ${currentUser()} (make it readable by that user)`;
    case 'ENOTDIR': return 'cannot be reached: a part of its path is not a directory';
    case 'EISDIR': return 'is a directory, not a file';
    default: return (err as Error).message;
  }
}

/** What stops pen from reading `file` as a file or a directory, or null when nothing does. */
export function pathProblem(file: string, kind: 'file' | 'directory'): string | null {
  try {
    const stat = fs.statSync(file);
    if (kind === 'directory' && !stat.isDirectory()) return 'is not a directory';
    if (kind === 'file' && stat.isDirectory()) return 'is a directory, not a file';
    fs.accessSync(file, kind === 'directory' ? fs.constants.R_OK | fs.constants.X_OK : fs.constants.R_OK);
    return null;
  } catch (err) {
    return errnoProblem(err);
  }
}

/** Reads a file, or throws naming it and what stops it ("/etc/x.key does not exist"). */
export function readOrExplain(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new Error(`${file} ${errnoProblem(err)}`);
  }
}

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
