/* Listening address parsing and socket setup (see listen.h). */
#include "api/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/error.h"

/* Splits text into host and port; host may come back empty (":8080"). */
static int split(const char *text, char *host, size_t hostlen, const char **port, char *err,
                 size_t errlen)
{
    const char *colon;
    size_t n;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':') {
            snprintf(err, errlen, "listen address '%s': want [v6addr]:port", text);
            return HT_EINVAL;
        }
        n = (size_t)(close - text - 1);
        colon = close + 1;
        text++;
    } else {
        colon = strrchr(text, ':');
        if (!colon) {
            snprintf(err, errlen, "listen address '%s': want host:port, [v6addr]:port or :port",
                     text);
            return HT_EINVAL;
        }
        n = (size_t)(colon - text);
    }
    if (n >= hostlen) {
        snprintf(err, errlen, "listen address: host too long");
        return HT_EINVAL;
    }
    memcpy(host, text, n);
    host[n] = '\0';
    *port = colon + 1;
    return 0;
}

int ht_listen_parse(const char *text, ht_listen_addr_t *out, char *err, size_t errlen)
{
    char host[256];
    const char *port;
    int rc = split(text, host, sizeof(host), &port, err, errlen);
    if (rc < 0)
        return rc;
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 0 || p > 65535) {
        snprintf(err, errlen, "listen address '%s': port must be 0..65535", text);
        return HT_EINVAL;
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host[0] ? host : "0.0.0.0", port, &hints, &res);
    if (gai != 0 || !res) {
        snprintf(err, errlen, "listen address '%s': %s", text, gai_strerror(gai));
        return HT_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    memcpy(&out->sa, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

void ht_listen_format(const ht_listen_addr_t *a, char *buf, size_t buflen)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (a->sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const void *)&a->sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
        snprintf(buf, buflen, "[%s]:%d", host, ntohs(s6->sin6_port));
    } else {
        const struct sockaddr_in *s4 = (const void *)&a->sa;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
        snprintf(buf, buflen, "%s:%d", host, ntohs(s4->sin_port));
    }
}

/* SO_REUSEPORT would also let a second api (same user) share the port and
 * silently split the traffic.  A plain bind first fails if anyone holds the
 * address, so a double start is refused. */
static int probe_free(const ht_listen_addr_t *a)
{
    int on = 1, rc = 0;
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
        bind(fd, (const struct sockaddr *)&a->sa, a->len) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

int ht_listen_port(const ht_listen_addr_t *a)
{
    if (a->sa.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
    return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
}

int ht_listen_is_loopback(const ht_listen_addr_t *a)
{
    if (a->sa.ss_family == AF_INET6) {
        const struct in6_addr *v6 = &((const struct sockaddr_in6 *)&a->sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(v6))
            return 1;
        /* ::ffff:127.x.y.z */
        return IN6_IS_ADDR_V4MAPPED(v6) && v6->s6_addr[12] == 127;
    }
    return (ntohl(((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr) >> 24) == 127;
}

static int open_one(const ht_listen_addr_t *a, int *fd_out)
{
    int on = 1;
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) < 0 ||
        bind(fd, (const struct sockaddr *)&a->sa, a->len) < 0 || listen(fd, SOMAXCONN) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    *fd_out = fd;
    return 0;
}

static void set_port(ht_listen_addr_t *a, int fd)
{
    struct sockaddr_storage got;
    socklen_t len = sizeof(got);
    if (getsockname(fd, (struct sockaddr *)&got, &len) < 0)
        return;
    if (a->sa.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&a->sa)->sin6_port = ((struct sockaddr_in6 *)&got)->sin6_port;
    else
        ((struct sockaddr_in *)&a->sa)->sin_port = ((struct sockaddr_in *)&got)->sin_port;
}

int ht_listen_open(ht_listen_addr_t *a, int *fds, size_t n, char *err, size_t errlen)
{
    int rc = ht_listen_port(a) != 0 ? probe_free(a) : 0;
    size_t opened = 0;
    for (; rc == 0 && opened < n; opened++) {
        if ((rc = open_one(a, &fds[opened])) < 0)
            break; /* fds[opened] was not opened */
        if (opened == 0)
            set_port(a, fds[0]); /* port 0: the others must share the one chosen */
    }
    if (rc < 0) {
        char where[128];
        ht_listen_format(a, where, sizeof(where));
        snprintf(err, errlen, "cannot listen on %s: %s", where, strerror(-rc));
        while (opened > 0)
            close(fds[--opened]);
    }
    return rc;
}
