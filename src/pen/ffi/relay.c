/*
 * The hot part of pen's FFI byte path in C, called through koffi by the TypeScript loop
 * (src/pen/ffi/loop.ts):
 *   pen_relay_round  one round: the closes the loop put off, epoll_wait, then for every event of a
 *                    listener, the clients waiting on it (accepted and registered), and for every
 *                    event of a socket whose pair relays plainly, recv into the loop's read buffer
 *                    and send it on to the other side, in full;
 *   pen_connect      a backend socket: socket, bind to a source, connect, registered, in one call.
 * Everything else is left to the loop, which reads what a round did from the arrays below.
 *
 * What JavaScript owns (allocated once per loop, kept referenced for the loop's life, so their
 * addresses stay valid; this file never frees, keeps or grows them), all reached from one
 * `struct pen_loop` the loop fills in once:
 *   events[max]          the epoll_event array; data is the descriptor (low 32 bits) and its
 *                        generation (high 32 bits), as the loop or this file registered it
 *   peer[table]          per descriptor: the other side's descriptor + 1 while this side may be
 *                        relayed here, PEN_LISTENER for a listener this file accepts on, 0 otherwise;
 *                        JS clears it before any change of state that needs its attention (pause,
 *                        pending bytes, EOF, error, close); this file clears it when it hands the
 *                        loop an EOF or an error, so that a second event for the descriptor in the
 *                        same round (one the loop asked for) is left to the loop, not read again
 *   generation[table]    per descriptor: bumped by JS when the descriptor is closed
 *   peer_gen[table]      the peer's generation when JS marked the pair, so a peer closed since
 *                        (and its number reused) is never written to
 *   relayed[table]       bytes read from each descriptor here, which JS adds to pen's counters
 *   buffer[size]         the loop's read buffer
 *   accepted[accept_max * PEN_ACCEPT_WORDS]
 *                        clients accepted in this round: descriptor, listener, family, port and
 *                        16 bytes of address (an IPv4 address in the first 4)
 *   closing[close_max]   descriptors JS has done with, closed at the start of the next round
 *   reading[2 * read_max]
 *                        descriptors (each with its generation) whose input JS wants read in the
 *                        next round: each becomes an EPOLLIN event after those epoll_wait returns
 *   result[PEN_RESULT_WORDS]
 *                        events returned by epoll_wait; for a stop its recv length, send result
 *                        and errno; clients in `accepted`; descriptors in `closing`; and in
 *                        `reading`
 * What this file owns: nothing beyond one call. Every descriptor, count and index read from those
 * arrays is bounded by `table`, `max`, `accept_max` or `close_max` before use.
 *
 * An event handled here has its flags set to what is left for the loop: EPOLLOUT if it came (the
 * socket may have bytes of its own waiting), else 0, and PEN_RELAY_EOF once the input is relayed
 * up to the peer's FIN (announced by EPOLLRDHUP or EPOLLHUP, it follows the bytes a read that
 * did not fill the buffer emptied; or a read returned 0); the loop handles those not 0. When a
 * send takes less than was read, the round stops at that event (returning its index) with the
 * bytes still in the buffer, so that the loop keeps the rest before anything reads into the
 * buffer again; the FIN, if announced, is left on the event.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <unistd.h>

/* Bumped whenever the arguments or the arrays' meaning change: the loop loads only its own version. */
#define PEN_RELAY_VERSION 4

/* Set on an event whose recv failed here: the socket's error is consumed, the loop reports it. */
#define PEN_RELAY_RECV_FAILED 0x40000000u
/* Set on an event whose input was relayed up to its end: the loop passes the EOF on, without a read. */
#define PEN_RELAY_EOF 0x10000000u
/* Set on a listener's event when accept4 ran out of descriptors: the loop rests the listener. */
#define PEN_RELAY_ACCEPT_FULL 0x20000000u

/* Reads of a full buffer in a row before the rest of a busy socket is left to the loop. */
#define PEN_RELAY_READS 4
/* Clients taken per report of a listener, as the loop takes them. */
#define PEN_ACCEPT_BATCH 16
/* peer[] of a listener. */
#define PEN_LISTENER (-1)
/* Words per accepted client in `accepted`. */
#define PEN_ACCEPT_WORDS 8

enum { RESULT_EVENTS, RESULT_STOP_READ, RESULT_STOP_SENT, RESULT_STOP_ERRNO, RESULT_ACCEPTED, RESULT_CLOSING, RESULT_READING, PEN_RESULT_WORDS };

/* As loop.ts lays it out: the pointers, then the sizes, each 8 bytes apart. */
struct pen_loop {
  struct epoll_event *events;
  int32_t *peer;
  const uint32_t *generation;
  const uint32_t *peer_gen;
  double *relayed;
  char *buffer;
  int32_t *accepted;
  int32_t *closing;
  int32_t *reading;
  int32_t *result;
  int64_t epfd;
  int64_t max;
  int64_t table;
  int64_t size;
  int64_t accept_max;
  int64_t close_max;
  int64_t read_max;
  /* What a connected socket is registered for (loop.ts's SOCKET_EVENTS). */
  int64_t socket_events;
};

int pen_relay_version(void) {
  return PEN_RELAY_VERSION;
}

/* Registers `fd` for `events`, tagged with its generation; closes it when that fails. */
static int watch(const struct pen_loop *loop, int fd, uint32_t events) {
  struct epoll_event reg;
  reg.events = events;
  reg.data.u64 = (uint64_t)(uint32_t)fd | ((uint64_t)loop->generation[fd] << 32);
  if (epoll_ctl((int)loop->epfd, EPOLL_CTL_ADD, fd, &reg) == 0) return 0;
  int err = errno;
  close(fd);
  return -err;
}

/* The clients waiting on `listener`, up to a batch; what is left of its event stays for the loop. */
static void accept_clients(const struct pen_loop *loop, int listener, struct epoll_event *event) {
  int32_t *result = loop->result;
  event->events = 0;
  for (int taken = 0; taken < PEN_ACCEPT_BATCH; taken++) {
    int32_t n = result[RESULT_ACCEPTED];
    /* Full: the listener is level-triggered, so the clients left are reported next round. */
    if (n < 0 || n >= loop->accept_max) return;
    struct sockaddr_storage address;
    socklen_t length = sizeof address;
    int fd = accept4(listener, (struct sockaddr *)&address, &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) event->events = EPOLLIN | PEN_RELAY_ACCEPT_FULL;
      /* EAGAIN: none left. Anything else (a client gone before it was taken): the next report. */
      return;
    }
    if (fd >= loop->table || watch(loop, fd, (uint32_t)loop->socket_events) < 0) {
      if (fd >= loop->table) close(fd);
      continue;
    }
    int32_t *out = loop->accepted + (int64_t)n * PEN_ACCEPT_WORDS;
    memset(out, 0, PEN_ACCEPT_WORDS * sizeof *out);
    out[0] = fd;
    out[1] = listener;
    out[2] = address.ss_family;
    if (address.ss_family == AF_INET) {
      const struct sockaddr_in *in = (const struct sockaddr_in *)&address;
      out[3] = ntohs(in->sin_port);
      memcpy(&out[4], &in->sin_addr, 4);
    } else if (address.ss_family == AF_INET6) {
      const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&address;
      out[3] = ntohs(in6->sin6_port);
      memcpy(&out[4], &in6->sin6_addr, 16);
    }
    result[RESULT_ACCEPTED] = n + 1;
  }
}

/* The descriptors the loop has done with: closing them also takes them out of the epoll set. */
static void close_put_off(const struct pen_loop *loop) {
  int32_t n = loop->result[RESULT_CLOSING];
  if (n > loop->close_max) n = (int32_t)loop->close_max;
  for (int32_t i = 0; i < n; i++) close(loop->closing[i]);
  loop->result[RESULT_CLOSING] = 0;
}

int pen_relay_round(const struct pen_loop *loop, int timeout_ms, int start) {
  int32_t *result = loop->result;
  int table = (int)loop->table;
  int size = (int)loop->size;
  struct epoll_event *events = loop->events;
  int count;
  if (start < 0) {
    if (loop->max <= 0 || size <= 0 || table <= 0) return 0;
    close_put_off(loop);
    /* Room is kept for the reads the loop asked for, which follow the kernel's events. */
    int32_t asked = result[RESULT_READING];
    if (asked < 0 || asked > loop->read_max || asked >= loop->max) asked = 0;
    count = epoll_wait((int)loop->epfd, events, (int)(loop->max - asked), timeout_ms);
    if (count < 0) count = 0;
    for (int32_t j = 0; j < asked; j++) {
      int32_t fd = loop->reading[2 * j];
      if (fd < 0 || fd >= table) continue;
      events[count].events = EPOLLIN;
      events[count].data.u64 = (uint64_t)(uint32_t)fd | ((uint64_t)(uint32_t)loop->reading[2 * j + 1] << 32);
      count++;
    }
    result[RESULT_READING] = 0;
    result[RESULT_EVENTS] = count;
    start = 0;
  } else {
    count = result[RESULT_EVENTS];
    if (count < 0 || count > loop->max) return 0;
  }
  for (int i = start; i < count; i++) {
    uint32_t flags = events[i].events;
    /* Only input up to a FIN (and output with nothing waiting, which needs nothing) is relayed here; errors go to the loop. */
    if (!(flags & EPOLLIN) || (flags & ~(uint32_t)(EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLHUP))) continue;
    uint64_t data = events[i].data.u64;
    uint32_t fd = (uint32_t)data;
    if (fd >= (uint32_t)table || loop->generation[fd] != (uint32_t)(data >> 32)) continue;
    int32_t to_plus_one = loop->peer[fd];
    if (to_plus_one == PEN_LISTENER) {
      accept_clients(loop, (int)fd, &events[i]);
      continue;
    }
    if (to_plus_one <= 0 || to_plus_one > table) continue;
    int to = to_plus_one - 1;
    if (loop->generation[to] != loop->peer_gen[fd]) continue;
    /* What this round leaves of the event once its input is relayed, and whether the peer's FIN came. */
    uint32_t left = flags & EPOLLOUT;
    uint32_t fin = flags & (EPOLLRDHUP | EPOLLHUP);
    int reads = 0;
    for (;;) {
      ssize_t n = recv((int)fd, loop->buffer, (size_t)size, 0);
      if (n <= 0) {
        if (n == 0) {
          events[i].events = left | PEN_RELAY_EOF;
          loop->peer[fd] = 0;
        }
        /* Nothing to read: without a FIN, all is done; with one, the loop reads it as it came. */
        else if (errno == EAGAIN || errno == EWOULDBLOCK) events[i].events = fin ? flags : left;
        /* An error is the socket's and consumed by this recv: the loop reports it. */
        else if (errno != EINTR) {
          events[i].events = EPOLLIN | PEN_RELAY_RECV_FAILED;
          loop->peer[fd] = 0;
        }
        /* EINTR: the event goes to the loop as it came, which reads again. */
        break;
      }
      loop->relayed[fd] += (double)n;
      ssize_t sent = send(to, loop->buffer, (size_t)n, MSG_NOSIGNAL);
      if (sent != n) {
        events[i].events = left | fin;
        result[RESULT_STOP_READ] = (int32_t)n;
        result[RESULT_STOP_SENT] = (int32_t)sent;
        result[RESULT_STOP_ERRNO] = sent < 0 ? errno : 0;
        return i;
      }
      if (n < size) {
        /* The socket is empty: after a FIN, what follows is the EOF. */
        events[i].events = left | (fin ? PEN_RELAY_EOF : 0);
        if (fin) loop->peer[fd] = 0;
        break;
      }
      /* A full buffer: more may wait. After a few, the loop reads the rest (flags left as they came). */
      if (++reads == PEN_RELAY_READS) break;
    }
  }
  return count;
}

/*
 * A non-blocking socket connecting to `address` (from `source`, when given), registered for
 * `events` with its generation: its descriptor, or -errno. The outcome of the connect comes as
 * the socket's first event.
 */
int pen_connect(const struct pen_loop *loop, const struct sockaddr *address, int length, const struct sockaddr *source,
                int source_length, int events) {
  if (length < (int)sizeof(sa_family_t) || length > (int)sizeof(struct sockaddr_storage)) return -EINVAL;
  int fd = socket(address->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  if (fd >= loop->table) {
    close(fd);
    return -EMFILE;
  }
  if ((source && bind(fd, source, (socklen_t)source_length) < 0) ||
      (connect(fd, address, (socklen_t)length) < 0 && errno != EINPROGRESS)) {
    int err = errno;
    close(fd);
    return -err;
  }
  int watched = watch(loop, fd, (uint32_t)events);
  return watched < 0 ? watched : fd;
}
