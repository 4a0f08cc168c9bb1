import { handleFlavorFlag } from '../../runtime';
import { penlogdMain } from '../programs/penlogd';

if (handleFlavorFlag('pen', process.argv.slice(2))) process.exit(0);
void penlogdMain(process.argv.slice(2)).then((code) => {
  if (code !== 0) process.exitCode = code;
});
