import { handleFlavorFlag } from '../../runtime';
import { main } from '../cli';

if (handleFlavorFlag('init', process.argv.slice(2))) process.exit(0);
main(process.argv.slice(2)).then((code) => {
  // A daemon keeps running; a client ends with its status.
  if (code >= 0) process.exit(code);
});
