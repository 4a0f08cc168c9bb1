import { DAEMONS, FlavorError, findCollisions, foreignPathsOnHost, isDaemonName, knownFlavorNames, layout, layoutsOf, layoutTable, loadFlavor, DEFAULT_FLAVOR } from '../flavor';
import { reportUsage, UsageError } from '../runtime/args';
import { BuildError } from './project';
import { buildFlavor } from './build';
import path from 'node:path';
import { defaultPackageOptions } from './package';
import { publishRepositories } from './repo';

const USAGE = `usage:
  flavor show NAME [DAEMON] [--json]   print the layout of a flavor's daemons
  flavor doctor [--force] NAME...      report collisions between flavors, and foreign files on this host
                                       (--force: foreign files are warnings, not errors)
  flavor build [--sign-key KEY] [NAME] bundle, render and package a flavor into dist/NAME (default: $FLAVOR or ${DEFAULT_FLAVOR});
                                       with a GPG key (or $FLAVORKIT_SIGN_KEY), every package is signed
  flavor repo [--sign-key KEY] DIR [NAME...]
                                       build flavors (default: $FLAVOR or ${DEFAULT_FLAVOR}) and publish their packages
                                       as an apt repository DIR/apt and a dnf/yum repository DIR/rpm, signed with KEY
  flavor list                          the flavors that have a file in flavors/`;

function show(args: string[]): number {
  const json = args.includes('--json');
  const [name, daemon, ...rest] = args.filter((a) => a !== '--json');
  if (!name || rest.length) throw new UsageError('flavor show takes a flavor name and optionally a daemon');
  const flavor = loadFlavor(name);
  if (daemon !== undefined && !isDaemonName(daemon)) throw new UsageError(`unknown daemon "${daemon}"; choose one of ${DAEMONS.join(', ')}`);
  const layouts = (daemon ? [daemon] : flavor.daemons).map((d) => layout(flavor, d));
  if (json) process.stdout.write(`${JSON.stringify(daemon ? layouts[0] : layouts, null, 2)}\n`);
  else process.stdout.write(`${layouts.map((l) => layoutTable(l)).join('\n\n')}\n`);
  return 0;
}

function doctor(args: string[]): number {
  const force = args.includes('--force');
  const names = args.filter((a) => a !== '--force');
  if (names.length === 0) throw new UsageError('flavor doctor takes one or more flavor names');
  const flavors = names.map((n) => loadFlavor(n));
  const collisions = findCollisions(flavors);
  for (const c of collisions) process.stdout.write(`collision: ${c.item} ${c.value} is shared by ${c.owners.join(', ')}\n`);
  // A foreign file where a package would install is an error: rpm would refuse the package,
  // or the file would be overwritten. --force is the operator's explicit way past it.
  const foreign = foreignPathsOnHost(layoutsOf(flavors));
  for (const w of foreign) process.stdout.write(`${force ? 'warning' : 'error'}: ${w}\n`);
  if (foreign.length && !force) process.stdout.write(`${foreign.length} path(s) above are not this package's; remove or move them, or pass --force to go on\n`);
  if (collisions.length === 0) process.stdout.write(`no collisions between ${names.join(', ')}\n`);
  return collisions.length || (foreign.length && !force) ? 1 : 0;
}

/** Takes `--sign-key KEY` out of the arguments. */
function takeSignKey(rest: string[]): string | undefined {
  const at = rest.indexOf('--sign-key');
  if (at < 0) return undefined;
  const signKey = rest[at + 1];
  if (!signKey || signKey.startsWith('-')) throw new UsageError('--sign-key takes a GPG key id, fingerprint or user id');
  rest.splice(at, 2);
  return signKey;
}

async function repo(args: string[]): Promise<number> {
  const rest = [...args];
  const signKey = takeSignKey(rest);
  const [dir, ...names] = rest;
  if (!dir || rest.some((a) => a.startsWith('-'))) throw new UsageError('flavor repo takes a directory, optionally flavor names, and --sign-key KEY');
  const options = defaultPackageOptions(signKey ? { ...process.env, FLAVORKIT_SIGN_KEY: signKey } : process.env);
  const builds = [];
  for (const name of names.length ? names : [process.env.FLAVOR || DEFAULT_FLAVOR]) builds.push(await buildFlavor(name, { packaging: options }));
  const published = await publishRepositories(builds, dir, options.signKey);
  const signedBy = published.key ? `signed-by=${published.key}` : 'trusted=yes';
  process.stdout.write(
    `apt repository: ${published.apt}
  deb [${signedBy}] file:${published.apt} ./
` +
      `dnf/yum repository: ${published.rpm}
  baseurl=file://${published.rpm}${published.key ? `
  gpgkey=file://${path.join(path.dirname(published.key), 'RPM-GPG-KEY-flavorkit')}` : ''}
`,
  );
  return 0;
}

async function build(args: string[]): Promise<number> {
  const rest = [...args];
  const signKey = takeSignKey(rest);
  if (rest.length > 1 || rest.some((a) => a.startsWith('-'))) throw new UsageError('flavor build takes at most one flavor name, and --sign-key KEY');
  const name = rest[0] ?? (process.env.FLAVOR || DEFAULT_FLAVOR);
  const started = Date.now();
  const options = defaultPackageOptions(signKey ? { ...process.env, FLAVORKIT_SIGN_KEY: signKey } : process.env);
  const result = await buildFlavor(name, { packaging: options });
  for (const d of result.daemons) {
    for (const b of d.bundles) process.stdout.write(`${d.layout.packageName}: ${b.file} (${b.bytes} bytes)\n`);
  }
  process.stdout.write(`packages${options.signKey ? ` (signed with ${options.signKey})` : ''}:\n`);
  for (const d of result.daemons) {
    for (const p of d.packages) process.stdout.write(`  ${p.file} (${p.bytes} bytes)\n`);
  }
  process.stdout.write(`built flavor ${name} into ${result.outDir} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  try {
    switch (command) {
      case 'show':
        return show(args);
      case 'doctor':
        return doctor(args);
      case 'build':
        return await build(args);
      case 'repo':
        return await repo(args);
      case 'list':
        process.stdout.write(`${knownFlavorNames().join('\n')}\n`);
        return 0;
      case undefined:
      case '-h':
      case '--help':
        process.stdout.write(`${USAGE}\n`);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) return reportUsage('flavor', USAGE, err);
    if (err instanceof FlavorError || err instanceof BuildError) {
      process.stderr.write(`flavor: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
