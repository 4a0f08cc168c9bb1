import dns from 'node:dns';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { DaemonContext } from '../../runtime';
import { DRAIN_TIMEOUT_MAX } from '../extensions';
import type { PenState } from '../state';
import { applyMirror, type CommandAnswer, type FromWorker, type ToWorker, type WorkerStart } from './messages';

/*
 * The main thread's side of the FFI data path: it starts the thread that owns pen's state and
 * moves the bytes, forwards every command (penctl, a reloaded config file, SIGUSR1's status page)
 * to it and waits for the answer, logs what that thread reports, and stops it with the daemon.
 */

/** How long a command may wait for the FFI thread, which answers between two rounds of its loop. */
const ANSWER_MS = 5000;
/** How long the thread may take to stop beyond its drain (drain_timeout, at most DRAIN_TIMEOUT_MAX). */
const STOP_MS = 3000;

export interface FfiPen {
  /** Runs one pen command on the FFI thread and returns its reply, as runCommand does. */
  run(line: string, depth?: number, fromControl?: boolean): string;
  /** The port listened on (for port 0). */
  port: number;
  /** The listening socket, for a successor to inherit (USR2). */
  listenerFd: number;
  /** Stops accepting; the socket lives on in a successor that inherited it. */
  stopAccepting(): void;
}

export class FfiStartError extends Error {
  constructor(
    message: string,
    readonly code: string | null,
  ) {
    super(message);
  }
}

/** The script both threads run: the FFI thread enters it as well and is told apart by its start data. */
function entryScript(): string {
  return require.main?.filename ?? process.argv[1]!;
}

/**
 * Starts the FFI thread on `state` (which it owns from then on) listening on host:port, or on
 * `inheritedFd`, the listening socket of the pen this one succeeds.
 */
export async function startFfiPen(
  ctx: DaemonContext,
  state: PenState,
  listen: { host: string; port: number },
  backlog: number,
  webStatsPage: string | null,
  inheritedFd: number | null,
): Promise<FfiPen> {
  const host = net.isIP(listen.host) ? listen.host : (await dns.promises.lookup(listen.host)).address;
  const channel = new MessageChannel();
  const answered = new SharedArrayBuffer(8);
  const start: WorkerStart = {
    penFfiThread: true,
    // The health checks stay behind: they run on Node's event loop, which the FFI thread has not.
    state: { ...state, health: null as unknown as PenState['health'] },
    host,
    port: listen.port,
    backlog,
    inheritedFd,
    webStatsPage,
    commands: channel.port2,
    answered,
  };
  const entry = entryScript();
  // From the sources (tests, development) the thread compiles TypeScript as the main thread does,
  // and loads the thread's own module only, not the whole program.
  const worker = entry.endsWith('.ts')
    ? new Worker(`require(${JSON.stringify(require.resolve('tsx/cjs/api'))}).register(); require(${JSON.stringify(path.join(__dirname, 'worker.ts'))}).runFfiThread();`, {
        eval: true,
        workerData: start,
        transferList: [channel.port2],
      })
    : new Worker(entry, { workerData: start, transferList: [channel.port2] });
  const commands: MessagePort = channel.port1;
  const signal = new Int32Array(answered);
  let wakeFd = -1;
  let listenerFd = -1;
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('error', (err) => reject(new FfiStartError(`the FFI thread failed: ${err.message}`, null)));
    worker.once('exit', (code) => reject(new FfiStartError(`the FFI thread ended at start (exit code ${code})`, null)));
    worker.on('message', (message: FromWorker) => {
      switch (message.kind) {
        case 'ready':
          wakeFd = message.wakeFd;
          listenerFd = message.listenerFd;
          resolve(message.port);
          break;
        case 'failed':
          reject(new FfiStartError(message.message, message.code));
          break;
        case 'log':
          ctx.log[message.level](message.message);
          break;
        case 'exit':
          setImmediate(() => void ctx.stop(0));
          break;
      }
    });
  });
  worker.removeAllListeners('exit');
  worker.removeAllListeners('error');
  let stopped = false;
  /** The thread has ended: its wake descriptor is closed, and nothing more is sent. */
  let exited = false;
  /** The thread has closed its end of the commands (after its drain): nothing it would answer. */
  const finished = () => exited || Atomics.load(signal, 1) === 1;
  // Without its data path pen serves nothing: it stops, as it would on an uncaught error in one thread.
  worker.on('error', (err) => ctx.log.warn(`the FFI thread failed: ${err.stack ?? err.message}`));
  worker.on('exit', (code) => {
    exited = true;
    fs.closeSync(wakeFd);
    if (stopped) return;
    ctx.log.warn(`the FFI thread ended (exit code ${code}); stopping`);
    void ctx.stop(1);
  });
  const wakeBuffer = Buffer.alloc(8);
  wakeBuffer.writeUInt32LE(1, 0);
  const send = (message: ToWorker) => {
    commands.postMessage(message);
    fs.writeSync(wakeFd, wakeBuffer);
  };
  let nextId = 0;
  // While the thread drains, it still answers.
  const run = (line: string, depth = 0, fromControl = false): string => {
    if (finished()) return 'do_cmd: pen is stopping\n';
    const id = ++nextId;
    Atomics.store(signal, 0, 0);
    send({ kind: 'command', id, line, depth, fromControl });
    const deadline = Date.now() + ANSWER_MS;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0 || Atomics.wait(signal, 0, 0, left) === 'timed-out') return 'do_cmd: the data path thread did not answer in time; try again\n';
      Atomics.store(signal, 0, 0);
      // Answers to commands that timed out earlier are passed over.
      for (let m = receiveMessageOnPort(commands); m; m = receiveMessageOnPort(commands)) {
        const answer = m.message as CommandAnswer;
        if (answer.id !== id) continue;
        applyMirror(state, answer.mirror);
        return answer.reply;
      }
    }
  };
  ctx.onStop(async () => {
    stopped = true;
    if (!exited) {
      const gone = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      if (!finished()) send({ kind: 'stop' });
      const timer = setTimeout(() => void worker.terminate(), DRAIN_TIMEOUT_MAX * 1000 + STOP_MS);
      await gone;
      clearTimeout(timer);
    }
    commands.close();
  });
  return { run, port, listenerFd, stopAccepting: () => void (stopped || finished() || send({ kind: 'stopAccepting' })) };
}
