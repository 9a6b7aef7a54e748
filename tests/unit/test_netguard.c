/* shared/netguard.c: the SSRF guard's address table and callback_url checks. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>

#include "shared/error.h"
#include "shared/job.h"
#include "shared/netguard.h"

static int public_addr(const char *text)
{
    if (strchr(text, ':')) {
        struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
        cr_assert_eq(inet_pton(AF_INET6, text, &in6.sin6_addr), 1, "bad test address %s", text);
        return ht_addr_is_public((struct sockaddr *)&in6);
    }
    struct sockaddr_in in = {.sin_family = AF_INET};
    cr_assert_eq(inet_pton(AF_INET, text, &in.sin_addr), 1, "bad test address %s", text);
    return ht_addr_is_public((struct sockaddr *)&in);
}

Test(netguard, address_table)
{
    static const struct {
        const char *addr;
        int public;
    } cases[] = {
        {"8.8.8.8", 1},
        {"1.1.1.1", 1},
        {"93.184.216.34", 1},
        {"0.0.0.0", 0},
        {"0.1.2.3", 0},
        {"10.0.0.1", 0},
        {"100.64.0.1", 0},
        {"100.127.255.255", 0},
        {"100.128.0.0", 1}, /* just past CGNAT */
        {"127.0.0.1", 0},
        {"127.255.255.254", 0},
        {"169.254.169.254", 0}, /* cloud metadata */
        {"172.15.255.255", 1},
        {"172.16.0.1", 0},
        {"172.31.255.255", 0},
        {"172.32.0.0", 1},
        {"192.0.0.8", 0},
        {"192.0.2.1", 0},
        {"192.88.99.1", 0},
        {"192.168.1.1", 0},
        {"198.18.0.1", 0},
        {"198.19.255.255", 0},
        {"198.20.0.0", 1},
        {"198.51.100.7", 0},
        {"203.0.113.9", 0},
        {"224.0.0.251", 0},
        {"239.255.255.250", 0},
        {"240.0.0.1", 0},
        {"255.255.255.255", 0},
        {"::", 0},
        {"::1", 0},
        {"::ffff:8.8.8.8", 0}, /* IPv4-mapped: refused even when public */
        {"::ffff:127.0.0.1", 0},
        {"::127.0.0.1", 0},
        {"64:ff9b::8.8.8.8", 1}, /* NAT64 of a public address */
        {"64:ff9b::10.0.0.1", 0},
        {"64:ff9b::7f00:1", 0},
        {"100::1", 0},
        {"2001::1", 0},
        {"2001:db8::1", 0},
        {"2002:7f00:1::1", 0},
        {"fc00::1", 0},
        {"fd12:3456::1", 0},
        {"fe80::1", 0},
        {"ff02::1", 0},
        {"4000::1", 0}, /* outside 2000::/3 */
        {"2606:4700:4700::1111", 1},
        {"2a00:1450:4001:82b::200e", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_expect_eq(public_addr(cases[i].addr), cases[i].public, "%s: expected %s", cases[i].addr,
                     cases[i].public ? "public" : "refused");
}

Test(netguard, other_families_are_refused)
{
    struct sockaddr sa = {.sa_family = AF_UNIX};
    cr_expect_eq(ht_addr_is_public(&sa), 0);
    cr_expect_eq(ht_addr_is_public(NULL), 0);
}

Test(netguard, url_table)
{
    /* ok: 0 passes; 1 refused only as a private literal (passes with
     * allow_private); 2 refused either way (form). */
    static const struct {
        const char *url;
        int verdict;
    } cases[] = {
        {"https://example.com/hook", 0},
        {"http://example.com", 0},
        {"HTTPS://Example.COM:8443/a?b=c#d", 0},
        {"http://localhost:8080/", 0}, /* a name: checked after DNS */
        {"https://8.8.8.8/hook", 0},
        {"https://[2606:4700:4700::1111]:443/x", 0},
        {"http://example.com:/x", 0},
        {"http://127.0.0.1:9000/hook", 1},
        {"http://127.1/", 1},
        {"http://0x7f.1/", 1},
        {"http://0177.0.0.1/", 1},
        {"http://2130706433/", 1},
        {"http://0x7f000001/", 1},
        {"http://127.0.0.1./", 1},
        {"http://0/", 1},
        {"http://10.1.2.3/", 1},
        {"http://169.254.169.254/latest/meta-data", 1},
        {"http://100.64.1.1/", 1},
        {"http://224.0.0.1/", 1},
        {"http://[::1]/", 1},
        {"http://[::]:80/", 1},
        {"http://[::ffff:127.0.0.1]/", 1},
        {"http://[::ffff:7f00:1]/", 1},
        {"http://[::ffff:8.8.8.8]/", 1},
        {"http://[fe80::1%25eth0]/", 1},
        {"http://[fc00::1]/", 1},
        {"http://[64:ff9b::a00:1]/", 1},
        {"ftp://example.com/", 2},
        {"file:///etc/passwd", 2},
        {"gopher://example.com/", 2},
        {"//example.com/hook", 2},
        {"/relative/path", 2},
        {"example.com/hook", 2},
        {"", 2},
        {"https://user:secret@example.com/", 2},
        {"https://user@example.com/", 2},
        {"http://example.com@127.0.0.1/", 2},
        {"https:///path", 2},
        {"https://:443/", 2},
        {"http://[::1/", 2},
        {"http://[not-an-address]/", 2},
        {"http://[127.0.0.1]/", 2},
        {"http://example.com:99999/", 2},
        {"http://example.com:0/", 2},
        {"http://example.com:80x/", 2},
        {"http://127.0.0.%31/", 2},
        {"http://exa mple.com/", 2},
        {"http://example.com/\n", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char why[200] = "untouched";
        int strict = ht_callback_url_check(cases[i].url, 0, why, sizeof why);
        int relaxed = ht_callback_url_check(cases[i].url, 1, NULL, 0);
        cr_expect_eq(strict, cases[i].verdict == 0 ? 0 : HT_EINVAL, "%s (strict): %s", cases[i].url,
                     why);
        cr_expect_eq(relaxed, cases[i].verdict == 2 ? HT_EINVAL : 0, "%s (allow_private)",
                     cases[i].url);
        if (strict < 0)
            cr_expect(why[0] != '\0' && strcmp(why, "untouched") != 0, "%s: no reason",
                      cases[i].url);
        else
            cr_expect_str_empty(why, "%s: a reason on success", cases[i].url);
    }
}

Test(netguard, reasons_name_the_problem)
{
    char why[200];
    cr_assert_eq(ht_callback_url_check("http://127.1/", 0, why, sizeof why), HT_EINVAL);
    cr_expect(strstr(why, "127.0.0.1") && strstr(why, "loopback"), "%s", why);
    cr_assert_eq(ht_callback_url_check("https://a:b@example.com/", 0, why, sizeof why), HT_EINVAL);
    cr_expect(strstr(why, "credentials"), "%s", why);
    cr_assert_eq(ht_callback_url_check("ftp://example.com/", 0, why, sizeof why), HT_EINVAL);
    cr_expect(strstr(why, "http"), "%s", why);
}

Test(netguard, length_limit)
{
    static char url[HT_CALLBACK_URL_MAX + 2];
    const char *head = "https://example.com/";
    size_t hl = strlen(head);
    memcpy(url, head, hl);
    memset(url + hl, 'a', HT_CALLBACK_URL_MAX - hl);
    url[HT_CALLBACK_URL_MAX] = '\0';
    cr_expect_eq(ht_callback_url_check(url, 0, NULL, 0), 0, "exactly the maximum");
    url[HT_CALLBACK_URL_MAX] = 'a';
    url[HT_CALLBACK_URL_MAX + 1] = '\0';
    cr_expect_eq(ht_callback_url_check(url, 0, NULL, 0), HT_EINVAL, "one byte over");
}
