import { handleFlavorFlag } from '../../runtime';
import { main } from '../cli';
import { isFfiThread, runFfiThread } from '../ffi/worker';
import { chooseDataPath } from '../transport';

const argv = process.argv.slice(2);

async function run(): Promise<number> {
  if (argv.includes('--flavor')) {
    // The data path this pen would run here with a configuration every path serves, probed as at start.
    let chosen;
    try {
      chosen = await chooseDataPath();
    } catch (err) {
      process.stderr.write(`pen: ${(err as Error).message}\n`);
      return 1;
    }
    handleFlavorFlag('pen', argv, [['dataPath', chosen.path], ...(chosen.reason ? ([['dataPathReason', chosen.reason]] as Array<[string, string]>) : [])]);
    return 0;
  }
  return main(argv);
}

// pen's FFI data path runs this same script on its own thread.
if (isFfiThread()) runFfiThread();
else
  run().then((code) => {
    // A running daemon returns -1 and keeps serving.
    if (code >= 0) process.exit(code);
  });
