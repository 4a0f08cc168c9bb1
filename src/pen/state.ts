import { Acls } from './acl';
import { Balancer, type Settings } from './balancer';
import { HealthChecks } from './health';

export type FastClose = 'off' | 'up' | 'down' | 'both';

/** What the proxy of each connection pair is set up with. */
export interface ProxySettings {
  /** Backend connect timeout, seconds. */
  timeout: number;
  /** Insert X-Forwarded-For and X-Forwarded-Proto into HTTP requests. */
  http: boolean;
  tcpNodelay: boolean;
  keepalive: boolean;
  /** Close pairs idle this long, seconds (0: never). */
  idleTimeout: number;
  /** Local address for backend connections. */
  source: string | null;
  connMax: number;
  /** `tcp_fastclose`: which side's EOF closes the whole pair at once (pen's CS_CLOSED_UP/DOWN). */
  fastClose: FastClose;
}

/** PROXY protocol and drain settings, beyond pen 0.34 (their commands: src/pen/extensions.ts). */
export interface ExtensionSettings {
  /** The ACL of peers whose connections start with a PROXY header (-1: PROXY headers are not read). */
  acceptProxyAcl: number;
  /** Seconds a stop (TERM) or a hand-over lets open connections finish (0: closed at once, as pen 0.34). */
  drainTimeout: number;
}

function initialExtensions(): ExtensionSettings {
  return { acceptProxyAcl: -1, drainTimeout: 0 };
}

/** The values `ssl_option` takes in pen. */
export const SSL_OPTIONS = ['no_sslv2', 'no_sslv3', 'no_tlsv1', 'no_tlsv1.1', 'no_tlsv1.2', 'cipher_server_preference'] as const;
export type SslOption = (typeof SSL_OPTIONS)[number];

/** pen's default wait between two client renegotiations, seconds. */
export const DEFAULT_RENEGOTIATION_SECONDS = 3600;

/** The `ssl_*` commands: read from -o and -F before the TLS listener opens, as in pen. */
export interface TlsSettings {
  ciphers: string | null;
  options: Set<SslOption>;
  /** A directory of NAME.crt, NAME.key and optional NAME.ca and NAME.ocsp for SNI. */
  sniPath: string | null;
  /** A DER OCSP response stapled for the default certificate, re-read when it changes. */
  ocspResponse: string | null;
  /** Seconds a client must wait between renegotiations. */
  renegotiationInterval: number;
}

/** Everything pen's commands read and change: the command line, `-F` files and penctl share it. */
export interface PenState {
  acls: Acls;
  balancer: Balancer;
  settings: Settings;
  proxy: ProxySettings;
  ascii: boolean;
  debug: number;
  listen: string;
  control: string | null;
  exitEnabled: boolean;
  /** `-l`: a file, or host:port of a penlogd. */
  log: string | null;
  webStats: string | null;
  configFile: string | null;
  pendingMax: number;
  abortOnError: boolean;
  transparent: boolean;
  dummy: boolean;
  controlAcl: number;
  tls: TlsSettings;
  /** Kept and reported only: the tarpit belongs to pen's direct server return, which needs raw sockets. */
  tarpitAcl: number;
  /** The command line as `write` reconstructs it. */
  commandLine: string;
  /** PROXY protocol and drain settings, beyond pen 0.34. */
  extensions: ExtensionSettings;
  /** The servers' active health checks: run once pen has started. */
  health: HealthChecks;
  /** `metrics_port`: where the metrics endpoint listens ([address:]port; null: off). */
  metricsListen: string | null;
  /** The byte path running, and why not the FFI loop when another (null before the start). */
  /** On the FFI path, `rounds` says whether the loop's rounds run in C or TypeScript (and why not C). */
  dataPath: { path: 'ffi' | 'handles' | 'net'; reason: string | null; rounds?: 'c' | 'ts'; roundsReason?: string } | null;
}

export function initialState(): PenState {
  const acls = new Acls();
  const settings: Settings = {
    roundrobin: false,
    hash: false,
    weight: false,
    prio: false,
    stubborn: false,
    blacklistSeconds: 30,
    trackingSeconds: 0,
    clientsMax: 2048,
    clientAcl: 0,
  };
  const balancer = new Balancer(settings, acls);
  const proxy: ProxySettings = { timeout: 3, http: false, tcpNodelay: false, keepalive: false, idleTimeout: 0, source: null, connMax: 500, fastClose: 'off' };
  return {
    acls,
    balancer,
    settings,
    proxy,
    ascii: false,
    debug: 0,
    listen: '',
    control: null,
    exitEnabled: false,
    log: null,
    webStats: null,
    configFile: null,
    pendingMax: 100,
    abortOnError: false,
    transparent: false,
    dummy: false,
    controlAcl: 0,
    tls: { ciphers: null, options: new Set(), sniPath: null, ocspResponse: null, renegotiationInterval: DEFAULT_RENEGOTIATION_SECONDS },
    tarpitAcl: -1,
    commandLine: '',
    extensions: initialExtensions(),
    health: new HealthChecks(balancer, () => proxy.source),
    metricsListen: null,
    dataPath: null,
  };
}
