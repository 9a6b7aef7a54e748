/* The listening address (--listen / HANGTIGHT_LISTEN) and the listening
 * sockets, one per api thread, all bound to that address with SO_REUSEPORT
 * so the kernel spreads connections over the threads.  No HTTP here. */
#ifndef HT_API_LISTEN_H
#define HT_API_LISTEN_H

#include <stddef.h>
#include <sys/socket.h>

typedef struct {
    struct sockaddr_storage sa;
    socklen_t len;
} ht_listen_addr_t;

/* Parses "host:port", "[v6addr]:port" or ":port" (all IPv4 interfaces).
 * The host may be a name (resolved now; the first address wins).  Port 0
 * asks the kernel for a free port (see ht_listen_open).  Returns 0 or
 * HT_EINVAL with a message in err. */
int ht_listen_parse(const char *text, ht_listen_addr_t *out, char *err, size_t errlen);

/* The port of `a` (host byte order). */
int ht_listen_port(const ht_listen_addr_t *a);

/* 1 when `a` is a loopback address (127.0.0.0/8, ::1, ::ffff:127.x.y.z):
 * reachable only from this machine. */
int ht_listen_is_loopback(const ht_listen_addr_t *a);

/* Writes "127.0.0.1:8080" or "[::1]:8080" into buf. */
void ht_listen_format(const ht_listen_addr_t *a, char *buf, size_t buflen);

/* Opens `n` listening sockets on `a` with SO_REUSEPORT.  With port 0 the
 * first socket's port is reused for the others and written back into `a`.
 * Returns 0 with fds[0..n) open, or a negative errno (nothing left open)
 * with a message in err. */
int ht_listen_open(ht_listen_addr_t *a, int *fds, size_t n, char *err, size_t errlen);

#endif
