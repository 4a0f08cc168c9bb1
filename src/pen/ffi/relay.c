/*
 * One round of pen's FFI byte path in C: epoll_wait, then for every event of a socket whose pair
 * relays plainly, recv into the loop's read buffer and send it on to the other side, in full.
 * Everything else is left to the TypeScript loop (src/pen/ffi/loop.ts), which calls this once per
 * round through koffi.
 *
 * What JavaScript owns (allocated once per loop, kept referenced for the loop's life, so their
 * addresses stay valid; this file never frees, keeps or grows them):
 *   events[max]          the epoll_event array; data is the descriptor (low 32 bits) and its
 *                        generation (high 32 bits), as the loop registered it
 *   peer[table]          per descriptor: the other side's descriptor + 1 while this side may be
 *                        relayed here, 0 otherwise; JS clears it before any change of state that
 *                        needs its attention (pause, pending bytes, EOF, error, close)
 *   generation[table]    per descriptor: bumped by JS when the descriptor is closed
 *   peer_gen[table]      the peer's generation when JS marked the pair, so a peer closed since
 *                        (and its number reused) is never written to
 *   relayed[table]       bytes read from each descriptor here, which JS adds to pen's counters
 *   buffer[size]         the loop's read buffer
 *   result[4]            out: events returned by epoll_wait, and for a stop its recv length,
 *                        send result and errno
 * What this file owns: nothing beyond one call. Every descriptor and index read from those arrays
 * is bounded by `table` or `max` before use.
 *
 * An event handled here has its flags set to what is left for the loop: EPOLLOUT if it came (the
 * socket may have bytes of its own waiting), else 0; the loop handles those not 0. When a send
 * takes less than was read, the round stops at that event (returning its index) with the bytes
 * still in the buffer, so that the loop keeps the rest before anything reads into the buffer again.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Bumped whenever the arguments or the arrays' meaning change: the loop loads only its own version. */
#define PEN_RELAY_VERSION 1

/* Set on an event whose recv failed here: the socket's error is consumed, the loop reports it. */
#define PEN_RELAY_RECV_FAILED 0x40000000u

/* Reads of a full buffer in a row before the rest of a busy socket is left to the loop. */
#define PEN_RELAY_READS 4

int pen_relay_version(void) {
  return PEN_RELAY_VERSION;
}

int pen_relay_round(int epfd, struct epoll_event *events, int max, int timeout_ms, int start, int table, int32_t *peer,
                    const uint32_t *generation, const uint32_t *peer_gen, double *relayed, char *buffer, int size,
                    int32_t *result) {
  int count;
  if (start < 0) {
    if (max <= 0 || size <= 0 || table <= 0) return 0;
    count = epoll_wait(epfd, events, max, timeout_ms);
    if (count < 0) count = 0;
    result[0] = count;
    start = 0;
  } else {
    count = result[0];
    if (count < 0 || count > max) return 0;
  }
  for (int i = start; i < count; i++) {
    uint32_t flags = events[i].events;
    /* Only input (and output with nothing waiting, which needs nothing) is relayed here. */
    if (!(flags & EPOLLIN) || (flags & ~(uint32_t)(EPOLLIN | EPOLLOUT))) continue;
    uint64_t data = events[i].data.u64;
    uint32_t fd = (uint32_t)data;
    if (fd >= (uint32_t)table || generation[fd] != (uint32_t)(data >> 32)) continue;
    int32_t to_plus_one = peer[fd];
    if (to_plus_one <= 0 || to_plus_one > table) continue;
    int to = to_plus_one - 1;
    if (generation[to] != peer_gen[fd]) continue;
    /* What this round leaves of the event once its input is relayed. */
    uint32_t left = flags & EPOLLOUT;
    int reads = 0;
    for (;;) {
      ssize_t n = recv((int)fd, buffer, (size_t)size, 0);
      if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) events[i].events = left;
        /* An error is the socket's and consumed by this recv: the loop reports it. */
        else if (n < 0 && errno != EINTR) events[i].events = EPOLLIN | PEN_RELAY_RECV_FAILED;
        /* An EOF (0) reads again as one; EINTR reads again. Both go to the loop as they came. */
        break;
      }
      relayed[fd] += (double)n;
      ssize_t sent = send(to, buffer, (size_t)n, MSG_NOSIGNAL);
      if (sent != n) {
        events[i].events = left;
        result[1] = (int32_t)n;
        result[2] = (int32_t)sent;
        result[3] = sent < 0 ? errno : 0;
        return i;
      }
      if (n < size) {
        events[i].events = left;
        break;
      }
      /* A full buffer: more may wait. After a few, the loop reads the rest (flags left as they came). */
      if (++reads == PEN_RELAY_READS) break;
    }
  }
  return count;
}
