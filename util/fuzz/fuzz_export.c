
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * libFuzzer target: what the variables export.  The input is a form body
 * (and, behind "https://h/p?", a URL's query).  Properties:
 *
 *   - ngx_twilio_export_escape() of the input and of every decoded value:
 *     the length it announces is the length it writes; the output has no
 *     byte 00-1F or 7F (nothing that can end or split a header line);
 *     decoding each "%XX" gives the input back; it is longer by exactly
 *     two bytes per escaped byte;
 *   - ngx_twilio_param_lookup(), for the (lower-cased) decoded key of a
 *     segment chosen by the input, finds the raw value of the first
 *     segment whose decoded key equals it with ASCII case ignored (a
 *     reference scan), in the body for a form and in the query otherwise;
 *   - ngx_twilio_account_claim() agrees with a reference count of the keys
 *     that name an account (fuzz_names_account()) in the list split on
 *     "&" and ";": none, one (its decoded value), or more
 *     (account_ambiguous), for the body as a form (a body that reads as
 *     JSON, fuzz_json_like(), is account_ambiguous) and for the same
 *     bytes as a URL's whole query, "#" included.
 */


#include "fuzz_common.h"


static size_t
export_check(const uint8_t *src, size_t len)
{
    size_t    i, n, unsafe, back;
    uint8_t  *out, *dec;

    n = ngx_twilio_export_escape(NULL, src, len);
    out = malloc(n ? n : 1);
    dec = malloc(len ? len : 1);
    if (out == NULL || dec == NULL) {
        abort();
    }

    CHECK(ngx_twilio_export_escape(out, src, len) == n);

    unsafe = 0;

    for (i = 0; i < len; i++) {
        if (src[i] < 0x20 || src[i] == 0x7f || src[i] == '%') {
            unsafe++;
        }
    }

    CHECK(n == len + 2 * unsafe);

    back = 0;

    for (i = 0; i < n; i++) {
        CHECK(out[i] >= 0x20 && out[i] != 0x7f);

        if (out[i] == '%') {
            CHECK(i + 2 < n && fuzz_hexval(out[i + 1]) >= 0
                  && fuzz_hexval(out[i + 2]) >= 0);
            dec[back++] = fuzz_hexval(out[i + 1]) * 16
                          + fuzz_hexval(out[i + 2]);
            i += 2;

        } else {
            dec[back++] = out[i];
        }
    }

    CHECK(back == len && (len == 0 || memcmp(dec, src, len) == 0));

    free(out);
    free(dec);

    return n;
}


typedef struct {
    const uint8_t  *key;        /* raw */
    size_t          key_len;
    const uint8_t  *value;      /* raw */
    size_t          value_len;
} seg_t;


static size_t
segments(const uint8_t *p, size_t len, seg_t *seg)
{
    size_t          n;
    const uint8_t  *last, *amp, *eq;

    n = 0;
    last = p + len;

    while (p < last) {
        amp = memchr(p, '&', last - p);
        amp = amp ? amp : last;
        eq = memchr(p, '=', amp - p);
        eq = eq ? eq : amp;

        if (amp > p) {
            seg[n].key = p;
            seg[n].key_len = eq - p;
            seg[n].value = eq < amp ? eq + 1 : amp;
            seg[n].value_len = amp - seg[n].value;
            n++;
        }

        p = amp + 1;
    }

    return n;
}


static int
ascii_caseeq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t  i;

    if (alen != blen) {
        return 0;
    }

    for (i = 0; i < alen; i++) {
        if ((a[i] >= 'A' && a[i] <= 'Z' ? a[i] + 32 : a[i])
            != (b[i] >= 'A' && b[i] <= 'Z' ? b[i] + 32 : b[i]))
        {
            return 0;
        }
    }

    return 1;
}


static void
lookup_check(const ngx_twilio_request_t *req, const seg_t *seg, size_t n,
    uint64_t *seed, uint8_t *k1, uint8_t *k2)
{
    int               found;
    size_t            i, pick, l1, l2;
    ngx_twilio_str_t  raw;

    if (n == 0) {
        return;
    }

    pick = fuzz_rand(seed) % n;
    l1 = fuzz_unescape(k1, seg[pick].key, seg[pick].key_len);

    for (i = 0; i < l1; i++) {
        k1[i] = (k1[i] >= 'A' && k1[i] <= 'Z') ? k1[i] + 32 : k1[i];
    }

    found = ngx_twilio_param_lookup(req, k1, l1, &raw);

    for (i = 0; i < n; i++) {
        l2 = fuzz_unescape(k2, seg[i].key, seg[i].key_len);

        if (ascii_caseeq(k1, l1, k2, l2)) {
            break;
        }
    }

    /* the chosen segment itself matches, so one is found */

    CHECK(i <= pick && found);
    CHECK(raw.data == seg[i].value && raw.len == seg[i].value_len);
}


static void
claim_check(const ngx_twilio_request_t *req, const uint8_t *p, size_t len,
    int form, uint8_t *key, uint8_t *val)
{
    int               rc;
    size_t            count, klen, vlen;
    fuzz_arena_t      arena;
    const uint8_t    *last, *end, *eq, *value;
    ngx_twilio_str_t  sid;

    count = 0;
    value = NULL;
    vlen = 0;
    last = p + len;

    while (p < last) {
        for (end = p; end < last && *end != '&' && *end != ';'; end++) {
            /* void */
        }

        eq = memchr(p, '=', end - p);
        if (eq == NULL) {
            eq = end;
        }

        klen = fuzz_unescape(key, p, eq - p);

        if (fuzz_names_account(key, klen) && count++ == 0) {
            value = eq < end ? eq + 1 : end;
            vlen = end - value;
        }

        p = end + 1;
    }

    fuzz_arena_init(&arena, 0);

    rc = ngx_twilio_account_claim(req, 1, fuzz_alloc, &arena, &sid);

    if (form && fuzz_json_like(req->body.data, req->body.len)) {
        CHECK(rc == NGX_TWILIO_ACCOUNT_AMBIGUOUS);

    } else if (count > 1) {
        CHECK(rc == NGX_TWILIO_ACCOUNT_AMBIGUOUS);

    } else if (count == 1) {
        CHECK(rc == NGX_TWILIO_OK && sid.data != NULL);
        vlen = fuzz_unescape(val, value, vlen);
        CHECK(sid.len == vlen && (vlen == 0
                                  || memcmp(sid.data, val, vlen) == 0));

    } else {
        CHECK(rc == NGX_TWILIO_OK && sid.data == NULL);
    }

    fuzz_arena_free(&arena);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                 i, n, m, vlen;
    seg_t                 *seg;
    uint8_t               *url, *k1, *k2;
    uint64_t               seed;
    const uint8_t         *hash;
    ngx_twilio_request_t   req;

    seed = fuzz_hash(data, size);

    export_check(data, size);

    seg = malloc((size / 2 + 2) * sizeof(seg_t));
    url = malloc(size + 16);
    k1 = malloc(size + 1);
    k2 = malloc(size + 1);
    if (seg == NULL || url == NULL || k1 == NULL || k2 == NULL) {
        abort();
    }

    n = segments(data, size, seg);

    for (i = 0; i < n; i++) {
        vlen = fuzz_unescape(k1, seg[i].value, seg[i].value_len);
        export_check(k1, vlen);
    }

    /* as a form body */

    memset(&req, 0, sizeof(req));
    req.url.data = (u_char *) "https://h/p";
    req.url.len = 11;
    req.body.data = (u_char *) data;
    req.body.len = size;
    req.form = 1;

    lookup_check(&req, seg, n, &seed, k1, k2);
    claim_check(&req, data, size, 1, k1, k2);

    /* as a URL's query, up to a "#" for the lookup, whole for the claim */

    memcpy(url, "https://h/p?", 12);
    memcpy(url + 12, data, size);

    hash = memchr(data, '#', size);
    m = hash ? (size_t) (hash - data) : size;
    n = segments(url + 12, m, seg);

    memset(&req, 0, sizeof(req));
    req.url.data = url;
    req.url.len = 12 + size;

    /* no body: bodySHA256 or not, the query alone decides */

    lookup_check(&req, seg, n, &seed, k1, k2);
    claim_check(&req, data, size, 0, k1, k2);

    free(seg);
    free(url);
    free(k1);
    free(k2);

    return 0;
}
