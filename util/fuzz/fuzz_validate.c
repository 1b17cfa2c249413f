
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * libFuzzer target: the whole check, ngx_twilio_validate, with an arena
 * allocator.  The input is
 *
 *     FLAGS TOKEN \0 URL \0 SIGNATURE \0 BODY
 *
 * (missing pieces are empty; BODY is the rest and may hold NULs).  FLAGS:
 *
 *     0x01  the body is a urlencoded form
 *     0x02  add bodySHA256=<hex SHA-256 of BODY> to the URL (JSON webhook)
 *     0x04  sign the port-toggled URL instead of the URL as given
 *     0x08  sign the UTF-16 (Node) order where it differs
 *     0x10  put a decoy key (another token) before the real one
 *     0x20  bind the real key to an account SID that the request carries
 *     0x40  also make each allocation fail in turn
 *     0x80  use SIGNATURE from the input instead of a correct one
 *
 * Properties:
 *
 *   - nothing crashes or leaks, whatever the input; the reason is in
 *     range; an empty signature is no_signature, a malformed one
 *     signature_malformed;
 *   - with the input's SIGNATURE (0x80), ok only if the signature is one
 *     this target computes itself for one of the URL's port variants and
 *     one of the sort orders (no false accept), and for a bodySHA256 URL
 *     only if the body's hash matches;
 *   - with a signature computed here with ngx_twilio_mac_sign() over URL +
 *     canonical string: ok, unless the URL's bodySHA256 is malformed
 *     (body_hash_malformed), a non-form body has no bodySHA256
 *     (body_unsigned) or the hash differs (body_hash_mismatch); res.key is
 *     the real key's index;
 *   - then it still validates after shuffling the body's &-segments;
 *   - changing one byte of the signature makes it fail: bad_signature if
 *     the result is still canonical base64 (the last character's unused
 *     bits zero), signature_malformed otherwise;
 *   - with bodySHA256 the body check is mandatory: flipping (or adding) one
 *     body byte gives body_hash_mismatch (with a bound key, the changed
 *     body may be rejected first for what it claims: json_malformed,
 *     account_ambiguous, unknown_account or bad_signature; never ok);
 *   - a key bound to another account is not used: unknown_account, or
 *     bad_signature when an unbound decoy key is eligible (the account is
 *     added only where it is the request's one claim: no other key the
 *     core reads as AccountSid in the query or a form body, and a JSON
 *     body the core reads is well-formed and names none);
 *   - an allocation failure gives internal_error (never ok, never a
 *     crash), and the core never allocates more than a bound linear in
 *     the input.
 */


#include <openssl/evp.h>

#include "fuzz_common.h"


#define F_FORM      0x01
#define F_JSON      0x02
#define F_TOGGLE    0x04
#define F_UTF16     0x08
#define F_DECOY     0x10
#define F_BIND      0x20
#define F_ALLOC     0x40
#define F_RAWSIG    0x80


static const char  sid_good[] = "AC0123456789abcdef0123456789abcdef";
static const char  sid_other[] = "ACfedcba9876543210fedcba9876543210";


typedef struct {
    ngx_twilio_key_t   keys[2];
    size_t             nkeys;
    size_t             real;          /* index of the real key */
    ngx_twilio_mac_t  *mac;           /* the real token's */
    ngx_twilio_mac_t  *decoy;
} keys_t;


typedef struct {
    uint8_t  *data;
    size_t    len;
} buf_t;


static void
buf_insert(buf_t *b, size_t at, const void *s, size_t len)
{
    uint8_t  *n;

    n = malloc(b->len + len + 1);
    if (n == NULL) {
        abort();
    }

    if (at) {
        memcpy(n, b->data, at);
    }

    memcpy(n + at, s, len);

    if (b->len - at) {
        memcpy(n + at + len, b->data + at, b->len - at);
    }

    free(b->data);
    b->data = n;
    b->len += len;
}


static void
buf_set(buf_t *b, const uint8_t *p, size_t len)
{
    b->data = malloc(len + 1);
    if (b->data == NULL) {
        abort();
    }

    if (len) {
        memcpy(b->data, p, len);
    }

    b->len = len;
}


/* whether an &- or ;-list has a key that the core reads as a claim */

static int
has_account(const uint8_t *p, size_t len)
{
    size_t          klen;
    uint8_t        *key;
    const uint8_t  *last, *amp, *eq;
    int             found;

    last = p + len;
    found = 0;

    key = malloc(len + 1);
    if (key == NULL) {
        abort();
    }

    while (p < last && !found) {
        for (amp = p; amp < last && *amp != '&' && *amp != ';'; amp++) {
            /* void */
        }

        eq = memchr(p, '=', amp - p);
        if (eq == NULL) {
            eq = amp;
        }

        klen = fuzz_unescape(key, p, eq - p);
        found = fuzz_names_account(key, klen);

        p = amp + 1;
    }

    free(key);

    return found;
}


/* a JSON body the core will read: well-formed and naming no account */

static void
json_count(void *data, const ngx_twilio_str_t *value)
{
    (void) value;
    (*(size_t *) data)++;
}


static int
json_claims_none(const uint8_t *body, size_t len)
{
    int      rc;
    size_t   n;
    u_char  *buf;

    buf = malloc(len ? len : 1);
    if (buf == NULL) {
        abort();
    }

    n = 0;
    rc = ngx_twilio_json_accounts(body, len, buf, json_count, &n);
    free(buf);

    return rc == 0 && n == 0;
}


/* inserts "name=value" into the URL's query (the URL has no "#") */

static void
url_add_param(buf_t *url, const char *param)
{
    if (memchr(url->data, '?', url->len)) {
        buf_insert(url, url->len, "&", 1);

    } else {
        buf_insert(url, url->len, "?", 1);
    }

    buf_insert(url, url->len, param, strlen(param));
}


static void
sha256_hex(const uint8_t *p, size_t len, char *hex)
{
    size_t         i;
    unsigned int   mdlen;
    unsigned char  md[EVP_MAX_MD_SIZE];

    if (EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL) != 1) {
        abort();
    }

    for (i = 0; i < mdlen; i++) {
        sprintf(hex + 2 * i, "%02x", md[i]);
    }
}


static void
sign(ngx_twilio_mac_t *mac, const uint8_t *url, size_t url_len,
    const uint8_t *canon, size_t canon_len, u_char *b64)
{
    size_t            len;
    ngx_twilio_str_t  parts[2];

    parts[0].data = (u_char *) url;
    parts[0].len = url_len;
    parts[1].data = (u_char *) canon;
    parts[1].len = canon_len;

    CHECK(ngx_twilio_mac_sign(mac, parts, 2, b64, &len) == 0);
    CHECK(len == NGX_TWILIO_SHA1_B64_LEN);
    b64[len] = '\0';
}


/* canonical string in an order; returns malloc()ed bytes, or NULL */

static u_char *
canonical(const uint8_t *body, size_t len, int order, size_t *out_len,
    int *trap)
{
    size_t               n;
    u_char              *dec, *out;
    fuzz_arena_t         arena;
    ngx_twilio_param_t  *params;

    n = ngx_twilio_form_count(body, len);
    params = malloc((n ? n : 1) * sizeof(ngx_twilio_param_t));
    dec = malloc(len ? len : 1);
    out = malloc(len ? len : 1);
    if (params == NULL || dec == NULL || out == NULL) {
        abort();
    }

    n = ngx_twilio_form_parse(body, len, params, dec);
    fuzz_arena_init(&arena, 0);
    CHECK(ngx_twilio_form_sort(params, n, order, fuzz_alloc, &arena) == 0);
    *out_len = ngx_twilio_form_canonical(params, n, out);
    *trap = ngx_twilio_form_has_order_trap(params, n);

    fuzz_arena_free(&arena);
    free(params);
    free(dec);

    return out;
}


static int
run(const buf_t *url, const uint8_t *body, size_t body_len, const u_char *sig,
    size_t sig_len, int form, ngx_twilio_key_t *keys, size_t nkeys,
    size_t fail_at, ngx_twilio_result_t *res, size_t *allocs)
{
    fuzz_arena_t          arena;
    ngx_twilio_request_t  req;

    memset(&req, 0, sizeof(ngx_twilio_request_t));

    req.url.data = url->data;
    req.url.len = url->len;
    req.body.data = (u_char *) body;
    req.body.len = body_len;
    req.signature.data = (u_char *) sig;
    req.signature.len = sig_len;
    req.form = form ? 1 : 0;
    req.body_later = 0;

    fuzz_arena_init(&arena, fail_at);

    ngx_twilio_validate(&req, keys, nkeys, fuzz_alloc, &arena, res);

    CHECK(res->reason >= 0 && res->reason < NGX_TWILIO_NREASONS);

#ifdef FUZZ_TRACE
    fprintf(stderr, "validate: %s key %zu tried %zu (fail_at %zu)\n",
            ngx_twilio_reason_names[res->reason], res->key, res->tried,
            fail_at);
#endif

    /*
     * params, decoded, cand[1], the claimed SID, the toggled URL; the
     * sorts' scratch: as many params again for the byte order, twice as
     * many and three bytes per decoded byte for the UTF-16 order
     */
    CHECK(arena.total <= (4 * sizeof(ngx_twilio_param_t) + 5) * body_len
                         + 2 * url->len + NGX_TWILIO_URL_TOGGLE_EXTRA + 2);

    if (res->reason == NGX_TWILIO_OK) {
        CHECK(res->key < nkeys);
        CHECK(res->tried >= 1 && res->tried <= nkeys * 4);
    }

    if (allocs) {
        *allocs = arena.count;
    }

    fuzz_arena_free(&arena);

    return res->reason;
}


static const char  b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";


/* 27 base64 characters, the last with its 2 unused bits zero, and "=" */

static int
b64_canonical(const u_char *sig)
{
    size_t       i;
    const char  *c;

    for (i = 0; i < NGX_TWILIO_SHA1_B64_LEN - 1; i++) {
        c = memchr(b64_alphabet, sig[i], sizeof(b64_alphabet) - 1);

        if (c == NULL) {
            return 0;
        }
    }

    return ((c - b64_alphabet) & 3) == 0
           && sig[NGX_TWILIO_SHA1_B64_LEN - 1] == '=';
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                   flags, h, expect, trap, trap16, sid_in_body, bind;
    char                  hex[2 * EVP_MAX_MD_SIZE + 1];
    char                  param[128];
    size_t                i, tok_len, sig_len, c8_len, c16_len, tlen, allocs;
    size_t                body_len, k;
    u_char                b64[NGX_TWILIO_SIG_MAX], bad[NGX_TWILIO_SIG_MAX];
    u_char               *c8, *c16, *canon, *toggled;
    uint8_t              *shuffled, *flipped;
    uint64_t              seed;
    buf_t                 url, body;
    keys_t                ks;
    const uint8_t        *tok, *sig, *p, *last, *z;
    ngx_twilio_str_t      hexs;
    ngx_twilio_result_t   res;
    size_t                canon_len;

    if (size < 1) {
        return 0;
    }

    flags = data[0];
    seed = fuzz_hash(data, size);

    /* split the pieces */

    p = data + 1;
    last = data + size;

    z = memchr(p, '\0', last - p);
    tok = p;
    tok_len = (z ? z : last) - p;
    p = z ? z + 1 : last;

    z = memchr(p, '\0', last - p);
    buf_set(&url, p, (z ? z : last) - p);
    p = z ? z + 1 : last;

    z = memchr(p, '\0', last - p);
    sig = p;
    sig_len = (z ? z : last) - p;
    p = z ? z + 1 : last;

    buf_set(&body, p, last - p);

    if (tok_len == 0) {
        tok = (const uint8_t *) "12345";
        tok_len = 5;
    }

    /* keys */

    memset(&ks, 0, sizeof(keys_t));

    ks.mac = ngx_twilio_mac_create(NGX_TWILIO_HMAC_SHA1, tok, tok_len);
    CHECK(ks.mac != NULL);

    if (flags & F_DECOY) {
        /* the token with its first byte changed: never the same key */
        uint8_t  *d = malloc(tok_len);

        if (d == NULL) {
            abort();
        }

        memcpy(d, tok, tok_len);
        d[0] ^= 0x01;
        ks.decoy = ngx_twilio_mac_create(NGX_TWILIO_HMAC_SHA1, d, tok_len);
        CHECK(ks.decoy != NULL);
        free(d);

        ks.keys[0].mac = ks.decoy;
        ks.keys[1].mac = ks.mac;
        ks.real = 1;
        ks.nkeys = 2;

    } else {
        ks.keys[0].mac = ks.mac;
        ks.real = 0;
        ks.nkeys = 1;
    }

    /* the account SID, in the body or in the URL's query */

    h = ngx_twilio_url_body_hash(url.data, url.len, &hexs);
    sid_in_body = (flags & F_FORM) && !(flags & F_JSON)
                  && h == NGX_TWILIO_HASH_NONE;

    bind = 0;

    if ((flags & F_BIND) && !(flags & F_RAWSIG)
        && memchr(url.data, '#', url.len) == NULL)
    {
        const uint8_t  *q = memchr(url.data, '?', url.len);
        int             taken;

        /* the core counts the query's and a form body's AccountSid keys */

        taken = q && has_account(q + 1, url.data + url.len - q - 1);

        if (flags & F_FORM) {
            taken = taken || has_account(body.data, body.len)
                    || fuzz_json_like(body.data, body.len);
        }

        /* and, with bound keys, reads a bodySHA256 body that is no form */

        if (!(flags & F_FORM) && body.len
            && ((flags & F_JSON) || h == NGX_TWILIO_HASH_FOUND))
        {
            taken = taken || !json_claims_none(body.data, body.len);
        }

        if (!taken) {
            bind = 1;
            snprintf(param, sizeof(param), "AccountSid=%s", sid_good);

            if (sid_in_body) {
                buf_insert(&body, body.len, "&", 1);
                buf_insert(&body, body.len, param, strlen(param));

            } else {
                url_add_param(&url, param);
            }

            ks.keys[ks.real].account_sid.data = (u_char *) sid_good;
            ks.keys[ks.real].account_sid.len = sizeof(sid_good) - 1;
        }
    }

    /* a JSON webhook: bodySHA256 in the query, before any fragment */

    if (flags & F_JSON) {
        size_t          at;
        const uint8_t  *f, *q;

        sha256_hex(body.data, body.len, hex);

        f = memchr(url.data, '#', url.len);
        at = f ? (size_t) (f - url.data) : url.len;
        q = memchr(url.data, '?', at);

        snprintf(param, sizeof(param), "%cbodySHA256=%s", q ? '&' : '?', hex);
        buf_insert(&url, at, param, strlen(param));
    }

    h = ngx_twilio_url_body_hash(url.data, url.len, &hexs);

    /* the canonical strings */

    c8_len = c16_len = 0;
    c8 = c16 = NULL;
    trap = 0;

    if ((flags & F_FORM) && h == NGX_TWILIO_HASH_NONE) {
        c8 = canonical(body.data, body.len, NGX_TWILIO_ORDER_BYTES, &c8_len,
                       &trap);
        c16 = canonical(body.data, body.len, NGX_TWILIO_ORDER_UTF16,
                        &c16_len, &trap16);
        CHECK(trap == trap16);
    }

    /* the port variant */

    toggled = malloc(url.len + NGX_TWILIO_URL_TOGGLE_EXTRA);
    if (toggled == NULL) {
        abort();
    }

    if (ngx_twilio_url_toggle_port(url.data, url.len, toggled, &tlen) != 0) {
        tlen = (size_t) -1;
    }

    if (flags & F_RAWSIG) {

        /* no false accept: ok only for a signature computed here */

        run(&url, body.data, body.len, sig, sig_len, flags & F_FORM, ks.keys,
            ks.nkeys, 0, &res, NULL);

        if (sig_len == 0) {
            CHECK(res.reason == NGX_TWILIO_NO_SIGNATURE);

        } else if (!ngx_twilio_signature_wellformed(sig, sig_len,
                                                    NGX_TWILIO_SHA1_B64_LEN))
        {
            CHECK(res.reason == NGX_TWILIO_SIGNATURE_MALFORMED);
        }

        if (res.reason == NGX_TWILIO_OK) {
            int  match = 0;

            for (i = 0; i < 4 && !match; i++) {
                const uint8_t  *u = (i & 1) ? toggled : url.data;
                size_t          ul = (i & 1) ? tlen : url.len;

                if ((i & 1) && tlen == (size_t) -1) {
                    continue;
                }

                if (i & 2) {
                    sign(ks.mac, u, ul, c16, c16_len, b64);

                } else {
                    sign(ks.mac, u, ul, c8, c8_len, b64);
                }

                match = sig_len == NGX_TWILIO_SHA1_B64_LEN
                        && memcmp(b64, sig, sig_len) == 0;
            }

            CHECK(match);
            CHECK(res.key == ks.real);
            CHECK(h != NGX_TWILIO_HASH_MALFORMED);
            CHECK(h == NGX_TWILIO_HASH_FOUND || (flags & F_FORM)
                  || body.len == 0);

            if (h == NGX_TWILIO_HASH_FOUND) {
                sha256_hex(body.data, body.len, hex);
                CHECK(hexs.len == 64 && memcmp(hexs.data, hex, 64) == 0);
            }
        }

        goto done;
    }

    /* a correct signature */

    canon = c8;
    canon_len = c8_len;

    if ((flags & F_UTF16) && trap) {
        canon = c16;
        canon_len = c16_len;
    }

    if ((flags & F_TOGGLE) && tlen != (size_t) -1) {
        sign(ks.mac, toggled, tlen, canon, canon_len, b64);

    } else {
        sign(ks.mac, url.data, url.len, canon, canon_len, b64);
    }

    if (h == NGX_TWILIO_HASH_MALFORMED) {
        expect = NGX_TWILIO_BODY_HASH_MALFORMED;

    } else if (h == NGX_TWILIO_HASH_NONE && !(flags & F_FORM) && body.len) {
        expect = NGX_TWILIO_BODY_UNSIGNED;

    } else if (h == NGX_TWILIO_HASH_FOUND) {
        sha256_hex(body.data, body.len, hex);
        expect = memcmp(hexs.data, hex, 64) == 0 ? NGX_TWILIO_OK
                                                 : NGX_TWILIO_BODY_HASH_MISMATCH;
        if (flags & F_JSON) {
            /* the hash added here is the only one, or it is malformed */
            CHECK(expect == NGX_TWILIO_OK);
        }

    } else {
        expect = NGX_TWILIO_OK;
    }

    run(&url, body.data, body.len, b64, NGX_TWILIO_SHA1_B64_LEN,
        flags & F_FORM, ks.keys, ks.nkeys, 0, &res, &allocs);

    CHECK(res.reason == expect);

    if (expect == NGX_TWILIO_OK || expect == NGX_TWILIO_BODY_HASH_MISMATCH) {
        CHECK(res.key == ks.real);
    }

    if (expect != NGX_TWILIO_OK && expect != NGX_TWILIO_BODY_HASH_MISMATCH) {
        goto done;
    }

    /* allocation failures: each one in turn is an internal error */

    if (flags & F_ALLOC) {
        for (k = 1; k <= allocs; k++) {
            run(&url, body.data, body.len, b64, NGX_TWILIO_SHA1_B64_LEN,
                flags & F_FORM, ks.keys, ks.nkeys, k, &res, NULL);
            CHECK(res.reason == NGX_TWILIO_ERROR);
        }
    }

    /* the order of the form's segments does not matter */

    if ((flags & F_FORM) && h == NGX_TWILIO_HASH_NONE) {
        shuffled = malloc(2 * body.len + 2);
        if (shuffled == NULL) {
            abort();
        }

        body_len = fuzz_shuffle_segments(body.data, body.len, &seed, shuffled);

        run(&url, shuffled, body_len, b64, NGX_TWILIO_SHA1_B64_LEN, 1,
            ks.keys, ks.nkeys, 0, &res, NULL);

        if (bind && fuzz_json_like(shuffled, body_len)) {
            /*
             * a segment with "{" or "[" came first: with bound keys, a
             * form that reads as JSON is ambiguous
             */
            CHECK(res.reason == NGX_TWILIO_ACCOUNT_AMBIGUOUS);

        } else {
            CHECK(res.reason == NGX_TWILIO_OK);
            CHECK(res.key == ks.real);
        }

        free(shuffled);
    }

    /* one signature byte changed */

    i = fuzz_rand(&seed) % NGX_TWILIO_SHA1_B64_LEN;
    memcpy(bad, b64, sizeof(bad));

    do {
        bad[i] = (u_char) fuzz_rand(&seed);
    } while (bad[i] == b64[i]);

    run(&url, body.data, body.len, bad, NGX_TWILIO_SHA1_B64_LEN,
        flags & F_FORM, ks.keys, ks.nkeys, 0, &res, NULL);

    if (b64_canonical(bad)) {
        CHECK(res.reason == NGX_TWILIO_BAD_SIGNATURE);

    } else {
        CHECK(res.reason == NGX_TWILIO_SIGNATURE_MALFORMED);
    }

    /* bodySHA256: the body check is mandatory */

    if (h == NGX_TWILIO_HASH_FOUND && expect == NGX_TWILIO_OK) {
        flipped = malloc(body.len + 1);
        if (flipped == NULL) {
            abort();
        }

        if (body.len) {
            memcpy(flipped, body.data, body.len);
            i = fuzz_rand(&seed) % body.len;
            flipped[i] ^= (u_char) (1 + fuzz_rand(&seed) % 255);
            body_len = body.len;

        } else {
            flipped[0] = '{';
            body_len = 1;
        }

        run(&url, flipped, body_len, b64, NGX_TWILIO_SHA1_B64_LEN,
            flags & F_FORM, ks.keys, ks.nkeys, 0, &res, NULL);

        if (bind) {
            /* a form's or JSON's AccountSid may have changed first */
            CHECK(res.reason == NGX_TWILIO_BODY_HASH_MISMATCH
                  || res.reason == NGX_TWILIO_JSON_MALFORMED
                  || res.reason == NGX_TWILIO_ACCOUNT_AMBIGUOUS
                  || res.reason == NGX_TWILIO_UNKNOWN_ACCOUNT
                  || res.reason == NGX_TWILIO_BAD_SIGNATURE);

        } else {
            CHECK(res.reason == NGX_TWILIO_BODY_HASH_MISMATCH);
        }

        free(flipped);
    }

    /* a key bound to another account is not used */

    if (bind) {
        ks.keys[ks.real].account_sid.data = (u_char *) sid_other;

        run(&url, body.data, body.len, b64, NGX_TWILIO_SHA1_B64_LEN,
            flags & F_FORM, ks.keys, ks.nkeys, 0, &res, NULL);
        CHECK(res.reason == (ks.nkeys > 1 ? NGX_TWILIO_BAD_SIGNATURE
                                          : NGX_TWILIO_UNKNOWN_ACCOUNT));
    }

done:

    ngx_twilio_mac_free(ks.mac);
    ngx_twilio_mac_free(ks.decoy);
    free(toggled);
    free(c8);
    free(c16);
    free(url.data);
    free(body.data);

    return 0;
}
