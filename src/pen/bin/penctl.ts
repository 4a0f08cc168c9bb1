import { handleFlavorFlag } from '../../runtime';
import { penctlMain } from '../programs/penctl';

if (handleFlavorFlag('pen', process.argv.slice(2))) process.exit(0);
// A reader that went away (penctl ... status | head) ends penctl quietly, as SIGPIPE ends Debian's.
process.stdout.on('error', (err: NodeJS.ErrnoException) => process.exit(err.code === 'EPIPE' ? 1 : 2));
void penctlMain(process.argv.slice(2)).then((code) => {
  // Let stdout drain before leaving: a reply piped to another program must arrive whole.
  process.exitCode = code;
});
