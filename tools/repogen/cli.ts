// flavorkit's pkg(5) repository tool: generate test repositories, check any repository.
//   repogen generate --out DIR [--packages N] [--publishers a,b] [--seed S] [--file-size BYTES]
//                    [--versions N] [--files N]
//   repogen check DIR
import { integerOption, parseLongOptions, reportUsage, UsageError } from '../../src/runtime/args';
import { checkRepository } from './check';
import { generateRepository, RepositoryGenerationError } from './generate';
import { SYNTHETIC_DEFAULTS, syntheticRepository, type SyntheticOptions } from './synthetic';

const USAGE = `usage: repogen generate --out DIR [--packages N] [--publishers NAME[,NAME...]] [--seed N]
                        [--file-size BYTES] [--versions N] [--files N]
       repogen check DIR`;

/** The numeric options of `generate`, by the SyntheticOptions field each sets. */
const NUMERIC = { packages: 'packages', seed: 'seed', 'file-size': 'fileSize', versions: 'maxVersions', files: 'maxFiles' } as const;

function generateOptions(args: string[]): { out: string; options: SyntheticOptions } {
  const { values } = parseLongOptions({
    args,
    options: {
      out: { type: 'string' },
      publishers: { type: 'string' },
      packages: { type: 'string' },
      seed: { type: 'string' },
      'file-size': { type: 'string' },
      versions: { type: 'string' },
      files: { type: 'string' },
    },
  });
  const options: SyntheticOptions = { ...SYNTHETIC_DEFAULTS };
  if (values.publishers !== undefined) options.publishers = values.publishers.split(',');
  for (const [name, field] of Object.entries(NUMERIC) as Array<[keyof typeof NUMERIC, (typeof NUMERIC)[keyof typeof NUMERIC]]>) {
    const text = values[name];
    if (text !== undefined) options[field] = integerOption(`--${name}`, text, name === 'seed' ? 0 : 1);
  }
  if (values.out === undefined) throw new UsageError('generate needs --out DIR');
  return { out: values.out, options };
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
    throw new UsageError(command ? `unknown command ${command}; the commands are generate and check` : 'give a command: generate or check');
  } catch (err) {
    if (err instanceof UsageError) return reportUsage('repogen', USAGE, err);
    if (err instanceof RepositoryGenerationError) {
      process.stderr.write(`repogen: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
