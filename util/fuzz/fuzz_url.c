
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * libFuzzer target: an arbitrary URL through ngx_twilio_url_toggle_port
 * and ngx_twilio_url_body_hash.  Properties:
 *
 *   - the output fits in len + NGX_TWILIO_URL_TOGGLE_EXTRA bytes (the
 *     buffer is exactly that big, AddressSanitizer watches the rest);
 *   - everything outside the authority (scheme, "://", path, query,
 *     fragment) is byte-identical; inside it only a ":port" suffix is
 *     removed, or ":443" (https) / ":80" (http) appended after the host;
 *     the URL is checked against an independent reading of
 *     docs/signature.md;
 *   - toggling twice gives the original back when it had no port, or
 *     exactly the default one (":443" for https, ":80" for http);
 *   - an empty host ("http://:80/x", "https://u@:1/") has no port
 *     variant, as "https:///x" has none (fuzzing found the core turning
 *     "http://:80" into "http://"; regression input in
 *     util/fuzz/regressions/url/, fixed in the core since);
 *   - bodySHA256: FOUND implies 64 hex digits inside the query (after the
 *     first "?", before any "#"), right after "=", ending the parameter;
 *     the result agrees with a reference count of bodySHA256 parameters
 *     (none: NONE, one with 64 hex digits: FOUND, otherwise MALFORMED);
 *   - toggling the port does not change what body_hash finds.
 */


#include <strings.h>

#include "fuzz_common.h"


/* an independent reading of where the authority is and what to do */

typedef struct {
    int      rc;              /* what toggle_port must return */
    size_t   host;            /* start of the authority */
    size_t   end;             /* end of the authority */
    size_t   colon;           /* start of ":port", or end */
    int      has_port;
    int      default_port;    /* the port is exactly the scheme's default */
    const char  *add;         /* what gets appended when there is no port */
} authority_t;


static void
authority(const uint8_t *u, size_t len, authority_t *a)
{
    size_t          i, at, hp, slen;
    const uint8_t  *rb;

    memset(a, 0, sizeof(authority_t));
    a->rc = -1;

    for (i = 0; i + 2 < len; i++) {
        if (u[i] == ':' && u[i + 1] == '/' && u[i + 2] == '/') {
            break;
        }

        if (u[i] == '/' || u[i] == '?' || u[i] == '#') {
            return;
        }
    }

    if (i + 2 >= len || i == 0) {
        return;
    }

    slen = i;
    a->host = i + 3;

    for (a->end = a->host; a->end < len; a->end++) {
        if (u[a->end] == '/' || u[a->end] == '?' || u[a->end] == '#') {
            break;
        }
    }

    hp = a->host;

    for (at = a->host; at < a->end; at++) {
        if (u[at] == '@') {
            hp = at + 1;
        }
    }

    if (hp == a->end) {
        return;
    }

    if (u[hp] == '[') {
        rb = memchr(u + hp, ']', a->end - hp);
        if (rb == NULL) {
            return;
        }

        a->colon = rb + 1 - u;

        if (a->colon < a->end && u[a->colon] != ':') {
            return;
        }

    } else {
        for (a->colon = hp; a->colon < a->end; a->colon++) {
            if (u[a->colon] == ':') {
                break;
            }
        }
    }

    if (slen == 5 && strncasecmp((const char *) u, "https", 5) == 0) {
        a->add = ":443";

    } else if (slen == 4 && strncasecmp((const char *) u, "http", 4) == 0) {
        a->add = ":80";
    }

    if (a->colon == hp) {
        /* no host, only ":port": nothing to toggle, as with no host at all */
        return;
    }

    if (a->colon < a->end) {
        a->has_port = 1;
        a->rc = 0;
        a->default_port = a->add != NULL
                          && a->end - a->colon == strlen(a->add)
                          && memcmp(u + a->colon, a->add, strlen(a->add)) == 0;
        return;
    }

    if (a->add != NULL) {
        a->rc = 0;
    }
}


/* the reference bodySHA256 lookup */

static int
body_hash_ref(const uint8_t *u, size_t len, size_t *off)
{
    size_t          n, q, last, p, amp, eq, klen;
    uint8_t         key[64 * 3];
    const uint8_t  *hash, *qm;

    hash = memchr(u, '#', len);
    last = hash ? (size_t) (hash - u) : len;

    qm = memchr(u, '?', last);
    if (qm == NULL) {
        return NGX_TWILIO_HASH_NONE;
    }

    q = qm - u + 1;
    n = 0;

    for (p = q; p <= last; p = amp + 1) {
        for (amp = p; amp < last && u[amp] != '&'; amp++) { /* void */ }
        for (eq = p; eq < amp && u[eq] != '='; eq++) { /* void */ }

        if (eq - p > sizeof(key)) {
            continue;       /* cannot decode to a 10-byte name */
        }

        klen = fuzz_unescape(key, u + p, eq - p);

        if (klen == 10 && memcmp(key, "bodySHA256", 10) == 0) {
            n++;
            *off = eq < amp ? eq + 1 : amp;

            if (n == 1 && amp - *off == NGX_TWILIO_SHA256_HEX_LEN) {
                size_t  i;

                for (i = *off; i < amp && fuzz_hexval(u[i]) >= 0; i++) {
                    /* void */
                }

                if (i < amp) {
                    n = 100;        /* not hex */
                }

            } else if (n == 1) {
                n = 100;            /* wrong length */
            }
        }

        if (amp == last) {
            break;
        }
    }

    if (n == 0) {
        return NGX_TWILIO_HASH_NONE;
    }

    return n == 1 ? NGX_TWILIO_HASH_FOUND : NGX_TWILIO_HASH_MALFORMED;
}


static int
toggle(const uint8_t *url, size_t len, uint8_t **out, size_t *out_len)
{
    int  rc;

    *out = malloc(len + NGX_TWILIO_URL_TOGGLE_EXTRA);
    if (*out == NULL) {
        abort();
    }

    *out_len = (size_t) -1;

    rc = ngx_twilio_url_toggle_port(url, len, *out, out_len);

    CHECK(rc == 0 || rc == -1);

    if (rc == 0) {
        CHECK(*out_len <= len + NGX_TWILIO_URL_TOGGLE_EXTRA);
        CHECK(*out_len != len);
    }

    return rc;
}


int
LLVMFuzzerTestOneInput(const uint8_t *url, size_t len)
{
    int               rc, rc2, h, h2, href;
    size_t            out_len, back_len, alen, off;
    uint8_t          *out, *back;
    authority_t       a;
    ngx_twilio_str_t  hex, hex2;

    if (len == 0) {
        return 0;
    }

    /* port toggling */

    authority(url, len, &a);

    rc = toggle(url, len, &out, &out_len);
    CHECK(rc == a.rc);

    if (rc == 0) {

        /* scheme and "://" unchanged, path/query/fragment unchanged */
        CHECK(memcmp(out, url, a.host) == 0);
        CHECK(out_len >= len - a.end);
        CHECK(memcmp(out + out_len - (len - a.end), url + a.end,
                     len - a.end) == 0);

        if (a.has_port) {
            /* the ":port" suffix of the authority is gone, nothing else */
            CHECK(out_len == len - (a.end - a.colon));
            CHECK(url[a.colon] == ':');
            CHECK(memcmp(out, url, a.colon) == 0);

        } else {
            alen = strlen(a.add);
            CHECK(out_len == len + alen);
            CHECK(memcmp(out, url, a.end) == 0);
            CHECK(memcmp(out + a.end, a.add, alen) == 0);
        }

        /* an involution where nothing is lost */

        if (!a.has_port || a.default_port) {
            rc2 = toggle(out, out_len, &back, &back_len);
            CHECK(rc2 == 0);
            CHECK(back_len == len);
            CHECK(memcmp(back, url, len) == 0);
            free(back);
        }
    }

    /* bodySHA256 */

    h = ngx_twilio_url_body_hash(url, len, &hex);
    href = body_hash_ref(url, len, &off);
    CHECK(h == href);

    if (h == NGX_TWILIO_HASH_FOUND) {
        const uint8_t  *q, *f;
        size_t          i;

        q = memchr(url, '?', len);
        f = memchr(url, '#', len);

        CHECK(hex.len == NGX_TWILIO_SHA256_HEX_LEN);
        CHECK(hex.data == url + off);
        CHECK(q != NULL && hex.data > q + 1 && hex.data[-1] == '=');
        CHECK(hex.data + hex.len <= (f ? f : url + len));
        CHECK(f == NULL || q < f);
        CHECK(hex.data + hex.len == (f ? f : url + len)
              || hex.data[hex.len] == '&');

        for (i = 0; i < hex.len; i++) {
            CHECK(fuzz_hexval(hex.data[i]) >= 0);
        }
    }

    if (rc == 0) {
        h2 = ngx_twilio_url_body_hash(out, out_len, &hex2);
        CHECK(h2 == h);

        if (h == NGX_TWILIO_HASH_FOUND) {
            CHECK(hex2.len == hex.len);
            CHECK(memcmp(hex2.data, hex.data, hex.len) == 0);
        }
    }

    free(out);

    return 0;
}
