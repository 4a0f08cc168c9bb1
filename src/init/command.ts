/** Commands with shell metacharacters run through /bin/sh -c; others are split on whitespace. */
const SHELL_META = /[|&;<>()$`\\"'*?[\]#~=%{}\n]/;

export function argvOf(command: string): [string, string[]] {
  if (SHELL_META.test(command)) return ['/bin/sh', ['-c', command]];
  const words = command.trim().split(/\s+/);
  return [words[0]!, words.slice(1)];
}
