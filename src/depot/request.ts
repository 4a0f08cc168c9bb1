import type http from 'node:http';
import type { FileCache } from './filecache';
import type { Mount } from './mounts';

/** A request routed to an operation: what every operation's handler is given. */
export interface Request {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  head: boolean;
  mount: Mount;
  publisher: string | null;
  op: string;
  version: number;
  args: string[];
  rawPath: string;
  /** The depot's cache of small repository files. */
  files: FileCache;
}
