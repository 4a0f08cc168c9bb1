// Load beside a measurement: requests the depot must shrug off, sent until this process is killed.
//   node pester.ts PORT admin   16 loops of admin/0 logins with a wrong password, each from its
//                               own loopback address (127.0.0.2..17), one request at a time each
//   node pester.ts PORT glob    4 loops of search/1 with a pathological glob, one at a time each
import http from 'node:http';

const [port, mode] = process.argv.slice(2);
/** A pause between one loop's requests: an attacker's rate, not a flood that would measure CPU. */
const PAUSE_MS = Number(process.env.PESTER_PAUSE_MS ?? 50);
let sent = 0;

function once(path: string, headers: http.OutgoingHttpHeaders, localAddress: string): Promise<void> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: Number(port), path, headers, localAddress, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('error', () => resolve());
    req.setTimeout(30000, () => req.destroy());
  });
}

async function loop(path: string, headers: http.OutgoingHttpHeaders, localAddress: string): Promise<never> {
  for (;;) {
    await once(path, headers, localAddress);
    sent++;
    await new Promise((r) => setTimeout(r, PAUSE_MS));
  }
}

process.on('SIGTERM', () => {
  process.stderr.write(`pester ${mode}: ${sent} requests\n`);
  process.exit(0);
});
if (mode === 'admin') {
  const wrong = { Authorization: `Basic ${Buffer.from('root:not-the-password').toString('base64')}` };
  for (let i = 0; i < 16; i++) void loop('/admin/0?cmd=status', wrong, `127.0.0.${2 + i}`);
} else if (mode === 'glob') {
  const glob = `/search/1/${encodeURIComponent(`False_2_None_None_${'*a'.repeat(60)}#`)}`;
  for (let i = 0; i < 4; i++) void loop(glob, {}, '127.0.0.1');
} else {
  process.stderr.write('usage: pester.ts PORT admin|glob\n');
  process.exit(2);
}
