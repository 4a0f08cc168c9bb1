import { parseArgs, type ParseArgsConfig } from 'node:util';

/**
 * A command line the program cannot take, whichever parser found it (these long options, pen's
 * getopt, the flavor command). An empty message asks for the usage text alone (-h).
 */
export class UsageError extends Error {}

/**
 * A command line of long and short options (depot, isinit) by Node's own parser, strict: an unknown option, a missing value or a stray argument is a
 * UsageError that names it.
 */
export function parseLongOptions<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs<T>({ strict: true, ...config });
  } catch (err) {
    if (!String((err as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS')) throw err;
    // Node appends advice on '--' that does not apply to these programs.
    throw new UsageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
}

/** A whole number within [min, max] given to an option, or a UsageError saying what it takes. */
export function integerOption(option: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`${option} takes a whole number ${max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`}, not "${text}"`);
  }
  return n;
}

/** Writes a usage error (or the usage text alone, for -h) and gives the exit status. */
export function reportUsage(program: string, usage: string, err: UsageError): number {
  process.stderr.write(err.message ? `${program}: ${err.message}\n${usage}\n` : `${usage}\n`);
  return err.message ? 2 : 0;
}
