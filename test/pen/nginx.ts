import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { killAndWait, tempDir } from '../support/process';
import { writeNginxConfig } from '../../tools/nginx';
import { freePort, waitForTcp } from '../../tools/ports';

/**
 * A real nginx backend in one process (no master, so that a SIGKILL takes its socket with it).
 * `/` answers its name; `/health` answers 200 while the file `healthy` exists, else 503.
 */
export class Nginx {
  readonly dir = tempDir('nginx');
  private child: ChildProcess | null = null;
  port = 0;

  constructor(readonly name: string) {
    fs.mkdirSync(path.join(this.dir, 'www'));
    this.healthy(true);
  }

  async start(port?: number): Promise<this> {
    this.port = port ?? (await freePort());
    const d = this.dir;
    const conf = writeNginxConfig(
      d,
      1024,
      `access_log off;
server {
  listen 127.0.0.1:${this.port};
  location = /health { root ${d}/www; default_type text/plain; try_files /healthy =503; }
  location / { default_type text/plain; return 200 "${this.name}"; }
}`,
    );
    this.child = spawn('nginx', ['-p', d, '-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
    const exited = new Promise<never>((_, reject) => this.child!.once('exit', (code) => reject(new Error(`nginx exited with status ${code}; see ${d}/logs/error.log`))));
    await Promise.race([exited, waitForTcp(this.port)]);
    exited.catch(() => undefined);
    return this;
  }

  /** Whether `/health` answers 200 (else 503). */
  healthy(on: boolean): void {
    const file = path.join(this.dir, 'www', 'healthy');
    if (on) fs.writeFileSync(file, 'ok\n');
    else fs.rmSync(file, { force: true });
  }

  /** Killed at once, as a crashed backend: its port refuses from then on. */
  async kill(): Promise<void> {
    const pid = this.child?.pid;
    this.child = null;
    if (pid) await killAndWait(pid, 'SIGKILL');
  }

  async stop(): Promise<void> {
    await this.kill();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
