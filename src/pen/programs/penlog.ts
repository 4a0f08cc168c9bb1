import dgram from 'node:dgram';
import { currentLayout, createLogger, type Logger } from '../../runtime';
import { FgetsSplitter } from '../libc/fgets';
import { GaiError, resolveHost, resolveService } from '../libc/netaddr';
import { cString } from '../libc/scanf';

/**
 * penlog: each line of a web server's log on stdin (Apache `CustomLog "|penlog host port"`)
 * becomes one UDP datagram to penlogd. Lines are cut where fgets(1024) would cut them.
 */
export async function penlogMain(args: readonly string[], program: string): Promise<number> {
  if (args.length < 2) {
    process.stderr.write(`Usage: ${program} server_ip server_port [my_ip]\n`);
    process.stderr.write(`penlog: ${args.length === 0 ? 'no penlogd address given' : 'no penlogd port given'}; e.g. "penlog 127.0.0.1 10000" sends stdin to penlogd on 127.0.0.1 port 10000\n`);
    return 1;
  }
  const [serverHost, serverPort, myIp] = args;
  let socket: dgram.Socket;
  let port: number;
  let address: string;
  try {
    const server = await resolveHost(serverHost);
    port = resolveService(serverPort, 'udp');
    address = server.address;
    socket = dgram.createSocket(server.family === 6 ? 'udp6' : 'udp4');
    if (myIp !== undefined) {
      const local = await resolveHost(myIp);
      await new Promise<void>((resolve, reject) => {
        socket.once('error', (err) => reject(new Error(`Problem creating socket: cannot bind to ${myIp} (${(err as NodeJS.ErrnoException).code}); give an address of this host`)));
        socket.bind({ address: local.address, port: 0 }, () => resolve());
      });
    }
  } catch (err) {
    if (err instanceof GaiError) process.stderr.write(`${err.message} (${err.detail}); give penlogd's address and UDP port\n`);
    else process.stderr.write(`${(err as Error).message}\n`);
    return 1;
  }
  let logger: Logger | null = null;
  const layout = currentLayout('pen');
  const complain = (message: string) => {
    logger ??= createLogger({ identity: layout.logIdentity, foreground: false, libDir: layout.libDir, debug: true });
    logger.debug(message);
  };
  socket.on('error', (err) => complain(`Problem sending data: ${err.message}`));

  const send = (piece: string) =>
    new Promise<void>((resolve) => {
      // sendto(strlen(buf)): the datagram ends at the first NUL byte.
      const data = Buffer.from(cString(piece), 'latin1');
      socket.send(data, port, address, (err) => {
        if (err) complain(`Problem sending data: ${err.message}`);
        resolve();
      });
    });

  const splitter = new FgetsSplitter(1024);
  for await (const chunk of process.stdin) {
    for (const piece of splitter.push(chunk as Buffer)) await send(piece);
  }
  for (const piece of splitter.end()) await send(piece);
  socket.close();
  (logger as Logger | null)?.close();
  return 0;
}
