import { handleFlavorFlag } from '../../runtime';
import { main } from '../cli';

if (handleFlavorFlag('depot', process.argv.slice(2))) process.exit(0);
main(process.argv.slice(2)).then((code) => {
  // A running daemon returns -1 and keeps serving.
  if (code >= 0) process.exit(code);
});
