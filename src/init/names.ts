/**
 * Groups, tags, runlevels and node names, in the isinittab and in a switch request alike: a name
 * the file takes can be switched to, and a switch can name nothing the file would refuse.
 */
const NAME = /^[A-Za-z0-9_.-]+$/;

/** Names end up in file names, log lines and etcd keys: a bound keeps each of them sane. */
export const NAME_MAX = 64;

/** Why `value` cannot be a name (`what` says which), with what it may hold; null when it can. */
export function nameProblem(what: string, value: string): string | null {
  if (value.length > NAME_MAX) return `${what} "${value.slice(0, 20)}..." is ${value.length} characters long; a name has at most ${NAME_MAX}`;
  return NAME.test(value) ? null : `${what} "${value}" must be letters, digits, ".", "_" or "-"`;
}
