import type { MessagePort } from 'node:worker_threads';
import { Acls } from '../acl';
import { Balancer } from '../balancer';
import { HealthChecks } from '../health';
import type { PenState } from '../state';

/** What the main thread hands the FFI thread at start (workerData). */
export interface WorkerStart {
  /** Marks the thread as pen's FFI thread, for the entry point both threads share. */
  penFfiThread: true;
  state: PenState;
  host: string;
  port: number;
  backlog: number;
  /** A listening socket inherited from the pen this one succeeds (USR2), accepted on instead of host:port. */
  inheritedFd: number | null;
  /** The flavor's status page, where `status` writes when web_stats is not set. */
  webStatsPage: string | null;
  /** Commands and their answers: the main thread waits for each answer. */
  commands: MessagePort;
  /** Two words the FFI thread sets to 1: the first when an answer has been posted, the second when it has finished (no more answers). */
  answered: SharedArrayBuffer;
}

export type ToWorker = { kind: 'command'; id: number; line: string; depth: number; fromControl: boolean } | { kind: 'stopAccepting' } | { kind: 'stop' };

/** The part of the state the main thread reads itself (the control socket's ACL, the log target). */
export interface Mirror {
  controlAcl: number;
  acls: Acls;
  log: string | null;
}

export interface CommandAnswer {
  id: number;
  reply: string;
  mirror: Mirror;
}

export type FromWorker =
  | { kind: 'ready'; port: number; listenerFd: number; wakeFd: number }
  | { kind: 'failed'; message: string; code: string | null }
  | { kind: 'log'; level: 'debug' | 'info' | 'warn'; message: string }
  | { kind: 'exit' };

export function mirrorOf(state: PenState): Mirror {
  return { controlAcl: state.controlAcl, acls: state.acls, log: state.log };
}

/**
 * The state as it arrives on the other thread (a structured clone: plain objects) made whole
 * again: the access lists and the balancer get their classes back, and the balancer shares the
 * settings and access lists with the state, as on the main thread.
 */
export function reviveState(cloned: PenState): PenState {
  const acls = Object.assign(new Acls(), cloned.acls);
  const balancer = Object.assign(new Balancer(cloned.settings, acls), cloned.balancer, { settings: cloned.settings, acls });
  // Never started here: the thread refuses `server N check` (./scope.ts).
  const health = new HealthChecks(balancer, () => cloned.proxy.source);
  return { ...cloned, acls, balancer, health };
}

/** A mirror applied to the main thread's copy of the state. */
export function applyMirror(state: PenState, mirror: Mirror): void {
  state.controlAcl = mirror.controlAcl;
  Object.assign(state.acls, mirror.acls);
  state.log = mirror.log;
}
