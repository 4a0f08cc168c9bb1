import { currentLayout, handleFlavorFlag } from '../../runtime';
import { PAM_PROCESS_ENV, servePamRequests } from '../admin-auth';
import { main } from '../cli';
import { limitHeapGrowth } from '../heap';
import { INDEX_BUILD_ENV, runBuildOrder } from '../search/build-process';

if (FLAVORKIT_FEATURES.admin && process.env[PAM_PROCESS_ENV]) {
  // The child the depot runs PAM in (see PamProcess).
  const layout = currentLayout('depot');
  servePamRequests(layout.pamService, layout.libDir);
} else if (FLAVORKIT_FEATURES.search && process.env[INDEX_BUILD_ENV]) {
  // A child building one search index (see buildInChild).
  runBuildOrder(JSON.parse(process.env[INDEX_BUILD_ENV]));
} else {
  if (handleFlavorFlag('depot', process.argv.slice(2))) process.exit(0);
  limitHeapGrowth();
  main(process.argv.slice(2)).then((code) => {
    // A running daemon returns -1 and keeps serving.
    if (code >= 0) process.exit(code);
  });
}
