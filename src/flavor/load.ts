import fs from 'node:fs';
import path from 'node:path';
import { DAEMONS, DAEMON_SPECS, FEATURE_NAMES, portOffset } from './daemons';
import { DEFAULT_FLAVOR, FlavorError, validateFlavorName } from './name';
import { describeSchemaError, flavorFileSchema, type Flavor, type FlavorFile } from './schema';

export const DEFAULT_FLAVORS_DIR = path.resolve(__dirname, '../../flavors');

export function flavorsDir(): string {
  return process.env.FLAVORKIT_FLAVORS_DIR ?? DEFAULT_FLAVORS_DIR;
}

/** Names of the flavors that have a file, sorted. */
export function knownFlavorNames(dir = flavorsDir()): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

function readFlavorFile(file: string, name: string): FlavorFile {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new FlavorError(`flavor file ${file} is not valid JSON (${(err as Error).message}); fix its syntax`);
  }
  const parsed = flavorFileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new FlavorError(
      `flavor file ${file} for flavor "${name}" is invalid:\n${describeSchemaError(parsed.error)}\n` +
        'fix these keys (see flavors/tog.json for the accepted form)',
    );
  }
  return parsed.data;
}

/** Ports given explicitly in a file; they are never derived. */
function explicitPorts(file: FlavorFile): Flavor['ports'] {
  const ports = {} as Flavor['ports'];
  for (const d of DAEMONS) ports[d] = { ...(file.ports?.[d] ?? {}) };
  return ports;
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const ch of Buffer.from(text)) {
    hash ^= ch;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** A port block of ten for a flavor with no ports in its file: stable for the name. */
export function derivedPortBase(name: string): number {
  return 20000 + (fnv1a(name) % 2000) * 10;
}

function fillDerivedPorts(flavor: Flavor, dir: string): void {
  const base = derivedPortBase(flavor.name);
  const taken = new Map<number, string>();
  for (const other of knownFlavorNames(dir)) {
    if (other === flavor.name) continue;
    const otherFile = readFlavorFile(path.join(dir, `${other}.json`), other);
    for (const d of DAEMONS) {
      for (const [portName, port] of Object.entries(otherFile.ports?.[d] ?? {})) {
        taken.set(port as number, `${other} ${d} ${portName}`);
      }
    }
  }
  for (const d of DAEMONS) {
    for (const portName of DAEMON_SPECS[d].ports) {
      if (flavor.ports[d][portName] !== undefined) continue;
      const port = base + portOffset(d, portName);
      const holder = taken.get(port);
      if (holder) {
        throw new FlavorError(
          `flavor "${flavor.name}": derived ${d} ${portName} port ${port} is already used by flavor ${holder}; ` +
            `set "ports": {"${d}": {"${portName}": N}} in ${path.join(dir, `${flavor.name}.json`)}`,
        );
      }
      flavor.ports[d][portName] = port;
    }
  }
}

/**
 * The flavor NAME: from flavors/NAME.json when it exists, else from its name alone with
 * every daemon, every feature and ports derived from the name.
 */
export function loadFlavor(name: string = DEFAULT_FLAVOR, dir = flavorsDir()): Flavor {
  validateFlavorName(name);
  const file = path.join(dir, `${name}.json`);
  const exists = fs.existsSync(file);
  const content: FlavorFile = exists ? readFlavorFile(file, name) : {};
  if (content.prefix !== undefined && name === DEFAULT_FLAVOR) {
    throw new FlavorError(`flavor file ${file}: the default flavor keeps the system layout; remove "prefix"`);
  }
  const flavor: Flavor = {
    name,
    description: content.description ?? (exists ? '' : `flavor ${name}, derived from its name`),
    source: exists ? file : 'derived from its name',
    daemons: [...new Set(content.daemons ?? DAEMONS)].sort((a, b) => DAEMONS.indexOf(a) - DAEMONS.indexOf(b)),
    features: Object.fromEntries(FEATURE_NAMES.map((f) => [f, content.features?.[f] ?? true])) as Flavor['features'],
    user: content.user,
    prefix: content.prefix,
    ports: explicitPorts(content),
  };
  fillDerivedPorts(flavor, dir);
  return flavor;
}
