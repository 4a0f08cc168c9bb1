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

export interface PemFile {
  file: string;
  data: Buffer;
}

/** What makes a certificate and its key unusable together, naming the file at fault, or null. */
export function pairProblem(cert: PemFile, key: PemFile): string | null {
  let certificate: crypto.X509Certificate;
  try {
    certificate = new crypto.X509Certificate(cert.data);
  } catch {
    return `${cert.file} holds no PEM certificate`;
  }
  let privateKey: crypto.KeyObject;
  try {
    privateKey = crypto.createPrivateKey(key.data);
  } catch {
    // An encrypted key fails here too: pen has no way to ask for its passphrase.
    return `${key.file} holds no unencrypted PEM private key`;
  }
  let matches = false;
  try {
    matches = certificate.checkPrivateKey(privateKey);
  } catch {
    // A key of another type than the certificate's does not match it either.
  }
  return matches ? null : `the key in ${key.file} does not match the certificate in ${cert.file}`;
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
