// A minimal daemon on src/runtime, for the runtime's own tests: it answers on its control
// socket with its flavor, so a test can tell which instance it reached.
import type { DaemonName } from '../../src/flavor';
import { lineRequests, listenControlSocket, runDaemon } from '../../src/runtime';

const daemon = (process.env.TEST_DAEMON ?? 'pen') as DaemonName;
let reloads = 0;

void runDaemon({
  daemon,
  foreground: process.argv.includes('-f'),
  user: process.env.TEST_USER,
  async start(ctx) {
    // A crash in the middle of a start, after the lock is taken: nothing of the daemon's own runs.
    if (process.env.TEST_CRASH_AT_START) process.kill(process.pid, 'SIGKILL');
    const server = await listenControlSocket(
      { path: ctx.layout.controlSocket, mode: 0o600 },
      lineRequests((line) => (line === 'reloads' ? `${reloads}\n` : `${ctx.layout.flavor} ${process.pid} ${line}\n`)),
    );
    ctx.onStop(() => new Promise<void>((resolve) => server.close(() => resolve())));
    if (process.env.TEST_LOG_LINE) ctx.log.notice(process.env.TEST_LOG_LINE);
  },
  reload(ctx) {
    reloads++;
    ctx.log.notice('reloaded');
  },
});
