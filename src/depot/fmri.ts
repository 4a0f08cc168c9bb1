/** A package FMRI as a depot receives it in a URL: pkg:/stem@version, or pkg://pub/stem@version. */
export interface Fmri {
  publisher: string | null;
  stem: string;
  version: string;
  /** The version has a timestamp (`:YYYYMMDDTHHMMSSZ`); only such FMRIs name one manifest. */
  complete: boolean;
}

export class FmriError extends Error {}

const STEM = /^[A-Za-z0-9_+-][A-Za-z0-9_+.\-/]*$/;
const VERSION = /^[0-9][0-9.]*(,[0-9][0-9.]*)?(-[0-9][0-9.]*)?(:([0-9]{8}T[0-9]{6}Z))?$/;

/** Parses a decoded FMRI; a string that is no FMRI at all is a FmriError (400), not a miss. */
export function parseFmri(text: string): Fmri {
  let rest = text;
  let publisher: string | null = null;
  if (rest.startsWith('pkg://')) {
    const slash = rest.indexOf('/', 6);
    if (slash < 0) throw new FmriError(`FMRI '${text}' has no package name.`);
    publisher = rest.slice(6, slash);
    rest = rest.slice(slash + 1);
  } else if (rest.startsWith('pkg:/')) {
    rest = rest.slice(5);
  }
  rest = rest.replace(/^\/+/, '');
  const at = rest.indexOf('@');
  if (at < 0) throw new FmriError(`FMRI 'pkg:/${rest}' is missing version information.`);
  const stem = rest.slice(0, at);
  const version = rest.slice(at + 1);
  if (!STEM.test(stem) || stem.split('/').includes('..')) throw new FmriError(`FMRI 'pkg:/${rest}' has an invalid package name.`);
  const match = VERSION.exec(version);
  if (!match) throw new FmriError(`FMRI 'pkg:/${rest}' has an invalid version.`);
  return { publisher, stem, version, complete: match[4] !== undefined };
}

export function formatFmri(f: Fmri, withPublisher: string | null = null): string {
  return withPublisher ? `pkg://${withPublisher}/${f.stem}@${f.version}` : `pkg:/${f.stem}@${f.version}`;
}

/** The quoting pkg5 uses for manifest file names and URLs: Python's quote(safe=""). */
export function pkgQuote(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
