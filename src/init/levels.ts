import type { Entry, Inittab } from './inittab';

/**
 * The slip IS::Init's runlevel field invites: without a comma every character is a level of its
 * own, so "run" is the three levels r, u and n; "run," is one level named run.
 */
function spelledOut(field: string): boolean {
  return !field.includes(',') && field.length > 1 && /[^0-9]/.test(field);
}

function spellingHint(field: string): string {
  return `"${field}" without a trailing comma is the ${field.length} levels ${[...field].join(', ')}; write "${field}," for one level named ${field}`;
}

/** Warnings about the isinittab's runlevel fields that are likely meant as one name. */
export function levelWarnings(table: Inittab, file: string): string[] {
  return table.entries
    .filter((e) => e.levelField !== undefined && spelledOut(e.levelField))
    .map((e) => `${file}:${e.line}: runlevels of ${e.group}:${e.tag}: ${spellingHint(e.levelField!)}`);
}

/**
 * What a switch of GROUP to LEVEL that starts nothing should say: that no entry runs at that
 * level, the levels the group's entries do name, and the trailing-comma hint where it applies.
 * Null when some entry runs at LEVEL, or for level 0 (stop the group).
 */
export function emptyLevelWarning(entries: readonly Entry[], group: string, level: string): string | null {
  const own = entries.filter((e) => e.group === group);
  if (level === '0' || own.length === 0 || own.some((e) => e.levels.includes(level))) return null;
  const named = [...new Set(own.flatMap((e) => e.levels))];
  const spelled = own.find((e) => e.levelField !== undefined && spelledOut(e.levelField) && e.levelField === level);
  const hint = spelled ? `; in the isinittab, ${spellingHint(level)} (line ${spelled.line})` : '';
  return `no entry of group ${group} runs at level "${level}", so nothing of it runs now; its entries name the levels ${named.map((l) => `"${l}"`).join(', ')}${hint}`;
}
