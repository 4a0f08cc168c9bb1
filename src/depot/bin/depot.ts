import { currentLayout, handleFlavorFlag } from '../../runtime';
import { PAM_PROCESS_ENV, servePamRequests } from '../admin-auth';
import { main } from '../cli';

if (FLAVORKIT_FEATURES.admin && process.env[PAM_PROCESS_ENV]) {
  // The child the depot runs PAM in (see PamProcess).
  const layout = currentLayout('depot');
  servePamRequests(layout.pamService, layout.libDir);
} else {
  if (handleFlavorFlag('depot', process.argv.slice(2))) process.exit(0);
  main(process.argv.slice(2)).then((code) => {
    // A running daemon returns -1 and keeps serving.
    if (code >= 0) process.exit(code);
  });
}
