// Stands in for a daemon whose sources have not landed, so that packaging is exercised with a
// real program on the real runtime: it detaches (unless -f), holds the flavored start lock and
// PID file, and answers "<flavor> <daemon> <pid>" on its service port (if the layout has one)
// and on its control socket. Packaging tests bundle it under the daemon's program names.
import net from 'node:net';
import { handleFlavorFlag, lineRequests, listenControlSocket, runDaemon, type DaemonContext } from '../../src/runtime';
import type { DaemonName } from '../../src/flavor';

declare const STANDIN_DAEMON: DaemonName;

const args = process.argv.slice(2);
if (handleFlavorFlag(STANDIN_DAEMON, args)) process.exit(0);
if (args.includes('--help')) {
  process.stdout.write('usage: standin [-f] [-F config]\n');
  process.exit(0);
}

function listenTcp(ctx: DaemonContext, port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => socket.end(`${ctx.layout.flavor} ${ctx.layout.daemon} ${process.pid}\n`));
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

void runDaemon({
  daemon: STANDIN_DAEMON,
  foreground: args.includes('-f'),
  async start(ctx) {
    const control = await listenControlSocket(
      { path: ctx.layout.controlSocket, mode: 0o600 },
      lineRequests((line) => `${ctx.layout.flavor} ${ctx.layout.daemon} ${process.pid} ${line}\n`),
    );
    ctx.onStop(() => new Promise<void>((resolve) => control.close(() => resolve())));
    const port = ctx.layout.ports.service;
    if (port !== undefined) {
      const server = await listenTcp(ctx, port);
      ctx.onStop(() => new Promise<void>((resolve) => server.close(() => resolve())));
    }
  },
  reload(ctx) {
    ctx.log.notice('reloaded');
  },
});
