// The ceiling of a Node HTTP server on this machine: every request answered with the bytes of one
// file, read once at start, with no routing, no cache checks and no logging.
//   node node-baseline.js PORT FILE
import fs from 'node:fs';
import http from 'node:http';

const [port, file] = process.argv.slice(2);
const body = fs.readFileSync(file!);
http
  .createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/data', 'Content-Length': body.length });
    res.end(body);
  })
  .listen(Number(port), '127.0.0.1');
