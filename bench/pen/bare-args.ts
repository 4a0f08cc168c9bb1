// The command line the bare benchmark proxies share: LISTEN_HOST:PORT BACKEND_HOST:PORT...
const split = (a: string) => {
  const i = a.lastIndexOf(':');
  return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
};

export function bareArgs(argv: string[] = process.argv.slice(2)): { listen: { host: string; port: number }; servers: Array<{ host: string; port: number }> } {
  const [listen, ...servers] = argv.map(split);
  if (!listen || servers.length === 0) throw new Error('usage: node PROXY.js 127.0.0.1:PORT 127.0.0.1:B1 [127.0.0.1:B2...]');
  return { listen, servers };
}
