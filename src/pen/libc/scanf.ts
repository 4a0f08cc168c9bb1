// The subset of C's sscanf that pen's log tools rely on. penlogd and mergelogs parse their input
// with sscanf, and its quirks decide which lines match (a %[...] that would match nothing fails,
// whitespace in the format skips any run of whitespace, widths cut fields), so the same
// semantics are reproduced here rather than approximated with regular expressions.
// Strings are byte strings (latin1), as the C tools see them.

export type ScanValue = string | number;

const C_SPACE = new Set([' ', '\t', '\n', '\v', '\f', '\r']);
export const isCSpace = (c: string | undefined): boolean => c !== undefined && C_SPACE.has(c);

/** A C string ends at its first NUL. */
export function cString(s: string): string {
  const nul = s.indexOf('\0');
  return nul < 0 ? s : s.slice(0, nul);
}

/** atoi/atol: leading whitespace, optional sign, digits; anything else ends the number. */
export function atoi(s: string): number {
  let i = 0;
  while (isCSpace(s[i])) i++;
  let sign = 1;
  if (s[i] === '+' || s[i] === '-') {
    if (s[i] === '-') sign = -1;
    i++;
  }
  let n = 0;
  while (i < s.length && s[i] >= '0' && s[i] <= '9') {
    n = n * 10 + (s.charCodeAt(i) - 48);
    i++;
  }
  // atoi of an out-of-range value is undefined in C; glibc wraps through strtol to 32 bits.
  return (sign * n) | 0;
}

interface Conversion {
  kind: 'set' | 's' | 'd';
  width: number;
  negated: boolean;
  chars: Set<string>;
}

/**
 * Scans `input` against `format` and returns the converted values, in order, up to the first
 * failure; `.length` is what sscanf returns (0 for an early mismatch; EOF is reported as 0 too,
 * which every caller treats the same).
 */
export function sscanf(input: string, format: string): ScanValue[] {
  const s = cString(input);
  const out: ScanValue[] = [];
  let i = 0;
  let f = 0;
  while (f < format.length) {
    const fc = format[f];
    if (isCSpace(fc)) {
      while (isCSpace(format[f])) f++;
      while (isCSpace(s[i])) i++;
      continue;
    }
    if (fc !== '%') {
      if (s[i] !== fc) return out;
      i++;
      f++;
      continue;
    }
    f++;
    let widthText = '';
    while (format[f] >= '0' && format[f] <= '9') widthText += format[f++];
    if (format[f] === 'l') f++;
    const conv: Conversion = { kind: 's', width: widthText ? Number(widthText) : Infinity, negated: false, chars: new Set() };
    const spec = format[f++];
    if (spec === '[') {
      conv.kind = 'set';
      if (format[f] === '^') {
        conv.negated = true;
        f++;
      }
      // A ']' right after '[' or '[^' belongs to the set.
      if (format[f] === ']') conv.chars.add(format[f++]);
      while (f < format.length && format[f] !== ']') conv.chars.add(format[f++]);
      f++;
    } else if (spec === 'd') {
      conv.kind = 'd';
    } else if (spec !== 's') {
      throw new Error(`sscanf: unsupported conversion %${spec}`);
    }
    if (conv.kind !== 'set') while (isCSpace(s[i])) i++;
    const start = i;
    if (conv.kind === 'set') {
      while (i < s.length && i - start < conv.width && conv.chars.has(s[i]) !== conv.negated) i++;
      if (i === start) return out;
      out.push(s.slice(start, i));
    } else if (conv.kind === 's') {
      while (i < s.length && i - start < conv.width && !isCSpace(s[i])) i++;
      if (i === start) return out;
      out.push(s.slice(start, i));
    } else {
      if (s[i] === '+' || s[i] === '-') i++;
      const digits = i;
      while (i < s.length && s[i] >= '0' && s[i] <= '9') i++;
      if (i === digits) return out;
      out.push(Number(s.slice(start, i)));
    }
  }
  return out;
}
