/** Commands with shell metacharacters run through /bin/sh -c; others are split on whitespace. */
const SHELL_META = /[|&;<>()$`\\"'*?[\]#~=%{}\n]/;

/** Builtins that only a shell can run, so a command starting with one goes to the shell too. */
const SHELL_BUILTINS = new Set(['exec', 'cd', '.', 'source', 'set', 'export', 'ulimit', 'umask', 'trap', 'eval']);

export function argvOf(command: string): [string, string[]] {
  const words = command.trim().split(/\s+/);
  if (SHELL_META.test(command) || SHELL_BUILTINS.has(words[0]!)) return ['/bin/sh', ['-c', command]];
  return [words[0]!, words.slice(1)];
}
