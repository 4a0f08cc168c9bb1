import fs from 'node:fs';
import util from 'node:util';
import { isMainThread, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { runCommand, type CommandHost } from '../commands';
import { whenDrained } from '../drain';
import { ffiRefusal } from './scope';
import { Proxy } from '../proxy';
import { openRequestLog, type OpenLog } from '../requestlog';
import { useFfiConnect } from '../transport';
import { statusPage } from '../webstats';
import { loadLibc } from './libc';
import { FfiLoop } from './loop';
import { mirrorOf, reviveState, type CommandAnswer, type FromWorker, type ToWorker, type WorkerStart } from './messages';

/*
 * pen's FFI thread: it owns the whole state (client table, balancer, counters, blacklist), runs
 * the epoll loop that moves the bytes, and runs each command the main thread forwards through
 * runCommand between two rounds of that loop, so that penctl sees and changes the very state the
 * loop decides on.
 */

/** Whether this thread was started as pen's FFI thread. */
export function isFfiThread(): boolean {
  return !isMainThread && (workerData as Partial<WorkerStart> | null)?.penFfiThread === true;
}

const post = (message: FromWorker) => parentPort!.postMessage(message);

export function runFfiThread(): void {
  const start = workerData as WorkerStart;
  const libc = loadLibc();
  if (typeof libc === 'string') {
    post({ kind: 'failed', message: libc, code: null });
    return;
  }
  const loop = new FfiLoop(libc);
  const state = reviveState(start.state);
  // Said once, and in status_json: which rounds this loop runs.
  if (state.dataPath) Object.assign(state.dataPath, libc.relay ? { rounds: 'c' } : { rounds: 'ts', roundsReason: libc.relayNote ?? undefined });
  post({ kind: 'log', level: 'info', message: libc.relay ? 'FFI loop: relaying in C rounds' : `FFI loop: relaying in TypeScript rounds (${libc.relayNote})` });
  useFfiConnect((target, done) => loop.connect(target, done));
  let requestLog: OpenLog | null = null;
  const debug = (message: () => string) => {
    if (state.debug > 0) post({ kind: 'log', level: 'debug', message: message() });
  };
  const proxy = new Proxy(state.balancer, state.proxy, 'http', () => requestLog?.logger ?? null, debug, 'ffi');
  proxy.onFull = () => debug(() => 'connection table full');
  const host: CommandHost = {
    state,
    proxy: () => proxy,
    liveTls: () => null,
    exit: () => post({ kind: 'exit' }),
    writeWebStats: () => {
      const page = state.webStats ?? start.webStatsPage;
      if (!page) return false;
      try {
        fs.writeFileSync(page, statusPage(state, proxy));
        return true;
      } catch {
        return false;
      }
    },
    setLog: (target) => {
      if (target !== null && target === state.log && requestLog) {
        requestLog.reopen();
        return;
      }
      const opened = target ? openRequestLog(target, (note) => post({ kind: 'log', level: 'warn', message: note })) : null;
      requestLog?.close();
      requestLog = opened;
      state.log = target;
    },
    refusal: ffiRefusal,
  };
  try {
    if (state.log) host.setLog(state.log);
  } catch (err) {
    post({ kind: 'failed', message: (err as Error).message, code: null });
    return;
  }
  let listenerFd: number;
  try {
    const opened = start.inheritedFd !== null ? loop.adopt(start.inheritedFd, proxy.accept) : loop.listen(start.host, start.port, start.backlog, proxy.accept);
    listenerFd = opened.fd;
    post({ kind: 'ready', port: opened.port, listenerFd, wakeFd: loop.wakeFd });
  } catch (err) {
    const errno = (err as { errno?: number }).errno;
    post({ kind: 'failed', message: (err as Error).message, code: errno ? util.getSystemErrorName(-errno) : null });
    loop.stop();
    return;
  }
  const answered = new Int32Array(start.answered);
  /** Ends the thread: at once, or once the open connections finish within drain_timeout. */
  let finished = false;
  const stop = (): void => {
    loop.closeListener(listenerFd);
    const finish = () => {
      finished = true;
      // Told before the commands close: the main thread sends nothing more.
      Atomics.store(answered, 1, 1);
      proxy.closeAll();
      // The main thread may still write to the wake descriptor: it closes it once this thread has ended.
      loop.stop(false);
      requestLog?.close();
      start.commands.close();
    };
    const limit = state.extensions.drainTimeout;
    if (limit <= 0 || proxy.used === 0) return finish();
    post({ kind: 'log', level: 'info', message: `draining: ${proxy.used} connections open, waiting up to ${limit} s` });
    void whenDrained(proxy, limit).then((all) => {
      if (!all) post({ kind: 'log', level: 'warn', message: `drain_timeout ${limit} s passed with ${proxy.used} connections open; closing them` });
      finish();
    });
  };
  loop.onWake = () => {
    // While a drain runs, commands are still answered.
    for (let m = receiveMessageOnPort(start.commands); m; m = finished ? undefined : receiveMessageOnPort(start.commands)) {
      const message = m.message as ToWorker;
      if (message.kind === 'stop') {
        stop();
        continue;
      }
      if (message.kind === 'stopAccepting') {
        // A successor accepts on its copy of the socket from now on.
        loop.closeListener(listenerFd);
        continue;
      }
      // The counters penctl, the status and the status page read include what the C round relayed.
      proxy.settle();
      const reply = runCommand(host, message.line, message.depth, message.fromControl);
      const answer: CommandAnswer = { id: message.id, reply, mirror: mirrorOf(state) };
      start.commands.postMessage(answer);
      Atomics.store(answered, 0, 1);
      Atomics.notify(answered, 0);
    }
  };
  loop.run();
}
