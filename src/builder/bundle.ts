import esbuild from 'esbuild';
import fs from 'fs-extra';
import path from 'node:path';
import { DAEMON_SPECS, daemonProgram, extraFiles, type DaemonName, type Flavor, type Layout, layout, PATH_KEYS } from '../flavor';
import { NATIVE_EXTERNALS, PACKAGE_DATA, RELAY } from './natives';
import { BuildError, PROJECT_ROOT } from './project';

const STAMP_SOURCE = path.join(PROJECT_ROOT, 'src/runtime/stamp-source.ts');
const UNBUNDLED_MARKER = 'flavorkit-unbundled-stamp-source';

/** Where distributions install node; the bundles' #! line names it. */
export const NODE_INTERPRETER = '/usr/bin/node';

/** A stamped value that is missing must fail here, never in the running daemon. */
export function assertComplete(l: Layout): void {
  const missing: string[] = [];
  for (const key of PATH_KEYS) if (typeof l[key] !== 'string' || !l[key].startsWith('/')) missing.push(key);
  for (const key of ['flavor', 'packageName', 'logIdentity', 'pamService'] as const) if (!l[key]) missing.push(key);
  for (const p of DAEMON_SPECS[l.daemon].programs) if (!l.programs[p]) missing.push(`programs.${p}`);
  for (const port of DAEMON_SPECS[l.daemon].ports) if (!Number.isInteger(l.ports[port])) missing.push(`ports.${port}`);
  for (const name of Object.keys(DAEMON_SPECS[l.daemon].extraFiles)) if (!extraFiles(l)[name]) missing.push(`files.${name}`);
  if (missing.length) throw new BuildError(`layout of ${l.packageName} lacks ${missing.join(', ')}; fix src/flavor`);
}

function stampPlugin(l: Layout, stamped: { count: number }): esbuild.Plugin {
  return {
    name: 'flavorkit-stamp',
    setup(build) {
      build.onLoad({ filter: /[\\/]src[\\/]runtime[\\/]stamp-source\.ts$/ }, (args) => {
        if (path.resolve(args.path) !== STAMP_SOURCE) return undefined;
        stamped.count++;
        const contents = [
          `export const STAMP_ORIGIN = 'stamped';`,
          `const LAYOUT = Object.freeze(${JSON.stringify(l)});`,
          `export function stampedLayout(daemon) {`,
          `  if (daemon !== LAYOUT.daemon) throw new Error('this program was built for ' + LAYOUT.daemon + ', not ' + daemon);`,
          `  return LAYOUT;`,
          `}`,
        ].join('\n');
        return { contents, loader: 'js' };
      });
    },
  };
}

/** Points a bundled package's data-file path at the copy shipped in the package's libDir. */
function packageDataPlugin(used: Set<string>): esbuild.Plugin {
  return {
    name: 'flavorkit-package-data',
    setup(build) {
      for (const [pkg, data] of Object.entries(PACKAGE_DATA)) {
        build.onLoad({ filter: data.loader }, async (args) => {
          const source = await fs.readFile(args.path, 'utf8');
          if (source.split(data.pathExpression).length !== 2) {
            throw new BuildError(`${args.path}: expected one ${data.pathExpression}; the ${pkg} version changed, update PACKAGE_DATA in src/builder/natives.ts`);
          }
          used.add(pkg);
          const shipped = `(globalThis.FLAVORKIT_PACKAGE_DATA ? globalThis.FLAVORKIT_PACKAGE_DATA + ${JSON.stringify(`/${pkg}/${data.file}`)} : ${data.pathExpression})`;
          return { contents: source.replace(data.pathExpression, shipped), loader: 'js' };
        });
      }
    },
  };
}

export interface BundleResult {
  program: string;
  file: string;
  bytes: number;
  /** Packages whose data files the bundle reads from <libDir>/node_modules. */
  packageData: string[];
  /** The bundle loads pen's relay library (RELAY), which then ships in <libDir>. */
  loadsRelay: boolean;
}

/** The entry file of a program: src/<daemon>/bin/<program>.ts. */
export function entryOf(daemon: DaemonName, program: string): string {
  return path.join(PROJECT_ROOT, 'src', daemon, 'bin', `${program}.ts`);
}

/**
 * Bundles every program of one daemon with the layout stamped in, into `outDir`. Features
 * are literals, so code behind a disabled one is dropped.
 */
export async function bundleDaemon(flavor: Flavor, daemon: DaemonName, outDir: string): Promise<BundleResult[]> {
  const l = layout(flavor, daemon);
  assertComplete(l);
  // The layout holds this daemon's features; another daemon's are no concern of its bundle.
  const define: Record<string, string> = {};
  for (const [f, on] of Object.entries(l.features)) define[`FLAVORKIT_FEATURES.${f}`] = String(on);
  const results: BundleResult[] = [];
  const spec = DAEMON_SPECS[daemon];
  for (const program of spec.programs) {
    // Distributions run scripts through the interpreter's own path, never env. The kernel hands
    // the rest of the line to node as one argument: room for one option without spaces.
    const nodeOption = program === daemonProgram(daemon) ? spec.nodeOption : undefined;
    if (nodeOption !== undefined && !/^--[a-z0-9-]+(=[A-Za-z0-9._-]+)?$/.test(nodeOption)) {
      throw new BuildError(`${daemon}: node option "${nodeOption}" cannot go in a #! line; give one option without spaces`);
    }
    const shebang = nodeOption ? `#!${NODE_INTERPRETER} ${nodeOption}` : `#!${NODE_INTERPRETER}`;
    const entry = entryOf(daemon, program);
    if (!(await fs.pathExists(entry))) throw new BuildError(`${entry} does not exist: program ${program} of ${daemon} has no entry point`);
    const stamped = { count: 0 };
    const packageData = new Set<string>();
    const file = path.join(outDir, program);
    const options: esbuild.BuildOptions & { write: false } = {
      entryPoints: [entry],
      outfile: file,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      minifySyntax: true,
      legalComments: 'none',
      banner: { js: shebang },
      external: NATIVE_EXTERNALS,
      define,
      plugins: [stampPlugin(l, stamped), packageDataPlugin(packageData)],
      logLevel: 'silent',
      write: false,
      metafile: true,
    };
    const result = await esbuild.build(options).catch((err: esbuild.BuildFailure) => {
      const errors = (err.errors ?? []).map((e) => `  ${e.location?.file ?? entry}:${e.location?.line ?? 0}: ${e.text}`);
      throw new BuildError(`${program} of ${daemon} does not bundle:\n${errors.join('\n') || err.message}`);
    });
    const text = result.outputFiles[0]!.text;
    if (stamped.count !== 1) throw new BuildError(`${program}: the stamped layout was not bundled (stamp-source loaded ${stamped.count} times)`);
    if (text.includes(UNBUNDLED_MARKER)) throw new BuildError(`${program}: the unbundled layout source leaked into the bundle`);
    if (text.includes('FLAVORKIT_FEATURES')) {
      throw new BuildError(`${program}: refers to a feature that is not in src/flavor/daemons.ts FEATURES (FLAVORKIT_FEATURES left in the bundle)`);
    }
    await fs.outputFile(file, text, { mode: 0o755 });
    await fs.chmod(file, 0o755);
    const loadsRelay = Object.keys(result.metafile!.inputs).some((input) => path.resolve(PROJECT_ROOT, input) === path.join(PROJECT_ROOT, RELAY.loadedBy));
    results.push({ program, file, bytes: Buffer.byteLength(text), packageData: [...packageData], loadsRelay });
  }
  return results;
}
