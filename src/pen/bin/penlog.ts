import { handleFlavorFlag } from '../../runtime';
import { penlogMain } from '../programs/penlog';

if (handleFlavorFlag('pen', process.argv.slice(2))) process.exit(0);
void penlogMain(process.argv.slice(2), process.argv[1] ?? 'penlog').then((code) => {
  process.exitCode = code;
});
