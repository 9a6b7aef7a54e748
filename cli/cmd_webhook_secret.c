/* `hangtight webhook-secret create|list|revoke`: the caller's tenant's own
 * webhook signing secrets, a thin client of POST and GET
 * /v1/webhook-secrets and DELETE /v1/webhook-secrets/{id}.
 *
 *   create       prints the new secret alone on stdout (for a script to
 *                keep), its id and what happens to the previous ones on
 *                stderr; the server shows the secret this once
 *   list         the live secrets (id, created, expires, current), never a key
 *   revoke ID    the secret stops signing (the current one cannot be
 *                revoked: create a new one first)
 *
 * --json prints the server's document instead.  Exit 0 done, 1 refused by
 * the server (the problem on stderr), 2 usage or network trouble. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define SYNOPSIS "create|list|revoke ID [--json]"
#define ROW      "%-27s  %-24s  %-24s  %s\n"

static const char *base_url;
static int as_json;

static const ht_option_t options[] = {
    HT_CLI_URL_OPTION(&base_url),
    {"json", NULL, HT_OPT_FLAG, NULL, "print the server's JSON document instead", 0, 0, &as_json},
};

/* Sends METHOD to /v1/webhook-secrets[/<id>].  Returns 0 with `resp`
 * filled when `want` came back (its JSON in *doc when doc is not NULL),
 * else the exit status after saying why on stderr. */
static int call(const char *what, const char *method, const char *id, long want,
                ht_cli_response_t *resp, json_t **doc)
{
    char *escaped = id ? curl_easy_escape(NULL, id, 0) : NULL;
    char *path = NULL, *url = NULL;
    int status = HT_CLI_USAGE;
    if (asprintf(&path, "/v1/webhook-secrets%s%s", id ? "/" : "", escaped ? escaped : "") < 0)
        path = NULL;
    curl_free(escaped);
    if (!path || !(url = ht_cli_join_url(base_url, path)))
        goto out;
    if (ht_cli_http(method, url, NULL, NULL, resp) != 0) {
        fprintf(stderr, "%s: %s\n", what, resp->error);
        goto out;
    }
    status = HT_CLI_FAILED;
    if (resp->status != want) {
        ht_cli_print_problem(what, resp);
        goto out;
    }
    if (doc && !(*doc = json_loadb(resp->body, resp->body_len, 0, NULL))) {
        fprintf(stderr, "%s: the server's answer is not JSON\n", what);
        goto out;
    }
    status = HT_CLI_OK;
out:
    free(path);
    free(url);
    return status;
}

static const char *str_of(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "-";
}

static int create(void)
{
    ht_cli_response_t resp = {0};
    json_t *doc = NULL;
    int status = call("hangtight webhook-secret create", "POST", NULL, 201, &resp, &doc);
    if (status == HT_CLI_OK && as_json) {
        ht_cli_print_json(doc);
    } else if (status == HT_CLI_OK) {
        const char *secret = json_string_value(json_object_get(doc, "secret"));
        if (!secret) {
            fprintf(stderr, "hangtight webhook-secret create: the answer has no secret\n");
            status = HT_CLI_FAILED;
        } else {
            printf("%s\n", secret);
            fprintf(stderr,
                    "webhook secret %s created at %s: it is shown only now. Deliveries are "
                    "signed with it from now on (within the workers' cache time), and with the "
                    "previous secrets until their expires_at (hangtight webhook-secret list).\n",
                    str_of(doc, "id"), str_of(doc, "created_at"));
        }
    }
    fflush(stdout);
    json_decref(doc);
    ht_cli_response_clear(&resp);
    return status;
}

static int list(void)
{
    ht_cli_response_t resp = {0};
    json_t *doc = NULL;
    int status = call("hangtight webhook-secret list", "GET", NULL, 200, &resp, &doc);
    json_t *secrets = json_object_get(doc, "secrets");
    if (status == HT_CLI_OK && !json_is_array(secrets)) {
        fprintf(stderr, "hangtight webhook-secret list: the answer has no \"secrets\" list\n");
        status = HT_CLI_FAILED;
    } else if (status == HT_CLI_OK && as_json) {
        ht_cli_print_json(doc);
    } else if (status == HT_CLI_OK) {
        printf(ROW, "ID", "CREATED", "EXPIRES", "CURRENT");
        size_t i;
        json_t *s;
        json_array_foreach(secrets, i, s) {
            printf(ROW, str_of(s, "id"), str_of(s, "created_at"), str_of(s, "expires_at"),
                   json_is_true(json_object_get(s, "current")) ? "yes" : "no");
        }
    }
    fflush(stdout);
    json_decref(doc);
    ht_cli_response_clear(&resp);
    return status;
}

static int revoke(const char *id)
{
    ht_cli_response_t resp = {0};
    int status = call("hangtight webhook-secret revoke", "DELETE", id, 204, &resp, NULL);
    if (status == HT_CLI_OK)
        printf("revoked %s\n", id);
    fflush(stdout);
    ht_cli_response_clear(&resp);
    return status;
}

int ht_cli_webhook_secret(int argc, char **argv)
{
    ht_cli_args_t args;
    int rc = ht_cli_parse(options, sizeof options / sizeof options[0], argc, argv, SYNOPSIS, &args);
    if (rc != 0)
        return rc == 1 ? HT_CLI_OK : rc;
    const char *sub = args.npos > 0 ? args.pos[0] : "";
    if (strcmp(sub, "create") == 0 && args.npos == 1)
        return create();
    if (strcmp(sub, "list") == 0 && args.npos == 1)
        return list();
    if (strcmp(sub, "revoke") == 0 && args.npos == 2)
        return revoke(args.pos[1]);
    fprintf(stderr, "usage: hangtight webhook-secret " SYNOPSIS " (see --help)\n");
    return HT_CLI_USAGE;
}
