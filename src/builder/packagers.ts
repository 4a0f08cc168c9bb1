import type { Packager } from './description';
import { debPackager } from './deb';
import { rpmPackager } from './rpm';

/** Every package format a build makes; a new format is one more Packager here. */
export const PACKAGERS: Packager[] = [rpmPackager, debPackager];

