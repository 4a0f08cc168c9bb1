import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { Layout } from '../flavor';
import { currentLayout, integerOption, parseLongOptions, reportUsage, runDaemon, UsageError } from '../runtime';
import { AccessLog } from './accesslog';
import { AdminLogins, PamProcess } from './admin-auth';
import { limitYoungGeneration } from './heap';
import { buildMounts, type Mount, type RepositoryConfig } from './mounts';
import type { SearchService } from './search/service';
import { Depot, type AdminAuth } from './server';

/** How long a stop waits for a search index still being written; a 10,000-package index takes about a second. */
const SAVE_ON_STOP_MS = 10_000;

/**
 * A client gets 10 s to send its request headers and 30 s for the whole request (a POSTed search
 * form is the only body taken), and a kept-alive connection is closed after 30 s idle. Node checks
 * them every second rather than its default 30 s.
 */
const SERVER_TIMEOUTS = { headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 30_000, connectionsCheckingInterval: 1_000 };

const USAGE = `usage: depot [-f] [-S] [-E] [-a ADDRESS] [-p PORT] [-c CONFIG] [-d DIR[=PREFIX]]...
  -f          stay in the foreground (log to stderr too)
  -S          no search: search/0 and search/1 answer 503, as for a repository without an index
  -E          serve HTTPS, with the flavor's certificate and key (PEM) unless given:
              --tls-cert FILE, --tls-key FILE (either one implies -E)
  --admin-over-http  accept admin/0 logins over plain HTTP (refused without it)
  -a ADDRESS  address to listen on (default 127.0.0.1)
  -p PORT     port (default: the flavor's depot port)
  -c CONFIG   configuration file (default: the flavor's depot.conf), JSON:
              {"address": "127.0.0.1", "port": 10080, "search": true,
               "repositories": [{"path": "/srv/repo", "prefix": "main"}],
               "tls": false, "tlsCert": FILE, "tlsKey": FILE, "adminOverHttp": false,
               "cacheMiB": 32, "searchCacheMiB": 2, "searchStreams": 2,
               "searchStreamFromKiB": 4096, "searchSendTimeout": 30}  (memory for repository
              files and for search answers kept to answer from, searchCacheMiB 0 keeping
              none; large search answers, such as '*', sent at once: more wait briefly,
              then get 503 with Retry-After; a search reading more of the index than
              searchStreamFromKiB is a large answer, streamed; seconds a client of one may
              take no bytes before it is cut off)
  -d DIR[=PREFIX]  serve the repository DIR (repeatable; replaces the file's list)
Long forms: --foreground, --no-search, --tls, --address, --port, --config, --repository, --help.
SIGHUP re-reads the repository list and the certificate without dropping connections.`;

interface Options {
  foreground: boolean;
  noSearch: boolean;
  address: string | null;
  port: number | null;
  config: string;
  repositories: RepositoryConfig[];
  tls: boolean;
  tlsCert: string | null;
  tlsKey: string | null;
  adminOverHttp: boolean;
}

interface ConfigFile {
  address?: string;
  port?: number;
  search?: boolean;
  repositories?: RepositoryConfig[];
  tls?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  adminOverHttp?: boolean;
  cacheMiB?: number;
  searchCacheMiB?: number;
  searchStreams?: number;
  searchStreamFromKiB?: number;
  searchSendTimeout?: number;
}

const CONFIG_KEYS: Record<keyof ConfigFile, 'string' | 'number' | 'boolean' | 'list'> = {
  address: 'string', port: 'number', search: 'boolean', repositories: 'list', tls: 'boolean', tlsCert: 'string', tlsKey: 'string', adminOverHttp: 'boolean', cacheMiB: 'number', searchCacheMiB: 'number',
  searchStreams: 'number',
  searchStreamFromKiB: 'number',
  searchSendTimeout: 'number',
};

function parseOptions(argv: string[], layout: Layout): Options {
  const { values } = parseLongOptions({
    args: argv,
    options: {
      foreground: { type: 'boolean', short: 'f' },
      'no-search': { type: 'boolean', short: 'S' },
      tls: { type: 'boolean', short: 'E' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'admin-over-http': { type: 'boolean' },
      address: { type: 'string', short: 'a' },
      port: { type: 'string', short: 'p' },
      config: { type: 'string', short: 'c' },
      repository: { type: 'string', short: 'd', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) throw new UsageError('');
  return {
    foreground: values.foreground ?? false,
    noSearch: values['no-search'] ?? false,
    tls: values.tls ?? false,
    tlsCert: values['tls-cert'] ?? null,
    tlsKey: values['tls-key'] ?? null,
    adminOverHttp: values['admin-over-http'] ?? false,
    address: values.address ?? null,
    port: values.port === undefined ? null : integerOption('-p', values.port, 1, 65535),
    config: values.config ?? layout.configFile,
    repositories: (values.repository ?? []).map((spec) => {
      const [dir, prefix] = spec.split('=');
      if (!dir) throw new UsageError(`-d takes DIR or DIR=PREFIX, not "${spec}"`);
      return prefix ? { path: dir, prefix } : { path: dir };
    }),
  };
}

function readConfig(file: string, required: boolean): ConfigFile {
  if (!fs.existsSync(file)) {
    if (required) throw new Error(`configuration file ${file} does not exist; create it or give -d DIR`);
    return {};
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file} is not valid JSON (${(err as Error).message}); fix its syntax`);
  }
  const c = parsed as ConfigFile;
  if (typeof c !== 'object' || c === null || (c.repositories !== undefined && !Array.isArray(c.repositories))) {
    throw new Error(`${file}: "repositories" must be a list of {"path": DIR, "prefix": NAME}`);
  }
  for (const [key, value] of Object.entries(c)) {
    const kind = CONFIG_KEYS[key as keyof ConfigFile];
    if (!kind) throw new Error(`${file}: unknown key "${key}"; use ${Object.keys(CONFIG_KEYS).join(', ')}`);
    if (kind !== 'list' && typeof value !== kind) throw new Error(`${file}: "${key}" must be ${kind === 'boolean' ? 'true or false' : `a ${kind}`}`);
  }
  if (c.cacheMiB !== undefined && !(Number.isInteger(c.cacheMiB) && c.cacheMiB >= 1 && c.cacheMiB <= 65536)) {
    throw new Error(`${file}: "cacheMiB" must be a whole number of MiB from 1 to 65536, not ${c.cacheMiB}`);
  }
  if (c.searchCacheMiB !== undefined && !(Number.isInteger(c.searchCacheMiB) && c.searchCacheMiB >= 0 && c.searchCacheMiB <= 65536)) {
    throw new Error(`${file}: "searchCacheMiB" must be a whole number of MiB from 0 (no cache) to 65536, not ${c.searchCacheMiB}`);
  }
  if (c.searchStreams !== undefined && !(Number.isInteger(c.searchStreams) && c.searchStreams >= 1 && c.searchStreams <= 64)) {
    throw new Error(`${file}: "searchStreams" must be a whole number of large search answers sent at once, from 1 to 64, not ${c.searchStreams}`);
  }
  if (c.searchStreamFromKiB !== undefined && !(Number.isInteger(c.searchStreamFromKiB) && c.searchStreamFromKiB >= 0 && c.searchStreamFromKiB <= 1048576)) {
    throw new Error(`${file}: "searchStreamFromKiB" must be a whole number of KiB from 0 (every search streamed) to 1048576, not ${c.searchStreamFromKiB}`);
  }
  if (c.searchSendTimeout !== undefined && !(Number.isInteger(c.searchSendTimeout) && c.searchSendTimeout >= 1 && c.searchSendTimeout <= 3600)) {
    throw new Error(`${file}: "searchSendTimeout" must be a whole number of seconds from 1 to 3600, not ${c.searchSendTimeout}`);
  }
  return c;
}

interface TlsFiles {
  cert: string;
  key: string;
}

/** The certificate and key, checked to belong together; an error names the file and the fix. */
function readTls(files: TlsFiles): tls.SecureContextOptions {
  const read = (file: string, what: string, option: string) => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new Error(`cannot read the TLS ${what} ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); put it there (PEM) or give ${option} FILE`);
    }
  };
  const options = { cert: read(files.cert, 'certificate', '--tls-cert'), key: read(files.key, 'private key', '--tls-key') };
  try {
    tls.createSecureContext(options);
  } catch (err) {
    throw new Error(`${files.cert} and ${files.key} are not a PEM certificate and its private key (${(err as Error).message}); fix or replace them`);
  }
  return options;
}

export async function main(argv: string[]): Promise<number> {
  const layout = currentLayout('depot');
  let o: Options;
  try {
    o = parseOptions(argv, layout);
  } catch (err) {
    if (err instanceof UsageError) return reportUsage('depot', USAGE, err);
    throw err;
  }
  const repositoryList = (): RepositoryConfig[] => (o.repositories.length ? o.repositories : (readConfig(o.config, true).repositories ?? []));
  let mounts: Mount[];
  let config: ConfigFile;
  let tlsFiles: TlsFiles | null = null;
  let tlsOptions: tls.SecureContextOptions | null = null;
  try {
    config = readConfig(o.config, o.repositories.length === 0);
    mounts = buildMounts(repositoryList());
    if (o.tls || o.tlsCert !== null || o.tlsKey !== null || config.tls === true) {
      tlsFiles = { cert: o.tlsCert ?? config.tlsCert ?? layout.files.tlsCert, key: o.tlsKey ?? config.tlsKey ?? layout.files.tlsKey };
      // Read before the depot detaches, and while it may still read a key only root can.
      tlsOptions = readTls(tlsFiles);
    }
  } catch (err) {
    process.stderr.write(`depot: ${(err as Error).message}\n`);
    return 1;
  }
  const address = o.address ?? config.address ?? '127.0.0.1';
  const adminOverHttp = o.adminOverHttp || config.adminOverHttp === true;
  let secureServer: https.Server | null = null;
  let prepareSearch = () => {};
  let depot: Depot | null = null;
  let accessLog: AccessLog | null = null;
  const port = o.port ?? config.port ?? layout.ports.service!;
  await runDaemon({
    daemon: 'depot',
    layout,
    foreground: o.foreground,
    async start(ctx) {
      fs.mkdirSync(layout.logDir, { recursive: true });
      const requestLog = new AccessLog(layout.files.accessLog, (note) => ctx.log.warn(note));
      accessLog = requestLog;
      ctx.handOver(layout.files.accessLog);
      let admin: AdminAuth | null = null;
      if (FLAVORKIT_FEATURES.admin) {
        const pam = new PamProcess();
        admin = new AdminLogins((user, password) => pam.authenticate(user, password), ctx.log);
        ctx.onStop(() => pam.stop());
      }
      let search: SearchService | null = null;
      if (FLAVORKIT_FEATURES.search && !o.noSearch && config.search !== false) {
        const service: typeof import('./search/service') = require('./search/service');
        search = new service.SearchService(layout.files.searchIndex, ctx.log, { cacheMiB: config.searchCacheMiB, streams: config.searchStreams, streamFromKiB: config.searchStreamFromKiB, sendTimeoutSeconds: config.searchSendTimeout });
      }
      if (!search) limitYoungGeneration();
      depot = new Depot({ mounts: () => mounts, log: ctx.log, accessLog: requestLog.write, admin, adminOverHttp, cacheMiB: config.cacheMiB, search });
      // Indexes are loaded or built in the background: the depot serves everything else meanwhile.
      prepareSearch = () => {
        search?.prepare(mounts.map((m) => m.repo)).catch((err: unknown) => ctx.log.error(`search indexes: ${(err as Error).message}`));
      };
      const server = tlsOptions ? (secureServer = https.createServer({ ...SERVER_TIMEOUTS, ...tlsOptions }, depot.handle)) : http.createServer({ ...SERVER_TIMEOUTS }, depot.handle);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, address, () => resolve());
      });
      ctx.log.info(`serving ${mounts.map((m) => `${m.repo.root} at /${m.prefix ?? ''}`).join(', ')} on ${tlsOptions ? 'https' : 'http'}://${address}:${port}`);
      prepareSearch();
      ctx.onStop(async () => {
        server.closeIdleConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await search?.saved(SAVE_ON_STOP_MS);
        await requestLog.end();
      });
    },
    reload(ctx) {
      try {
        accessLog?.reopen();
      } catch (err) {
        ctx.log.error(`access log not reopened, still writing to the file open before: ${(err as Error).message}; let the depot's user create files in ${layout.logDir}`);
      }
      // A renewed certificate is taken up by new connections; one that does not load leaves the old.
      if (secureServer && tlsFiles) {
        try {
          secureServer.setSecureContext(readTls(tlsFiles));
        } catch (err) {
          ctx.log.error(`certificate not reloaded, still serving the previous one: ${(err as Error).message}`);
        }
      }
      // A bad new list leaves the old one serving.
      try {
        mounts = buildMounts(repositoryList());
        depot?.reloaded();
        ctx.log.info(`repositories reloaded: ${mounts.map((m) => `/${m.prefix ?? ''}`).join(', ')}`);
        prepareSearch();
      } catch (err) {
        ctx.log.error(`reload refused, still serving the previous repositories: ${(err as Error).message}`);
      }
    },
  });
  return -1;
}
