// Option parsing as glibc's getopt does it for pen's tools: short options, clustered flags
// (-fd), arguments attached or separate (-l file, -lfile), options and operands in any order
// (glibc permutes), "--" ends the options. A bad option is the runtime's UsageError, as in every program.

import { UsageError } from '../../runtime/args';

export interface ParsedOptions {
  options: Array<{ opt: string; arg?: string }>;
  operands: string[];
}

/** `spec` is a getopt string: "j:l:n:p:u:dfb". Throws UsageError naming the bad option. */
export function getopt(argv: readonly string[], spec: string): ParsedOptions {
  const takesArg = new Map<string, boolean>();
  for (let i = 0; i < spec.length; i++) {
    if (spec[i] === ':') continue;
    takesArg.set(spec[i], spec[i + 1] === ':');
  }
  const parsed: ParsedOptions = { options: [], operands: [] };
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (word === '--') {
      parsed.operands.push(...argv.slice(i + 1));
      break;
    }
    if (!word.startsWith('-') || word === '-') {
      parsed.operands.push(word);
      continue;
    }
    for (let j = 1; j < word.length; j++) {
      const opt = word[j];
      const needs = takesArg.get(opt);
      if (needs === undefined) throw new UsageError(`unknown option -${opt}`);
      if (!needs) {
        parsed.options.push({ opt });
        continue;
      }
      let arg = word.slice(j + 1);
      if (arg === '') {
        if (i + 1 >= argv.length) throw new UsageError(`option -${opt} needs an argument`);
        arg = argv[++i];
      }
      parsed.options.push({ opt, arg });
      break;
    }
  }
  return parsed;
}
