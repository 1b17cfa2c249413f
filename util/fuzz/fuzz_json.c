
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * libFuzzer target: an arbitrary body through ngx_twilio_json_accounts,
 * the strict JSON reader that finds the members named AccountSid.
 * Properties:
 *
 *   - no crash, no read outside the body, no write outside buf (exactly
 *     as long as the body), whatever the input and nesting;
 *   - it agrees with an independent recursive reference reader written
 *     from RFC 8259 (strict UTF-8, no unpaired surrogates, no BOM, the
 *     same depth cap): the same verdict, and for a well-formed text the
 *     same AccountSid values (decoded, or "not a string") in the same
 *     order;
 *   - every value handed out lies inside buf, and stays intact until the
 *     end (values are compared after the whole text was read);
 *   - the result does not depend on what buf held before.
 *
 * util/fuzz/make-seeds writes seeds built with Python's json module:
 * Event Streams arrays, escaped member names, deep nesting.
 */


#include "fuzz_common.h"


#define MAX_VALUES  256


typedef struct {
    const uint8_t  *data[MAX_VALUES];   /* NULL: not a string */
    size_t          len[MAX_VALUES];
    size_t          n;
    size_t          dropped;
    const uint8_t  *buf;
    size_t          buf_len;
} values_t;


static void
collect(void *data, const ngx_twilio_str_t *value)
{
    values_t  *v = data;

    if (value) {
        CHECK(value->data >= v->buf
              && value->data + value->len <= v->buf + v->buf_len);
    }

    if (v->n == MAX_VALUES) {
        v->dropped++;
        return;
    }

    v->data[v->n] = value ? value->data : NULL;
    v->len[v->n] = value ? value->len : 0;
    v->n++;
}


/* the reference */

typedef struct {
    const uint8_t  *p;
    const uint8_t  *last;
    uint8_t        *out;               /* decoded strings, one after another */
    values_t        v;
} ref_t;


static int ref_value(ref_t *r, int level, int account);


static void
ref_ws(ref_t *r)
{
    while (r->p < r->last && (*r->p == ' ' || *r->p == '\t'
                              || *r->p == '\n' || *r->p == '\r'))
    {
        r->p++;
    }
}


static int
ref_hex4(ref_t *r, uint32_t *cp)
{
    int  i, h;

    if (r->last - r->p < 4) {
        return 0;
    }

    *cp = 0;

    for (i = 0; i < 4; i++) {
        h = fuzz_hexval(r->p[i]);
        if (h < 0) {
            return 0;
        }

        *cp = *cp * 16 + h;
    }

    r->p += 4;

    return 1;
}


static void
ref_put_utf8(uint8_t **d, uint32_t c)
{
    if (c < 0x80) {
        *(*d)++ = c;

    } else if (c < 0x800) {
        *(*d)++ = 0xc0 | (c >> 6);
        *(*d)++ = 0x80 | (c & 0x3f);

    } else if (c < 0x10000) {
        *(*d)++ = 0xe0 | (c >> 12);
        *(*d)++ = 0x80 | ((c >> 6) & 0x3f);
        *(*d)++ = 0x80 | (c & 0x3f);

    } else {
        *(*d)++ = 0xf0 | (c >> 18);
        *(*d)++ = 0x80 | ((c >> 12) & 0x3f);
        *(*d)++ = 0x80 | ((c >> 6) & 0x3f);
        *(*d)++ = 0x80 | (c & 0x3f);
    }
}


/* r->p at the opening quote; the decoded string at *s, *len */

static int
ref_string(ref_t *r, uint8_t **s, size_t *len)
{
    size_t    n;
    uint32_t  c, lo;
    uint8_t  *d;

    r->p++;
    d = r->out;
    *s = d;

    for ( ;; ) {
        if (r->p == r->last || *r->p < 0x20) {
            return 0;
        }

        if (*r->p == '"') {
            r->p++;
            break;
        }

        if (*r->p == '\\') {
            r->p++;

            if (r->p == r->last) {
                return 0;
            }

            c = *r->p++;

            if (c == 'u') {
                if (!ref_hex4(r, &c)) {
                    return 0;
                }

                if (c >= 0xd800 && c <= 0xdbff) {
                    if (r->last - r->p < 2 || r->p[0] != '\\'
                        || r->p[1] != 'u')
                    {
                        return 0;
                    }

                    r->p += 2;

                    if (!ref_hex4(r, &lo) || lo < 0xdc00 || lo > 0xdfff) {
                        return 0;
                    }

                    c = 0x10000 + (c - 0xd800) * 0x400 + (lo - 0xdc00);

                } else if (c >= 0xdc00 && c <= 0xdfff) {
                    return 0;
                }

                ref_put_utf8(&d, c);
                continue;
            }

            switch (c) {
            case '"': case '\\': case '/': *d++ = c; break;
            case 'b': *d++ = 8; break;
            case 'f': *d++ = 12; break;
            case 'n': *d++ = 10; break;
            case 'r': *d++ = 13; break;
            case 't': *d++ = 9; break;
            default: return 0;
            }

            continue;
        }

        /* a run of raw bytes up to the next quote, backslash or control */

        for (n = 0; r->p + n < r->last && r->p[n] != '"' && r->p[n] != '\\'
                    && r->p[n] >= 0x20; n++)
        {
            /* void */
        }

        if (!fuzz_utf8_valid(r->p, n)) {
            /* a sequence cut by a quote or backslash is invalid too */
            return 0;
        }

        memcpy(d, r->p, n);
        d += n;
        r->p += n;
    }

    *len = d - *s;
    r->out = d;

    return 1;
}


static int
ref_digits(ref_t *r)
{
    const uint8_t  *start = r->p;

    while (r->p < r->last && *r->p >= '0' && *r->p <= '9') {
        r->p++;
    }

    return r->p > start;
}


static int
ref_number(ref_t *r)
{
    if (*r->p == '-') {
        r->p++;
    }

    if (r->p == r->last) {
        return 0;
    }

    if (*r->p == '0') {
        r->p++;

    } else if (!ref_digits(r)) {
        return 0;
    }

    if (r->p < r->last && *r->p == '.') {
        r->p++;
        if (!ref_digits(r)) {
            return 0;
        }
    }

    if (r->p < r->last && (*r->p == 'e' || *r->p == 'E')) {
        r->p++;
        if (r->p < r->last && (*r->p == '+' || *r->p == '-')) {
            r->p++;
        }

        if (!ref_digits(r)) {
            return 0;
        }
    }

    return 1;
}


static int
ref_literal(ref_t *r, const char *lit)
{
    size_t  n = strlen(lit);

    if ((size_t) (r->last - r->p) < n || memcmp(r->p, lit, n) != 0) {
        return 0;
    }

    r->p += n;

    return 1;
}


static int
ref_value(ref_t *r, int level, int account)
{
    int       first;
    size_t    len;
    uint8_t  *s;

    ref_ws(r);

    if (r->p == r->last) {
        return 0;
    }

    if (*r->p == '"') {
        if (!ref_string(r, &s, &len)) {
            return 0;
        }

        if (account) {
            if (r->v.n < MAX_VALUES) {
                r->v.data[r->v.n] = s;
                r->v.len[r->v.n] = len;
                r->v.n++;

            } else {
                r->v.dropped++;
            }
        }

        return 1;
    }

    if (account) {
        if (r->v.n < MAX_VALUES) {
            r->v.data[r->v.n] = NULL;
            r->v.len[r->v.n] = 0;
            r->v.n++;

        } else {
            r->v.dropped++;
        }
    }

    if (*r->p == '{' || *r->p == '[') {
        uint8_t  close = (*r->p == '{') ? '}' : ']';

        if (level == NGX_TWILIO_JSON_DEPTH) {
            return 0;
        }

        r->p++;
        first = 1;

        for ( ;; ) {
            ref_ws(r);

            if (r->p == r->last) {
                return 0;
            }

            if (first && *r->p == close) {
                r->p++;
                return 1;
            }

            if (close == '}') {
                if (*r->p != '"' || !ref_string(r, &s, &len)) {
                    return 0;
                }

                ref_ws(r);

                if (r->p == r->last || *r->p != ':') {
                    return 0;
                }

                r->p++;

                if (!ref_value(r, level + 1, fuzz_account_name(s, len))) {
                    return 0;
                }

            } else if (!ref_value(r, level + 1, 0)) {
                return 0;
            }

            first = 0;
            ref_ws(r);

            if (r->p == r->last) {
                return 0;
            }

            if (*r->p == close) {
                r->p++;
                return 1;
            }

            if (*r->p != ',') {
                return 0;
            }

            r->p++;
        }
    }

    if (*r->p == 't') {
        return ref_literal(r, "true");
    }

    if (*r->p == 'f') {
        return ref_literal(r, "false");
    }

    if (*r->p == 'n') {
        return ref_literal(r, "null");
    }

    return ref_number(r);
}


static int
ref_parse(const uint8_t *data, size_t size, uint8_t *out, values_t *v)
{
    ref_t  r;

    memset(&r, 0, sizeof(ref_t));
    r.p = data;
    r.last = data + size;
    r.out = out;

    if (!ref_value(&r, 0, 0)) {
        return -1;
    }

    ref_ws(&r);

    *v = r.v;

    return r.p == r.last ? 0 : -1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int        rc, rc2, ref;
    size_t     i;
    uint8_t   *buf, *out, *copy;
    values_t   v, v2, rv;

    /* exact sizes: AddressSanitizer watches the bytes around them */

    copy = malloc(size ? size : 1);
    buf = malloc(size ? size : 1);
    out = malloc(6 * size + 16);
    if (copy == NULL || buf == NULL || out == NULL) {
        abort();
    }

    if (size) {
        memcpy(copy, data, size);
    }

    memset(buf, 0xa5, size);
    memset(&v, 0, sizeof(values_t));
    v.buf = buf;
    v.buf_len = size;

    rc = ngx_twilio_json_accounts(copy, size, buf, collect, &v);

    CHECK(rc == 0 || rc == -1);

    memset(&rv, 0, sizeof(values_t));
    ref = ref_parse(copy, size, out, &rv);

    CHECK(rc == ref);

    if (rc == 0) {
        CHECK(v.n == rv.n && v.dropped == rv.dropped);

        for (i = 0; i < v.n; i++) {
            CHECK((v.data[i] == NULL) == (rv.data[i] == NULL));
            CHECK(v.len[i] == rv.len[i]);
            CHECK(v.len[i] == 0
                  || memcmp(v.data[i], rv.data[i], v.len[i]) == 0);
        }
    }

    /* the same with other bytes in buf */

    if (size) {
        memset(buf, 0x5a, size);
        memset(&v2, 0, sizeof(values_t));
        v2.buf = buf;
        v2.buf_len = size;

        rc2 = ngx_twilio_json_accounts(copy, size, buf, collect, &v2);

        CHECK(rc2 == rc);

        if (rc == 0) {
            CHECK(v2.n == v.n);

            for (i = 0; i < v.n; i++) {
                CHECK(v2.len[i] == v.len[i]);
                CHECK(v.len[i] == 0
                      || memcmp(v2.data[i], rv.data[i], v.len[i]) == 0);
            }
        }
    }

    free(copy);
    free(buf);
    free(out);

    return 0;
}
