// flavorkit's pkg(5) repository tool: generate test repositories, check any repository.
//   repogen generate --out DIR [--packages N] [--publishers a,b] [--seed S] [--file-size BYTES]
//                    [--versions N] [--files N]
//   repogen check DIR
import { checkRepository } from './check';
import { generateRepository, RepositoryGenerationError } from './generate';
import { SYNTHETIC_DEFAULTS, syntheticRepository, type SyntheticOptions } from './synthetic';

const USAGE = `usage: repogen generate --out DIR [--packages N] [--publishers NAME[,NAME...]] [--seed N]
                        [--file-size BYTES] [--versions N] [--files N]
       repogen check DIR`;

class UsageError extends Error {}

const NUMERIC: Record<string, keyof SyntheticOptions> = {
  '--packages': 'packages', '--seed': 'seed', '--file-size': 'fileSize', '--versions': 'maxVersions', '--files': 'maxFiles',
};

function generateOptions(args: string[]): { out: string; options: SyntheticOptions } {
  const options: SyntheticOptions = { ...SYNTHETIC_DEFAULTS };
  let out: string | null = null;
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    const value = args[++i];
    if (value === undefined) throw new UsageError(`${flag} needs a value`);
    if (flag === '--out') out = value;
    else if (flag === '--publishers') options.publishers = value.split(',');
    else if (NUMERIC[flag]) {
      const n = Number(value);
      const min = flag === '--seed' ? 0 : 1;
      if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag} takes a whole number of at least ${min}, not "${value}"`);
      (options[NUMERIC[flag]!] as number) = n;
    } else throw new UsageError(`unknown option ${flag}`);
  }
  if (!out) throw new UsageError('generate needs --out DIR');
  return { out, options };
}

export function main(argv: string[]): number {
  const [command, ...rest] = argv;
  try {
    if (command === 'generate') {
      const { out, options } = generateOptions(rest);
      const started = Date.now();
      generateRepository(out, syntheticRepository(options));
      process.stdout.write(`wrote ${options.packages} package(s) per publisher (${options.publishers.join(', ')}) to ${out} in ${Date.now() - started} ms\n`);
      return 0;
    }
    if (command === 'check') {
      if (rest.length !== 1) throw new UsageError('check takes one repository directory');
      const problems = checkRepository(rest[0]!);
      for (const p of problems) process.stdout.write(`${p.file}: ${p.problem}\n`);
      process.stdout.write(problems.length ? `${problems.length} problem(s) in ${rest[0]}\n` : `${rest[0]}: conforms\n`);
      return problems.length ? 1 : 0;
    }
    throw new UsageError(command ? `unknown command ${command}` : '');
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(err.message ? `repogen: ${err.message}\n${USAGE}\n` : `${USAGE}\n`);
      return 2;
    }
    if (err instanceof RepositoryGenerationError) {
      process.stderr.write(`repogen: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
