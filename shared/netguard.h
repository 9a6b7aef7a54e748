/* The SSRF guard of webhook callbacks: which addresses a callback may reach,
 * and the checks on a callback_url that can be made without DNS.  Pure code,
 * no I/O.  The api checks the URL at submit (a literal address must be
 * public); the deliverer checks every address it actually connects to with
 * ht_addr_is_public(), so a name that resolves to a private address (or
 * rebinds to one) gets no request either. */
#ifndef HT_NETGUARD_H
#define HT_NETGUARD_H

#include <stddef.h>
#include <sys/socket.h>

/* 1 when `sa` (AF_INET or AF_INET6) is a public unicast address; 0 when it
 * is in a private, loopback, link-local, CGNAT, multicast, documentation,
 * reserved or IPv4-mapped range, or of another family.  NAT64 addresses
 * (64:ff9b::/96) are judged by the IPv4 address they embed. */
int ht_addr_is_public(const struct sockaddr *sa);

/* Checks a callback_url: absolute http:// or https://, a host, no userinfo
 * (credentials), at most HT_CALLBACK_URL_MAX bytes, and, when the host is a
 * literal address (any form inet_aton() accepts, or [IPv6] with an optional
 * zone id), a public one unless allow_private.  Host names pass: the
 * deliverer checks them after DNS.  Returns 0, or HT_EINVAL with a reason
 * for a person in `why` (which may be NULL). */
int ht_callback_url_check(const char *url, int allow_private, char *why, size_t whylen);

#endif
