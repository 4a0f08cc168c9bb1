import { currentLayout } from '../runtime';
import { loadNative } from '../runtime/native';

/*
 * Reads of file bytes the kernel already holds in its page cache, done on the serving thread.
 * Node reads files in its thread pool: each read is a hand-over to a pool thread and back, two
 * context switches and a lock, which for a 10 MB file in 128 KiB chunks cost more than the copy.
 * preadv2 with RWF_NOWAIT copies what is cached and refuses (EAGAIN) where the disk would have to
 * be read; only those reads go to the pool, so a cold file never blocks the serving thread.
 */

/** preadv2's flag: read only what the page cache holds. */
const RWF_NOWAIT = 0x8;
/** Errors that mean preadv2 or RWF_NOWAIT is not to be had here: never tried again. */
const UNSUPPORTED = new Set([22 /* EINVAL */, 38 /* ENOSYS */, 95 /* EOPNOTSUPP */]);
/** struct iovec: a pointer and a length, 8 bytes each. */
const IOVEC_SIZE = 16;

interface Preadv2 {
  preadv2(fd: number, iov: Buffer, count: number, offset: number, flags: number): number;
  errno(): number;
  address(buffer: Buffer): bigint;
}

let loaded: Preadv2 | null | undefined;

function load(): Preadv2 | null {
  if (loaded !== undefined) return loaded;
  // The iovec layout below is that of the 64-bit machines packages are built for.
  if (process.platform !== 'linux' || (process.arch !== 'x64' && process.arch !== 'arm64')) return (loaded = null);
  try {
    const koffi = loadNative<typeof import('koffi')>('koffi', currentLayout('depot').libDir);
    const preadv2 = koffi.load('libc.so.6').func('long preadv2(int, void *, int, long, int)') as Preadv2['preadv2'];
    loaded = { preadv2, errno: () => koffi.errno(), address: (buffer) => koffi.address(buffer) };
  } catch {
    // Without the addon every read goes through the pool, as Node does by itself.
    loaded = null;
  }
  return loaded;
}

/** Per chunk buffer, the iovec that points at it (a buffer's memory never moves). */
const iovecs = new WeakMap<Buffer, Buffer>();

function iovecOf(ffi: Preadv2, buffer: Buffer): Buffer {
  let iov = iovecs.get(buffer);
  if (!iov) {
    iov = Buffer.alloc(IOVEC_SIZE);
    iov.writeBigUInt64LE(ffi.address(buffer), 0);
    iovecs.set(buffer, iov);
  }
  return iov;
}

/**
 * Reads up to `length` bytes at `position` into the start of `buffer` when the page cache holds
 * them, and returns how many it read (0 at the end of the file); null when the disk would have
 * to be read, or this machine cannot tell: then read through the pool. `buffer` must be kept
 * referenced by the caller (it is, for the length of the call).
 */
export function readCached(fd: number, buffer: Buffer, length: number, position: number): number | null {
  const ffi = load();
  if (!ffi) return null;
  const iov = iovecOf(ffi, buffer);
  iov.writeBigUInt64LE(BigInt(Math.min(length, buffer.length)), 8);
  const read = ffi.preadv2(fd, iov, 1, position, RWF_NOWAIT);
  if (read >= 0) return read;
  const errno = ffi.errno();
  if (UNSUPPORTED.has(errno)) loaded = null;
  return null;
}
