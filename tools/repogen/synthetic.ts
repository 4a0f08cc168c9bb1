import type { PackageSpec, RepositorySpec, VersionSpec } from './generate';
import { catalogTimestamp } from './catalog';

export interface SyntheticOptions {
  /** Packages (stems) per publisher. */
  packages: number;
  publishers: string[];
  seed: number;
  /** Bytes of each payload file. */
  fileSize: number;
  /** Versions per stem: each package has 1 to this many. */
  maxVersions: number;
  /** Files per version: 1 to this many. */
  maxFiles: number;
}

export const SYNTHETIC_DEFAULTS: SyntheticOptions = { packages: 20, publishers: ['test'], seed: 1, fileSize: 1024, maxVersions: 2, maxFiles: 3 };

/** mulberry32: a small seeded generator, so a seed always gives the same repository. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const AREAS = ['library', 'system', 'developer', 'network', 'desktop', 'service', 'text', 'shell'];
const WORDS = ['fast', 'small', 'secure', 'portable', 'graphical', 'network', 'audio', 'image', 'archive', 'parser', 'daemon', 'toolkit', 'compiler', 'editor', 'database', 'library'];
const CATEGORIES = ['System/Libraries', 'System/Core', 'Development/C', 'Applications/Internet', 'Desktop (GNOME)/Libraries', 'System/Shells'];
const EPOCH = Date.UTC(2025, 0, 1);

/** Payload bytes of a given size, varied by the generator so each file has its own hash. */
function content(next: () => number, size: number, label: string): Buffer {
  const head = Buffer.from(`${label}\n`);
  const body = Buffer.alloc(Math.max(size - head.length, 0));
  // Text-like content: compressible as real files are, not random noise.
  for (let i = 0; i < body.length; i++) body[i] = i % 64 === 63 ? 10 : 97 + Math.floor(next() * 26);
  return Buffer.concat([head, body]).subarray(0, Math.max(size, 1));
}

/**
 * A repository description of `packages` stems per publisher with summaries, classifications,
 * licenses, files, several versions and dependencies on earlier packages, all from one seed.
 */
export function syntheticRepository(options: Partial<SyntheticOptions> = {}): RepositorySpec {
  const o = { ...SYNTHETIC_DEFAULTS, ...options };
  const next = random(o.seed);
  const pick = <T>(list: readonly T[]) => list[Math.floor(next() * list.length)]!;
  const publishers = o.publishers.map((name) => {
    const packages: PackageSpec[] = [];
    for (let i = 0; i < o.packages; i++) {
      const stem = `${pick(AREAS)}/pkg${i}`;
      const versions: VersionSpec[] = [];
      const count = 1 + Math.floor(next() * o.maxVersions);
      for (let v = 0; v < count; v++) {
        const files = Array.from({ length: 1 + Math.floor(next() * o.maxFiles) }, (_, f) => ({
          path: `usr/share/pkg${i}/file${f}-${v}.txt`,
          content: content(next, o.fileSize, `${name} pkg${i} version ${v} file ${f}`),
        }));
        const depends = i > 0 ? [...new Set(Array.from({ length: Math.floor(next() * 3) }, () => Math.floor(next() * i)))].map((d) => packages[d]!.stem) : [];
        versions.push({
          version: `1.${v},5.11-0.${i % 10}:${catalogTimestamp(new Date(EPOCH + (i * 10 + v) * 1000))}`,
          summary: `${pick(WORDS)} ${pick(WORDS)} package ${i}`,
          description: `The ${pick(WORDS)} ${pick(WORDS)} component number ${i}, version ${v}.`,
          classification: [`org.opensolaris.category.2008:${pick(CATEGORIES)}`],
          dirs: [`usr/share/pkg${i}`],
          files,
          license: { name: pick(['MIT', 'BSD-2-Clause', 'CDDL-1.0']), text: `License of pkg${i}: use it freely.\n` },
          depends,
        });
      }
      packages.push({ stem, versions });
    }
    return { name, packages };
  });
  return { publishers, created: new Date(EPOCH), lastModified: new Date(EPOCH + 86_400_000 + 123) };
}
