import fs from 'node:fs';
import path from 'node:path';

/**
 * An nginx.conf for one nginx in the foreground with everything under `dir` (no master process,
 * so a signal to it reaches the worker that holds the sockets). `http` is the body of its http
 * block: servers, logs. Returns the config's path; nginx logs errors to `dir`/logs/error.log.
 */
export function writeNginxConfig(dir: string, workerConnections: number, http: string): string {
  fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log error;
events { worker_connections ${workerConnections}; }
http {
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
${http.replace(/^/gm, '  ').trimEnd()}
}
`,
  );
  return conf;
}
