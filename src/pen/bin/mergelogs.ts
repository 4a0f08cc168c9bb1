import { handleFlavorFlag } from '../../runtime';
import { mergelogsMain } from '../programs/mergelogs';

if (handleFlavorFlag('pen', process.argv.slice(2))) process.exit(0);
process.exitCode = mergelogsMain(process.argv.slice(2));
