import { nameProblem } from './names';

/**
 * The control protocol: one request line per connection, one JSON reply line. A request is JSON
 * (`{"op":"switch","group":"g","level":"2"}`, `{"op":"reread"}`, `{"op":"status"}`,
 * `{"op":"kill"}`) or the reference's plain `GROUP LEVEL` line, which is a switch.
 */
export type Request =
  | { op: 'switch'; group: string; level: string }
  | { op: 'reread' }
  | { op: 'status' }
  | { op: 'kill' };

export class ProtocolError extends Error {}

function checkName(what: string, value: unknown): string {
  if (typeof value !== 'string') throw new ProtocolError(`${what} is missing or not a string; send {"op":"switch","group":"GROUP","level":"LEVEL"}`);
  const problem = nameProblem(what, value);
  if (problem) throw new ProtocolError(problem);
  return value;
}

export function parseRequest(line: string): Request {
  const text = line.trim();
  if (text === '') throw new ProtocolError('empty request; send "GROUP LEVEL" or a JSON request');
  if (text.startsWith('{')) {
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new ProtocolError('request is not valid JSON');
    }
    switch (raw.op) {
      case 'switch':
        return { op: 'switch', group: checkName('group', raw.group), level: checkName('level', raw.level) };
      case 'reread':
      case 'status':
      case 'kill':
        return { op: raw.op };
      default:
        throw new ProtocolError(`unknown op ${JSON.stringify(raw.op)}; use switch, reread, status or kill`);
    }
  }
  const words = text.split(/\s+/);
  if (words.length !== 2) throw new ProtocolError(`expected "GROUP LEVEL", got ${words.length} word(s)`);
  return { op: 'switch', group: checkName('group', words[0]), level: checkName('level', words[1]) };
}
