import { handleFlavorFlag } from '../../runtime';
import { penctlMain } from '../tools/penctl';

if (handleFlavorFlag('pen', process.argv.slice(2))) process.exit(0);
void penctlMain(process.argv.slice(2)).then((code) => {
  // Let stdout drain before leaving: a reply piped to another program must arrive whole.
  process.exitCode = code;
});
