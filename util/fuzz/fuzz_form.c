
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * libFuzzer target: an arbitrary form body through ngx_twilio_form_count,
 * _parse, _sort and _canonical.  Properties:
 *
 *   - parse returns what count said;
 *   - each decoded key and value is no longer than its raw bytes (and no
 *     shorter than a third of them), and lies inside the output buffer;
 *   - decoding in place gives the same bytes as decoding elsewhere, and
 *     the same as a reference decoder written from docs/signature.md;
 *   - the canonical string is no longer than the body;
 *   - after ORDER_BYTES the parameters are non-decreasing under a plain
 *     memcmp comparison (key, then value);
 *   - after ORDER_UTF16, for strictly valid UTF-8, non-decreasing under an
 *     independent UTF-16 code unit comparison;
 *   - both orders keep the same set of distinct parameters, so the two
 *     canonical strings have the same length and the same bytes once
 *     re-sorted bytewise;
 *   - for strictly valid UTF-8 without a supplementary character meeting
 *     one in U+E000-U+FFFF (ngx_twilio_form_has_order_trap() false), both
 *     orders give the same canonical string;
 *   - shuffling the &-separated segments (and adding empty ones) changes
 *     neither canonical string nor has_order_trap;
 *   - ngx_twilio_form_param() finds the first parameter's raw value.
 */


#include "fuzz_common.h"


typedef struct {
    ngx_twilio_param_t  *params;
    u_char              *decoded;
    u_char              *canon;
    size_t               n;
    size_t               canon_len;
    fuzz_arena_t         arena;        /* the sort's scratch */
} form_t;


static void
form_run(const uint8_t *body, size_t len, int order, form_t *f)
{
    size_t  n;

    n = ngx_twilio_form_count(body, len);

    /* exact sizes, so that AddressSanitizer catches any overrun */
    f->params = malloc((n ? n : 1) * sizeof(ngx_twilio_param_t));
    f->decoded = malloc(len ? len : 1);
    f->canon = malloc(len ? len : 1);

    if (f->params == NULL || f->decoded == NULL || f->canon == NULL) {
        abort();
    }

    f->n = ngx_twilio_form_parse(body, len, f->params, f->decoded);
    CHECK(f->n == n);

    fuzz_arena_init(&f->arena, 0);
    CHECK(ngx_twilio_form_sort(f->params, f->n, order, fuzz_alloc, &f->arena)
          == 0);

    f->canon_len = ngx_twilio_form_canonical(f->params, f->n, f->canon);
    CHECK(f->canon_len <= len);
}


static void
form_free(form_t *f)
{
    fuzz_arena_free(&f->arena);
    free(f->params);
    free(f->decoded);
    free(f->canon);
}


static int
param_cmp_bytes(const ngx_twilio_param_t *a, const ngx_twilio_param_t *b)
{
    int  rc;

    rc = fuzz_cmp_bytes(a->key.data, a->key.len, b->key.data, b->key.len);

    if (rc != 0) {
        return rc;
    }

    return fuzz_cmp_bytes(a->value.data, a->value.len, b->value.data,
                          b->value.len);
}


static int
qsort_cmp_bytes(const void *a, const void *b)
{
    return param_cmp_bytes(a, b);
}


static int
cmp_utf16(const ngx_twilio_str_t *a, const ngx_twilio_str_t *b)
{
    int        rc;
    size_t     na, nb, i;
    uint16_t  *ua, *ub;

    ua = malloc((a->len + 1) * sizeof(uint16_t));
    ub = malloc((b->len + 1) * sizeof(uint16_t));
    if (ua == NULL || ub == NULL) {
        abort();
    }

    na = fuzz_utf16_units(a->data, a->len, ua);
    nb = fuzz_utf16_units(b->data, b->len, ub);

    rc = 0;

    for (i = 0; i < na && i < nb; i++) {
        if (ua[i] != ub[i]) {
            rc = ua[i] < ub[i] ? -1 : 1;
            break;
        }
    }

    if (rc == 0) {
        rc = (na > nb) - (na < nb);
    }

    free(ua);
    free(ub);

    return rc;
}


static void
check_decoding(const uint8_t *body, size_t len, form_t *f)
{
    size_t         i, rk, rv, total;
    u_char        *tmp;
    const u_char  *p, *last, *amp, *eq;

    /* walk the segments independently, in order: parse keeps that order */

    i = 0;
    total = 0;
    p = body;
    last = body + len;

    while (p < last) {
        amp = memchr(p, '&', last - p);
        if (amp == NULL) {
            amp = last;
        }

        if (amp == p) {
            p++;
            continue;
        }

        eq = memchr(p, '=', amp - p);
        if (eq == NULL) {
            eq = amp;
        }

        rk = eq - p;
        rv = eq < amp ? (size_t) (amp - eq - 1) : 0;

        CHECK(i < f->n);
        CHECK(f->params[i].key.len <= rk);
        CHECK(f->params[i].value.len <= rv);
        CHECK(f->params[i].key.len * 3 >= rk);
        CHECK(f->params[i].value.len * 3 >= rv);

        CHECK(f->params[i].key.data >= f->decoded);
        CHECK(f->params[i].key.data + f->params[i].key.len
              <= f->decoded + len);
        CHECK(f->params[i].value.data >= f->decoded);
        CHECK(f->params[i].value.data + f->params[i].value.len
              <= f->decoded + len);

        /* decoding in place agrees with decoding into the parse buffer */

        tmp = malloc(rk + rv + 1);
        if (tmp == NULL) {
            abort();
        }

        memcpy(tmp, p, rk);
        CHECK(ngx_twilio_unescape(tmp, tmp, rk) == f->params[i].key.len);
        CHECK(memcmp(tmp, f->params[i].key.data, f->params[i].key.len) == 0);

        if (rv) {
            memcpy(tmp, eq + 1, rv);
        }

        CHECK(ngx_twilio_unescape(tmp, tmp, rv) == f->params[i].value.len);
        CHECK(memcmp(tmp, f->params[i].value.data, f->params[i].value.len)
              == 0);

        /* and with the reference decoder */

        CHECK(fuzz_unescape(tmp, p, rk) == f->params[i].key.len);
        CHECK(memcmp(tmp, f->params[i].key.data, f->params[i].key.len) == 0);
        CHECK(fuzz_unescape(tmp, eq + 1, rv) == f->params[i].value.len);
        CHECK(memcmp(tmp, f->params[i].value.data, f->params[i].value.len)
              == 0);

        free(tmp);

        total += f->params[i].key.len + f->params[i].value.len;
        i++;
        p = amp + 1;
    }

    CHECK(i == f->n);
    CHECK(total <= len);
}


static void
check_first_param(const uint8_t *body, size_t len, form_t *f)
{
    char              name[64];
    size_t            rk;
    const u_char     *p, *amp, *eq;
    ngx_twilio_str_t  raw;

    if (f->n == 0) {
        return;
    }

    /* the first non-empty segment, still unsorted */

    p = body;
    while (*p == '&') {
        p++;
    }

    amp = memchr(p, '&', body + len - p);
    if (amp == NULL) {
        amp = body + len;
    }

    eq = memchr(p, '=', amp - p);
    if (eq == NULL) {
        eq = amp;
    }

    rk = eq - p;

    if (f->params[0].key.len == 0 || f->params[0].key.len >= sizeof(name)
        || memchr(f->params[0].key.data, '\0', f->params[0].key.len)
        || rk > 64)
    {
        return;
    }

    memcpy(name, f->params[0].key.data, f->params[0].key.len);
    name[f->params[0].key.len] = '\0';

    CHECK(ngx_twilio_form_param(body, len, name, &raw));
    CHECK(raw.data == (eq < amp ? eq + 1 : amp));
    CHECK(raw.len == (size_t) (amp - raw.data));
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int        valid;
    size_t     i, slen;
    uint8_t   *shuffled;
    uint64_t   seed;
    form_t     fb, fu, sb, su, unsorted;

    /* unsorted: the decoding checks need parse order */

    unsorted.n = ngx_twilio_form_count(data, size);
    unsorted.params = malloc((unsorted.n ? unsorted.n : 1)
                             * sizeof(ngx_twilio_param_t));
    unsorted.decoded = malloc(size ? size : 1);
    unsorted.canon = NULL;
    fuzz_arena_init(&unsorted.arena, 0);
    if (unsorted.params == NULL || unsorted.decoded == NULL) {
        abort();
    }

    CHECK(ngx_twilio_form_parse(data, size, unsorted.params, unsorted.decoded)
          == unsorted.n);

    check_decoding(data, size, &unsorted);
    check_first_param(data, size, &unsorted);

    valid = 1;

    for (i = 0; i < unsorted.n && valid; i++) {
        valid = fuzz_utf8_valid(unsorted.params[i].key.data,
                                unsorted.params[i].key.len)
                && fuzz_utf8_valid(unsorted.params[i].value.data,
                                   unsorted.params[i].value.len);
    }

    form_free(&unsorted);

    /* the two orders */

    form_run(data, size, NGX_TWILIO_ORDER_BYTES, &fb);
    form_run(data, size, NGX_TWILIO_ORDER_UTF16, &fu);

    for (i = 1; i < fb.n; i++) {
        CHECK(param_cmp_bytes(&fb.params[i - 1], &fb.params[i]) <= 0);
    }

    if (valid) {
        for (i = 1; i < fu.n; i++) {
            int  rc = cmp_utf16(&fu.params[i - 1].key, &fu.params[i].key);

            CHECK(rc <= 0);

            if (rc == 0) {
                CHECK(cmp_utf16(&fu.params[i - 1].value, &fu.params[i].value)
                      <= 0);
            }
        }

        if (!ngx_twilio_form_has_order_trap(fb.params, fb.n)) {
            CHECK(fb.canon_len == fu.canon_len);
            CHECK(memcmp(fb.canon, fu.canon, fb.canon_len) == 0);
        }
    }

    CHECK(ngx_twilio_form_has_order_trap(fb.params, fb.n)
          == ngx_twilio_form_has_order_trap(fu.params, fu.n));

    /* the same distinct parameters in both orders */

    CHECK(fb.canon_len == fu.canon_len);

    {
        u_char  *re = malloc(size ? size : 1);

        if (re == NULL) {
            abort();
        }

        qsort(fu.params, fu.n, sizeof(ngx_twilio_param_t), qsort_cmp_bytes);
        CHECK(ngx_twilio_form_canonical(fu.params, fu.n, re) == fb.canon_len);
        CHECK(memcmp(re, fb.canon, fb.canon_len) == 0);

        /* UTF-16 again from the bytewise order: the same string */
        CHECK(ngx_twilio_form_sort(fu.params, fu.n, NGX_TWILIO_ORDER_UTF16,
                                   fuzz_alloc, &fu.arena)
              == 0);
        CHECK(ngx_twilio_form_canonical(fu.params, fu.n, re) == fu.canon_len);
        CHECK(memcmp(re, fu.canon, fu.canon_len) == 0);
        free(re);
    }

    /* the order of the segments does not matter */

    seed = fuzz_hash(data, size);
    shuffled = malloc(2 * size + 2);
    if (shuffled == NULL) {
        abort();
    }

    slen = fuzz_shuffle_segments(data, size, &seed, shuffled);

    form_run(shuffled, slen, NGX_TWILIO_ORDER_BYTES, &sb);
    form_run(shuffled, slen, NGX_TWILIO_ORDER_UTF16, &su);

    CHECK(sb.n == fb.n);
    CHECK(sb.canon_len == fb.canon_len);
    CHECK(memcmp(sb.canon, fb.canon, fb.canon_len) == 0);
    CHECK(su.canon_len == fu.canon_len);
    CHECK(memcmp(su.canon, fu.canon, fu.canon_len) == 0);
    CHECK(ngx_twilio_form_has_order_trap(sb.params, sb.n)
          == ngx_twilio_form_has_order_trap(fb.params, fb.n));

    form_free(&sb);
    form_free(&su);
    form_free(&fb);
    form_free(&fu);
    free(shuffled);

    return 0;
}
