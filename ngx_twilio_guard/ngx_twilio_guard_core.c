
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * The pure core of the Twilio webhook guard; see ngx_twilio_guard_core.h
 * and docs/signature.md for the algorithm it implements.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

/*
 * HMAC through EVP_MAC on OpenSSL 3, through HMAC_CTX before (1.1.0 and
 * later: HMAC_CTX_new()).  NGX_TWILIO_HMAC_LEGACY forces the HMAC_CTX code
 * on OpenSSL 3 too, where it is deprecated but still there, so that the
 * unit tests cover it (t/002-core-unit-legacy.t).
 */

#if (OPENSSL_VERSION_NUMBER < 0x10100000L)
#error "ngx_twilio_guard needs OpenSSL 1.1.0 or later"
#endif

#if (OPENSSL_VERSION_NUMBER >= 0x30000000L && !defined NGX_TWILIO_HMAC_LEGACY)
#define NGX_TWILIO_EVP_MAC  1
#include <openssl/core_names.h>
#include <openssl/params.h>
#else
#define NGX_TWILIO_EVP_MAC  0
#include <openssl/hmac.h>
#endif

#include "ngx_twilio_guard_core.h"


/* SSE2 is part of x86-64; NGX_TWILIO_NO_SIMD builds the portable code */

#if (defined __SSE2__ && !defined NGX_TWILIO_NO_SIMD)
#include <emmintrin.h>
#define NGX_TWILIO_SSE2  1
#else
#define NGX_TWILIO_SSE2  0
#endif


/* the value of a standard base64 character, or -1 */

static const signed char  ngx_twilio_b64[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1
};


#define ngx_twilio_hex(c)                                                     \
    (((c) >= '0' && (c) <= '9') ? (c) - '0'                                   \
     : (((c) | 0x20) >= 'a' && ((c) | 0x20) <= 'f') ? ((c) | 0x20) - 'a' + 10 \
     : -1)


#define ngx_twilio_lower(c)                                                   \
    (u_char) (((c) >= 'A' && (c) <= 'Z') ? ((c) | 0x20) : (c))


/* a hex digit's value plus one, zero for any other byte */

static const u_char  ngx_twilio_hex1[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6,
    ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
    ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16
};


/* the high bit of each byte of a 64-bit word */

#define NGX_TWILIO_HIGHS  0x8080808080808080ULL


struct ngx_twilio_mac_s {
#if (NGX_TWILIO_EVP_MAC)
    EVP_MAC_CTX          *ctx;
#else
    HMAC_CTX             *ctx;
#endif
};


typedef int (*ngx_twilio_cmp_pt)(const ngx_twilio_param_t *a,
    const ngx_twilio_param_t *b, const ngx_twilio_param_t *base);


static int ngx_twilio_cmp_str(const ngx_twilio_str_t *a,
    const ngx_twilio_str_t *b);
static int ngx_twilio_cmp_bytes(const ngx_twilio_param_t *a,
    const ngx_twilio_param_t *b, const ngx_twilio_param_t *base);
static int ngx_twilio_cmp_utf16(const ngx_twilio_param_t *a,
    const ngx_twilio_param_t *b, const ngx_twilio_param_t *base);
static const u_char *ngx_twilio_utf16_next(const u_char *p,
    const u_char *last, unsigned *unit, unsigned *pending);
static u_char *ngx_twilio_utf16_units(u_char *out, const ngx_twilio_str_t *s);
static void ngx_twilio_sort_run_bytes(ngx_twilio_param_t *params, size_t n);
static void ngx_twilio_insertion_sort(ngx_twilio_param_t *params, size_t n,
    ngx_twilio_cmp_pt cmp, const ngx_twilio_param_t *base);
static void ngx_twilio_merge_sort(ngx_twilio_param_t *params, size_t n,
    ngx_twilio_param_t *tmp, ngx_twilio_cmp_pt cmp,
    const ngx_twilio_param_t *base);
static unsigned ngx_twilio_lead_bytes(const u_char *p, const u_char *last);
static inline const u_char *ngx_twilio_decode_escape(u_char **dp,
    const u_char *p, const u_char *last);
static const u_char *ngx_twilio_find_param(const u_char *p, const u_char *last,
    const char *name, ngx_twilio_str_t *raw);
static int ngx_twilio_key_eligible(const ngx_twilio_key_t *key,
    const ngx_twilio_str_t *sid);
static int ngx_twilio_validate_cheap(const ngx_twilio_request_t *req,
    int *hash, ngx_twilio_str_t *hex, size_t *n);
static int ngx_twilio_validate_form(const ngx_twilio_request_t *req,
    size_t n, ngx_twilio_alloc_pt alloc, void *pool, ngx_twilio_str_t *cand,
    size_t *ncand);
static int ngx_twilio_validate_params(const ngx_twilio_request_t *req,
    const ngx_twilio_key_t *keys, size_t nkeys, ngx_twilio_alloc_pt alloc,
    void *pool, int hash, size_t n, ngx_twilio_str_t *sid,
    ngx_twilio_str_t *cand, size_t *ncand, ngx_twilio_result_t *res);
static size_t ngx_twilio_validate_eligible(const ngx_twilio_key_t *keys,
    size_t nkeys, const ngx_twilio_str_t *sid);
static int ngx_twilio_validate_sign(const ngx_twilio_request_t *req,
    ngx_twilio_mac_t *mac, const ngx_twilio_str_t *url,
    const ngx_twilio_str_t *cand, size_t ncand, ngx_twilio_result_t *res);
static int ngx_twilio_validate_keys(const ngx_twilio_request_t *req,
    const ngx_twilio_key_t *keys, size_t nkeys, ngx_twilio_alloc_pt alloc,
    void *pool, const ngx_twilio_str_t *sid, const ngx_twilio_str_t *cand,
    size_t ncand, ngx_twilio_result_t *res);


const char  *ngx_twilio_reason_names[NGX_TWILIO_NREASONS] = {
    "ok",
    "no_signature",
    "signature_repeated",
    "signature_malformed",
    "bad_signature",
    "body_hash_mismatch",
    "body_hash_malformed",
    "body_unsigned",
    "body_too_large",
    "body_unavailable",
    "unknown_account",
    "ip_denied",
    "not_https",
    "signature_settings_malformed",
    "unknown_key",
    "unsupported_algorithm",
    "internal_error",
    "account_ambiguous",
    "too_many_params",
    "forwarded_malformed",
    "host_mismatch",
    "json_malformed",
    "replayed",
    "replay_unavailable",
    "host_malformed",
    "content_type_repeated",
    "subrequest_unchecked",
    "number_missing",
    "number_ambiguous",
    "number_invalid",
    "number_denied",
    "limited",
    "limit_unavailable"
};


/*
 * The "+" or "%" at p: "+" is a space, "%XX" a byte, a malformed "%"
 * sequence stays as it is.  Writes one byte at *dp; returns what follows.
 */

static inline const u_char *
ngx_twilio_decode_escape(u_char **dp, const u_char *p, const u_char *last)
{
    unsigned  hi, lo;

    if (*p == '+') {
        *(*dp)++ = ' ';
        return p + 1;
    }

    if (last - p > 2) {
        hi = ngx_twilio_hex1[p[1]];
        lo = ngx_twilio_hex1[p[2]];

        if (hi && lo) {
            *(*dp)++ = (u_char) (((hi - 1) << 4) | (lo - 1));
            return p + 3;
        }
    }

    *(*dp)++ = *p;

    return p + 1;
}


/*
 * x-www-form-urlencoded decoding of a whole string (ngx_twilio_form_parse()
 * decodes a body in one pass the same way).  dst may equal src.  Returns
 * the decoded length.
 */

size_t
ngx_twilio_unescape(u_char *dst, const u_char *src, size_t len)
{
    u_char        *d;
    const u_char  *p, *last;

    if (len == 0) {
        return 0;
    }

    d = dst;
    p = src;
    last = src + len;

    while (p < last) {

        if (*p == '+' || *p == '%') {
            p = ngx_twilio_decode_escape(&d, p, last);

        } else {
            *d++ = *p++;
        }
    }

    return d - dst;
}


/*
 * The number of non-empty "&"-separated segments: the bytes other than
 * "&" that follow a "&" or start the body.  One pass, sixteen bytes at a
 * time where SSE2 is there, with no call per segment: a body of tiny
 * segments costs no more to count than any other.
 */

size_t
ngx_twilio_form_count(const u_char *body, size_t len)
{
    size_t         n;
    unsigned       prev;
    const u_char  *p, *last;
#if (NGX_TWILIO_SSE2)
    unsigned       amp, starts;
#endif

    if (len == 0) {
        /* an empty body may come as NULL: no arithmetic on it */
        return 0;
    }

    n = 0;
    p = body;
    last = body + len;

    /* whether the byte before p is "&" (or p is the start) */
    prev = 1;

#if (NGX_TWILIO_SSE2)

    while (last - p >= 16) {
        amp = _mm_movemask_epi8(_mm_cmpeq_epi8(
                  _mm_loadu_si128((const __m128i *) p),
                  _mm_set1_epi8('&')));

        starts = ~amp & ((amp << 1) | prev) & 0xffff;

        while (starts) {
            n++;
            starts &= starts - 1;
        }

        prev = amp >> 15;
        p += 16;
    }

#endif

    for ( /* void */ ; p < last; p++) {
        n += (*p != '&') & prev;
        prev = (*p == '&');
    }

    return n;
}


/* what ends a run of plain bytes in a form body */

#define NGX_TWILIO_AMP      0x01
#define NGX_TWILIO_EQ       0x02
#define NGX_TWILIO_ESCAPE   0x04

static const u_char  ngx_twilio_form_class[256] = {
    ['&'] = NGX_TWILIO_AMP,
    ['='] = NGX_TWILIO_EQ,
    ['%'] = NGX_TWILIO_ESCAPE,
    ['+'] = NGX_TWILIO_ESCAPE
};


/*
 * Decodes from p up to the first raw "&" or "=" of class stop (or last)
 * into *dp, as ngx_twilio_unescape() does; returns where it stopped.  *dp may
 * be at most as far into its buffer as p is into the body, and the
 * buffer as long as the body: then sixteen bytes stored at *dp while
 * sixteen remain at p stay inside it.
 */

static const u_char *
ngx_twilio_form_decode(u_char **dp, const u_char *p, const u_char *last,
    u_char stop)
{
    u_char   *d, c;
#if (NGX_TWILIO_SSE2)
    int       mask;
    __m128i   v, hit;
#endif

    d = *dp;
    stop |= NGX_TWILIO_ESCAPE;

    for ( ;; ) {

#if (NGX_TWILIO_SSE2)

        /* plain bytes sixteen at a time */

        while (last - p >= 16) {
            v = _mm_loadu_si128((const __m128i *) p);

            hit = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('&')),
                               _mm_cmpeq_epi8(v, _mm_set1_epi8('%')));
            hit = _mm_or_si128(hit, _mm_cmpeq_epi8(v, _mm_set1_epi8('+')));

            if (stop & NGX_TWILIO_EQ) {
                hit = _mm_or_si128(hit,
                                   _mm_cmpeq_epi8(v, _mm_set1_epi8('=')));
            }

            mask = _mm_movemask_epi8(hit);

            _mm_storeu_si128((__m128i *) d, v);

            if (mask == 0) {
                d += 16;
                p += 16;
                continue;
            }

            d += __builtin_ctz(mask);
            p += __builtin_ctz(mask);
            break;
        }

#endif

        if (p == last) {
            break;
        }

        c = ngx_twilio_form_class[*p] & stop;

        if (c == 0) {
            *d++ = *p++;

        } else if (c == NGX_TWILIO_ESCAPE) {

            /* a run of escapes is decoded here, not a block load each */

            do {
                p = ngx_twilio_decode_escape(&d, p, last);
            } while (p < last
                     && (ngx_twilio_form_class[*p] & stop)
                        == NGX_TWILIO_ESCAPE);

        } else {
            break;
        }
    }

    *dp = d;

    return p;
}


/*
 * Splits a form body into decoded parameters in one pass.  params must
 * have room for ngx_twilio_form_count() entries, out for len bytes; keys
 * and values are written into out one after another, in body order.
 * Returns the number of parameters.
 */

size_t
ngx_twilio_form_parse(const u_char *body, size_t len,
    ngx_twilio_param_t *params, u_char *out)
{
    size_t         n;
    const u_char  *p, *last;

    if (len == 0) {
        return 0;
    }

    n = 0;
    p = body;
    last = body + len;

    while (p < last) {

        if (*p == '&') {
            /* an empty segment */
            p++;
            continue;
        }

        params[n].key.data = out;
        p = ngx_twilio_form_decode(&out, p, last,
                                   NGX_TWILIO_AMP | NGX_TWILIO_EQ);
        params[n].key.len = out - params[n].key.data;

        params[n].value.data = out;

        if (p < last && *p == '=') {
            p = ngx_twilio_form_decode(&out, p + 1, last, NGX_TWILIO_AMP);
        }

        params[n].value.len = out - params[n].value.data;

        n++;

        if (p == last) {
            break;
        }

        /* past the "&" */
        p++;
    }

    return n;
}


/*
 * Keys and values may share long prefixes: memcmp() skips equal bytes
 * many at a time (glibc vectorises it), where a byte loop would not.
 */

static int
ngx_twilio_cmp_str(const ngx_twilio_str_t *a, const ngx_twilio_str_t *b)
{
    int     rc;
    size_t  n;

    n = a->len < b->len ? a->len : b->len;

    if (n) {
        rc = memcmp(a->data, b->data, n);

        if (rc != 0) {
            return rc;
        }
    }

    return (a->len > b->len) - (a->len < b->len);
}


static int
ngx_twilio_cmp_bytes(const ngx_twilio_param_t *a, const ngx_twilio_param_t *b,
    const ngx_twilio_param_t *base)
{
    int  rc;

    (void) base;

    /*
     * zero-padded prefixes that differ order the keys as the whole keys
     * do: where one key ended, the other has a byte above zero there
     */

    if (a->prefix != b->prefix) {
        return a->prefix < b->prefix ? -1 : 1;
    }

    /* equal prefixes of keys as long and no longer than 8: equal keys */

    if (a->key.len != b->key.len || a->key.len > 8) {
        rc = ngx_twilio_cmp_str(&a->key, &b->key);

        if (rc != 0) {
            return rc;
        }
    }

    return ngx_twilio_cmp_str(&a->value, &b->value);
}


/*
 * Node's Array.prototype.sort() compares UTF-16 code units.  It differs
 * from the byte (code point) order only when a character above U+FFFF
 * meets one in U+E000-U+FFFF; Twilio's Node helpers sign in that order.
 * Each byte that is not part of a well-formed sequence counts as U+FFFD.
 */

static const u_char *
ngx_twilio_utf16_next(const u_char *p, const u_char *last, unsigned *unit,
    unsigned *pending)
{
    unsigned  c, n, i;

    if (*pending) {
        *unit = *pending;
        *pending = 0;
        return p;
    }

    c = *p++;

    if (c < 0x80) {
        *unit = c;
        return p;
    }

    if (c >= 0xc2 && c <= 0xdf) {
        n = 1;
        c &= 0x1f;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 2;
        c &= 0x0f;

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 3;
        c &= 0x07;

    } else {
        /* not UTF-8: Node would see U+FFFD */
        *unit = 0xfffd;
        return p;
    }

    if ((size_t) (last - p) < n) {
        *unit = 0xfffd;
        return p;
    }

    for (i = 0; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            *unit = 0xfffd;
            return p;
        }

        c = (c << 6) | (p[i] & 0x3f);
    }

    p += n;

    if (c >= 0x10000) {
        c -= 0x10000;
        *unit = 0xd800 + (c >> 10);
        *pending = 0xdc00 + (c & 0x3ff);
        return p;
    }

    *unit = c;
    return p;
}


/*
 * Writes the UTF-16 code units of s, each encoded as UTF-8 encodes a code
 * point below U+10000 (surrogates too, as CESU-8 does).  That encoding
 * keeps the order of the values and no code is a prefix of another, so
 * memcmp() of two such strings is the code unit order, a shorter string
 * first.  Well-formed text below U+10000 is copied as it is; a character
 * above U+FFFF becomes two 3-byte units, each byte that is not part of a
 * well-formed sequence U+FFFD (EF BF BD), an overlong form its shortest.
 * A byte gives three bytes at most: out needs 3 * s->len bytes.
 */

#define ngx_twilio_unit_utf8(out, u)                                          \
    if ((u) < 0x80) {                                                         \
        *(out)++ = (u_char) (u);                                              \
                                                                              \
    } else if ((u) < 0x800) {                                                 \
        *(out)++ = (u_char) (0xc0 | ((u) >> 6));                              \
        *(out)++ = (u_char) (0x80 | ((u) & 0x3f));                            \
                                                                              \
    } else {                                                                  \
        *(out)++ = (u_char) (0xe0 | ((u) >> 12));                             \
        *(out)++ = (u_char) (0x80 | (((u) >> 6) & 0x3f));                     \
        *(out)++ = (u_char) (0x80 | ((u) & 0x3f));                            \
    }

static u_char *
ngx_twilio_utf16_units(u_char *out, const ngx_twilio_str_t *s)
{
    u_char         c, c1;
    uint32_t       w;
    unsigned       unit, pending;
    const u_char  *p, *q, *last, *end;

    p = s->data;
    last = s->data + s->len;

    while (p < last) {

#if (NGX_TWILIO_SSE2)

        /* ASCII sixteen bytes at a time */

        if (last - p >= 16) {
            __m128i  v = _mm_loadu_si128((const __m128i *) p);

            if (_mm_movemask_epi8(v) == 0) {
                _mm_storeu_si128((__m128i *) out, v);
                p += 16;
                out += 16;
                continue;
            }
        }

#endif

        /* the next sixteen bytes (and the rest of a character) one by one */

        end = (last - p > 16) ? p + 16 : last;

        while (p < end) {

            c = p[0];

            if (c < 0x80) {
                *out++ = c;
                p++;
                continue;
            }

            /*
             * well-formed 2- and 3-byte sequences, as ngx_twilio_utf16_next()
             * decodes them, are their own encoding unless overlong
             */

            if (c >= 0xe0 && c <= 0xef) {

                /* a run of them, checked, then copied at once */

                for (q = p; last - q >= 3; q += 3) {

                    /*
                     * the three bytes as a little-endian word: a lead
                     * 1110xxxx, two bytes 10xxxxxx, and not overlong (E0
                     * with a second byte below A0: bits 0x200F all zero)
                     */

#if (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
                    if (last - q >= 4) {
                        memcpy(&w, q, 4);

                    } else
#endif
                    {
                        w = (uint32_t) q[0] | (uint32_t) q[1] << 8
                            | (uint32_t) q[2] << 16;
                    }

                    if ((w & 0xc0c0f0) != 0x8080e0 || (w & 0x200f) == 0) {
                        break;
                    }
                }

                if (q > p) {
                    memcpy(out, p, q - p);
                    out += q - p;
                    p = q;
                    continue;
                }

            } else if (c >= 0xc2 && c <= 0xdf && last - p >= 2) {
                c1 = p[1];

                if ((c1 & 0xc0) == 0x80) {
                    out[0] = c;
                    out[1] = c1;
                    out += 2;
                    p += 2;
                    continue;
                }
            }

            pending = 0;
            p = ngx_twilio_utf16_next(p, last, &unit, &pending);

            ngx_twilio_unit_utf8(out, unit);

            if (pending) {
                ngx_twilio_unit_utf8(out, pending);
            }
        }
    }

    return out;
}


/*
 * The UTF-16 order sorts entries whose key and value are code unit
 * strings (ngx_twilio_utf16_units()) and whose prefix is the index of the
 * parameter in base they stand for.
 */

static int
ngx_twilio_cmp_utf16(const ngx_twilio_param_t *a, const ngx_twilio_param_t *b,
    const ngx_twilio_param_t *base)
{
    int  rc;

    rc = ngx_twilio_cmp_str(&a->key, &b->key);

    if (rc != 0) {
        return rc;
    }

    rc = ngx_twilio_cmp_str(&a->value, &b->value);

    if (rc != 0) {
        return rc;
    }

    /* equal units, different bytes (invalid UTF-8): keep the sort total */

    return ngx_twilio_cmp_bytes(&base[a->prefix], &base[b->prefix], NULL);
}


/*
 * Twilio's webhooks carry a few dozen parameters at most: up to 32 are
 * sorted in place by insertion (at most 496 moves).  Larger forms are
 * sorted in runs of 8, then merged run by run through a scratch array
 * from the caller's pool: n log n comparisons at worst, whatever the
 * input, and no allocation outside the pool.  In the byte order, which
 * every request needs, the keys' 8-byte prefixes are compared inline and
 * decide almost always.  Returns 0, or -1 if an allocation failed.
 */

#define NGX_TWILIO_SORT_RUN   32
#define NGX_TWILIO_MERGE_RUN  8

int
ngx_twilio_form_sort(ngx_twilio_param_t *params, size_t n, int order,
    ngx_twilio_alloc_pt alloc, void *pool)
{
    size_t               i, k, len;
    u_char               b[8], *units;
    ngx_twilio_param_t  *tmp, *entries;

    if (n < 2) {
        return 0;
    }

    /* ngx_twilio_cmp_utf16() falls back to the byte order: both need it */

    for (i = 0; i < n; i++) {
        if (params[i].key.len >= 8) {
            memcpy(b, params[i].key.data, 8);

        } else {
            memset(b, 0, sizeof(b));

            for (k = 0; k < params[i].key.len; k++) {
                b[k] = params[i].key.data[k];
            }
        }

        params[i].prefix = (uint64_t) b[0] << 56 | (uint64_t) b[1] << 48
                           | (uint64_t) b[2] << 40 | (uint64_t) b[3] << 32
                           | (uint64_t) b[4] << 24 | (uint64_t) b[5] << 16
                           | (uint64_t) b[6] << 8 | (uint64_t) b[7];
    }

    if (order == NGX_TWILIO_ORDER_BYTES) {

        if (n <= NGX_TWILIO_SORT_RUN) {
            ngx_twilio_sort_run_bytes(params, n);
            return 0;
        }

        tmp = alloc(pool, n * sizeof(ngx_twilio_param_t));
        if (tmp == NULL) {
            return -1;
        }

        ngx_twilio_merge_sort(params, n, tmp, ngx_twilio_cmp_bytes, params);

        return 0;
    }

    /*
     * The UTF-16 order: each string is rewritten once as its code units
     * (ngx_twilio_utf16_units()), then only memcmp() compares; the
     * sorted entries give the order of the parameters.
     */

    len = 0;

    for (i = 0; i < n; i++) {
        len += params[i].key.len + params[i].value.len;
    }

    entries = alloc(pool, 2 * n * sizeof(ngx_twilio_param_t));
    units = alloc(pool, 3 * len + 1);

    if (entries == NULL || units == NULL) {
        return -1;
    }

    tmp = entries + n;

    for (i = 0; i < n; i++) {
        entries[i].key.data = units;
        units = ngx_twilio_utf16_units(units, &params[i].key);
        entries[i].key.len = units - entries[i].key.data;

        entries[i].value.data = units;
        units = ngx_twilio_utf16_units(units, &params[i].value);
        entries[i].value.len = units - entries[i].value.data;

        entries[i].prefix = i;
    }

    ngx_twilio_merge_sort(entries, n, tmp, ngx_twilio_cmp_utf16, params);

    for (i = 0; i < n; i++) {
        tmp[i] = params[entries[i].prefix];
    }

    memcpy(params, tmp, n * sizeof(ngx_twilio_param_t));

    return 0;
}


/* the byte order of up to NGX_TWILIO_SORT_RUN parameters, by insertion */

static void
ngx_twilio_sort_run_bytes(ngx_twilio_param_t *params, size_t n)
{
    size_t              i, k;
    ngx_twilio_param_t  t;

    for (i = 1; i < n; i++) {
        t = params[i];

        for (k = i;
             k > 0
             && (params[k - 1].prefix > t.prefix
                 || (params[k - 1].prefix == t.prefix
                     && ngx_twilio_cmp_bytes(&params[k - 1], &t, NULL) > 0));
             k--)
        {
            params[k] = params[k - 1];
        }

        params[k] = t;
    }
}


/*
 * Binary insertion, where comparisons cost more than moves: n log n
 * comparisons; stable, as the first place after the equal ones is taken.
 */

static void
ngx_twilio_insertion_sort(ngx_twilio_param_t *params, size_t n,
    ngx_twilio_cmp_pt cmp, const ngx_twilio_param_t *base)
{
    size_t              i, lo, hi, mid;
    ngx_twilio_param_t  t;

    for (i = 1; i < n; i++) {

        if (cmp(&params[i - 1], &params[i], base) <= 0) {
            continue;
        }

        t = params[i];

        /* the first of params[0 .. i - 1] above t; params[i - 1] is */

        lo = 0;
        hi = i - 1;

        while (lo < hi) {
            mid = lo + (hi - lo) / 2;

            if (cmp(&params[mid], &t, base) > 0) {
                hi = mid;

            } else {
                lo = mid + 1;
            }
        }

        memmove(&params[lo + 1], &params[lo],
                (i - lo) * sizeof(ngx_twilio_param_t));
        params[lo] = t;
    }
}


/*
 * Bottom-up merge sort: runs of NGX_TWILIO_MERGE_RUN sorted in place, then
 * merged back and forth between params and tmp (n entries).  Two runs
 * already in order cost one comparison.
 */

static void
ngx_twilio_merge_sort(ngx_twilio_param_t *params, size_t n,
    ngx_twilio_param_t *tmp, ngx_twilio_cmp_pt cmp,
    const ngx_twilio_param_t *base)
{
    size_t                     i, w, lo, mid, hi, na, nb;
    ngx_twilio_param_t        *src, *dst, *t, *out;
    const ngx_twilio_param_t  *a, *b;

    for (i = 0; i < n; i += NGX_TWILIO_MERGE_RUN) {
        w = n - i < NGX_TWILIO_MERGE_RUN ? n - i : NGX_TWILIO_MERGE_RUN;

        if (cmp == ngx_twilio_cmp_bytes) {
            ngx_twilio_sort_run_bytes(params + i, w);

        } else {
            ngx_twilio_insertion_sort(params + i, w, cmp, base);
        }
    }

    src = params;
    dst = tmp;

    for (w = NGX_TWILIO_MERGE_RUN; w < n; w *= 2) {

        for (lo = 0; lo < n; lo += 2 * w) {
            mid = n - lo > w ? lo + w : n;
            hi = n - mid > w ? mid + w : n;

            a = src + lo;
            b = src + mid;
            na = mid - lo;
            nb = hi - mid;
            out = dst + lo;

            if (nb && cmp(&a[na - 1], b, base) > 0) {

                while (na && nb) {
                    if (cmp(b, a, base) < 0) {
                        *out++ = *b++;
                        nb--;

                    } else {
                        *out++ = *a++;
                        na--;
                    }
                }
            }

            memcpy(out, a, na * sizeof(ngx_twilio_param_t));
            memcpy(out + na, b, nb * sizeof(ngx_twilio_param_t));
        }

        t = src;
        src = dst;
        dst = t;
    }

    if (src != params) {
        memcpy(params, src, n * sizeof(ngx_twilio_param_t));
    }
}


/*
 * Writes key + value for each sorted parameter, once per distinct
 * value of a key.  out needs the decoded size at most.
 */

size_t
ngx_twilio_form_canonical(const ngx_twilio_param_t *params, size_t n,
    u_char *out)
{
    size_t   i;
    u_char  *p;

    p = out;

    for (i = 0; i < n; i++) {

        if (i > 0
            && params[i].key.len == params[i - 1].key.len
            && params[i].value.len == params[i - 1].value.len
            && memcmp(params[i].key.data, params[i - 1].key.data,
                      params[i].key.len) == 0
            && memcmp(params[i].value.data, params[i - 1].value.data,
                      params[i].value.len) == 0)
        {
            continue;
        }

        memcpy(p, params[i].key.data, params[i].key.len);
        p += params[i].key.len;
        memcpy(p, params[i].value.data, params[i].value.len);
        p += params[i].value.len;
    }

    return p - out;
}


/*
 * Which lead bytes occur in [p, last): 1 for F0-F4 (a character above
 * U+FFFF), 2 for EE or EF (one in U+E000-U+FFFF).  Stops once both are
 * seen.
 */

static unsigned
ngx_twilio_lead_bytes(const u_char *p, const u_char *last)
{
    unsigned       seen;
    uint64_t       w;
    const u_char  *end;
#if (NGX_TWILIO_SSE2)
    __m128i        v, x;
#endif

    seen = 0;

    while (p < last && seen != 3) {

#if (NGX_TWILIO_SSE2)

        /* sixteen bytes at a time, whatever they are */

        if (last - p >= 16) {
            v = _mm_loadu_si128((const __m128i *) p);
            p += 16;

            if (_mm_movemask_epi8(v) == 0) {
                continue;
            }

            /* F0-F4: v - 0xF0 is at most 4, unsigned */

            x = _mm_sub_epi8(v, _mm_set1_epi8((char) 0xf0));

            if (_mm_movemask_epi8(_mm_cmpeq_epi8(
                    _mm_min_epu8(x, _mm_set1_epi8(4)), x)))
            {
                seen |= 1;
            }

            /* EE or EF: v with its lowest bit set is EF */

            if (_mm_movemask_epi8(_mm_cmpeq_epi8(
                    _mm_or_si128(v, _mm_set1_epi8(1)),
                    _mm_set1_epi8((char) 0xef))))
            {
                seen |= 2;
            }

            continue;
        }

#endif

        /* skip ASCII a block at a time, look at the other blocks bytewise */

        if (last - p >= 8) {
            memcpy(&w, p, 8);

            if ((w & NGX_TWILIO_HIGHS) == 0) {
                p += 8;
                continue;
            }

            end = p + 8;

        } else {
            end = last;
        }

        for ( /* void */ ; p < end; p++) {
            if (*p >= 0xf0 && *p <= 0xf4) {
                seen |= 1;

            } else if (*p == 0xee || *p == 0xef) {
                seen |= 2;
            }
        }
    }

    return seen;
}


/*
 * Whether the UTF-16 order can differ from the byte order: both a
 * character above U+FFFF (lead byte F0-F4) and one in U+E000-U+FFFF
 * (lead byte EE or EF) must occur.
 */

int
ngx_twilio_form_has_order_trap(const ngx_twilio_param_t *params, size_t n)
{
    size_t    i;
    unsigned  seen;

    seen = 0;

    for (i = 0; i < n && seen != 3; i++) {
        seen |= ngx_twilio_lead_bytes(params[i].key.data,
                                      params[i].key.data + params[i].key.len);
        seen |= ngx_twilio_lead_bytes(params[i].value.data,
                                      params[i].value.data
                                      + params[i].value.len);
    }

    return seen == 3;
}


/*
 * Finds the raw (still escaped) value of the first parameter named
 * name in an &-separated list: a form body or a URL's query.
 */

static const u_char *
ngx_twilio_find_param(const u_char *p, const u_char *last, const char *name,
    ngx_twilio_str_t *raw)
{
    size_t         nlen, klen;
    u_char         key[64];
    const u_char  *amp, *eq;

    nlen = strlen(name);

    while (p < last) {
        amp = memchr(p, '&', last - p);
        if (amp == NULL) {
            amp = last;
        }

        eq = memchr(p, '=', amp - p);
        if (eq == NULL) {
            eq = amp;
        }

        if ((size_t) (eq - p) <= sizeof(key)) {
            klen = ngx_twilio_unescape(key, p, eq - p);

            if (klen == nlen && memcmp(key, name, nlen) == 0) {
                raw->data = (u_char *) (eq < amp ? eq + 1 : amp);
                raw->len = amp - raw->data;
                return amp;
            }
        }

        if (amp == last) {
            break;
        }

        p = amp + 1;
    }

    return NULL;
}


int
ngx_twilio_form_param(const u_char *form, size_t len, const char *name,
    ngx_twilio_str_t *raw)
{
    if (len == 0) {
        return 0;
    }

    return ngx_twilio_find_param(form, form + len, name, raw) != NULL;
}


/*
 * The port variant of a URL: with the port removed if it has one, else
 * with ":443" (https) or ":80" (http) added after the host.  Only the
 * authority is edited; everything else is copied byte for byte.  out
 * needs len + NGX_TWILIO_URL_TOGGLE_EXTRA bytes.  Returns 0, or -1 if
 * the URL has no authority or an unknown scheme.
 */

int
ngx_twilio_url_toggle_port(const u_char *url, size_t len, u_char *out,
    size_t *out_len)
{
    size_t         slen;
    const char    *port;
    const u_char  *p, *last, *scheme_end, *host, *end, *colon;

    last = url + len;

    for (p = url; p + 2 < last; p++) {
        if (p[0] == ':' && p[1] == '/' && p[2] == '/') {
            break;
        }

        if (*p == '/' || *p == '?' || *p == '#') {
            return -1;
        }
    }

    if (p + 2 >= last || p == url) {
        return -1;
    }

    scheme_end = p;
    slen = scheme_end - url;
    host = p + 3;

    for (end = host; end < last; end++) {
        if (*end == '/' || *end == '?' || *end == '#') {
            break;
        }
    }

    /* skip user:pass@, which may contain ":" too */

    for (p = end; p > host; p--) {
        if (p[-1] == '@') {
            host = p;
            break;
        }
    }

    if (host == end) {
        return -1;
    }

    if (*host == '[') {
        colon = memchr(host, ']', end - host);
        if (colon == NULL) {
            return -1;
        }

        colon++;

    } else {
        colon = memchr(host, ':', end - host);
        if (colon == NULL) {
            colon = end;
        }
    }

    if (colon == host) {
        /* a port but no host name: nothing to toggle back to */
        return -1;
    }

    if (colon < end) {

        if (*colon != ':') {
            return -1;
        }

        /* remove ":port" */

        memcpy(out, url, colon - url);
        memcpy(out + (colon - url), end, last - end);
        *out_len = len - (end - colon);

        return 0;
    }

    if (slen == 5 && strncasecmp((const char *) url, "https", 5) == 0) {
        port = ":443";

    } else if (slen == 4 && strncasecmp((const char *) url, "http", 4) == 0) {
        port = ":80";

    } else {
        return -1;
    }

    memcpy(out, url, end - url);
    memcpy(out + (end - url), port, strlen(port));
    memcpy(out + (end - url) + strlen(port), end, last - end);
    *out_len = len + strlen(port);

    return 0;
}


/*
 * Looks for bodySHA256 in the URL's query.  It must occur once, with
 * 64 hex digits; anything else is NGX_TWILIO_HASH_MALFORMED.
 */

int
ngx_twilio_url_body_hash(const u_char *url, size_t len, ngx_twilio_str_t *hex)
{
    size_t            i;
    const u_char     *p, *last, *next;
    ngx_twilio_str_t  other;

    last = memchr(url, '#', len);
    if (last == NULL) {
        last = url + len;
    }

    p = memchr(url, '?', last - url);
    if (p == NULL) {
        return NGX_TWILIO_HASH_NONE;
    }

    p++;

    next = ngx_twilio_find_param(p, last, "bodySHA256", hex);
    if (next == NULL) {
        return NGX_TWILIO_HASH_NONE;
    }

    if (next < last
        && ngx_twilio_find_param(next + 1, last, "bodySHA256", &other))
    {
        return NGX_TWILIO_HASH_MALFORMED;
    }

    if (hex->len != NGX_TWILIO_SHA256_HEX_LEN) {
        return NGX_TWILIO_HASH_MALFORMED;
    }

    for (i = 0; i < hex->len; i++) {
        if (ngx_twilio_hex(hex->data[i]) < 0) {
            return NGX_TWILIO_HASH_MALFORMED;
        }
    }

    return NGX_TWILIO_HASH_FOUND;
}


ngx_twilio_mac_t *
ngx_twilio_mac_create(int alg, const u_char *key, size_t len)
{
    ngx_twilio_mac_t  *m;
#if (NGX_TWILIO_EVP_MAC)
    EVP_MAC           *mac;
    OSSL_PARAM         params[2];
#endif

    if (len == 0) {
        return NULL;
    }

    m = calloc(1, sizeof(ngx_twilio_mac_t));
    if (m == NULL) {
        return NULL;
    }

#if (NGX_TWILIO_EVP_MAC)

    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL) {
        goto failed;
    }

    m->ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);

    if (m->ctx == NULL) {
        goto failed;
    }

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                    (char *) (alg == NGX_TWILIO_HMAC_SHA256 ? "SHA256"
                                                            : "SHA1"), 0);
    params[1] = OSSL_PARAM_construct_end();

    if (EVP_MAC_init(m->ctx, key, len, params) != 1) {
        goto failed;
    }

#else

    m->ctx = HMAC_CTX_new();
    if (m->ctx == NULL) {
        goto failed;
    }

    if (HMAC_Init_ex(m->ctx, key, (int) len,
                     alg == NGX_TWILIO_HMAC_SHA256 ? EVP_sha256() : EVP_sha1(),
                     NULL)
        != 1)
    {
        goto failed;
    }

#endif

    return m;

failed:

    ngx_twilio_mac_free(m);
    return NULL;
}


void
ngx_twilio_mac_free(ngx_twilio_mac_t *m)
{
    if (m == NULL) {
        return;
    }

#if (NGX_TWILIO_EVP_MAC)
    EVP_MAC_CTX_free(m->ctx);
#else
    HMAC_CTX_free(m->ctx);
#endif

    free(m);
}


/*
 * base64(HMAC(key, parts[0] || parts[1] || ...)), NUL-terminated; b64
 * needs NGX_TWILIO_SIG_MAX bytes.  The key schedule set up by
 * ngx_twilio_mac_create() is reused, nothing is allocated.
 */

int
ngx_twilio_mac_sign(ngx_twilio_mac_t *m, const ngx_twilio_str_t *parts,
    size_t nparts, u_char *b64, size_t *b64_len)
{
    size_t        i;
    u_char        md[EVP_MAX_MD_SIZE];
#if (NGX_TWILIO_EVP_MAC)
    size_t        mdlen;

    if (EVP_MAC_init(m->ctx, NULL, 0, NULL) != 1) {
        return -1;
    }

    for (i = 0; i < nparts; i++) {
        if (parts[i].len
            && EVP_MAC_update(m->ctx, parts[i].data, parts[i].len) != 1)
        {
            return -1;
        }
    }

    if (EVP_MAC_final(m->ctx, md, &mdlen, sizeof(md)) != 1) {
        return -1;
    }

#else
    unsigned int  mdlen;

    if (HMAC_Init_ex(m->ctx, NULL, 0, NULL, NULL) != 1) {
        return -1;
    }

    for (i = 0; i < nparts; i++) {
        if (parts[i].len
            && HMAC_Update(m->ctx, parts[i].data, parts[i].len) != 1)
        {
            return -1;
        }
    }

    if (HMAC_Final(m->ctx, md, &mdlen) != 1) {
        return -1;
    }

#endif

    *b64_len = EVP_EncodeBlock(b64, md, (int) mdlen);

    return 0;
}


/*
 * Canonical standard base64 with padding of a MAC of the expected encoded
 * length: the unused low bits of the last character must be zero, so each
 * MAC has exactly one well-formed encoding.
 */

int
ngx_twilio_signature_wellformed(const u_char *sig, size_t len, size_t expect)
{
    int     v;
    size_t  i, pad, bits;

    if (len != expect || len == 0 || len % 4 != 0) {
        return 0;
    }

    pad = (expect == NGX_TWILIO_SHA1_B64_LEN
           || expect == NGX_TWILIO_SHA256_B64_LEN) ? 1 : 0;

    v = 0;

    for (i = 0; i < len - pad; i++) {
        v = ngx_twilio_b64[sig[i]];

        if (v < 0) {
            return 0;
        }
    }

    for ( /* void */ ; i < len; i++) {
        if (sig[i] != '=') {
            return 0;
        }
    }

    /* the bits the last character holds beyond the MAC's bytes */

    bits = (len - pad) * 6 - ((len / 4) * 3 - pad) * 8;

    return (v & ((1 << bits) - 1)) == 0;
}


/* length first, then a constant-time comparison */

int
ngx_twilio_equal(const u_char *a, size_t alen, const u_char *b, size_t blen)
{
    if (alen != blen) {
        return 0;
    }

    return CRYPTO_memcmp(a, b, alen) == 0;
}


int
ngx_twilio_body_hash_equal(const u_char *body, size_t len,
    const ngx_twilio_str_t *hex)
{
    size_t         i;
    u_char         md[SHA256_DIGEST_LENGTH];
    u_char         buf[NGX_TWILIO_SHA256_HEX_LEN];
    unsigned int   mdlen;
    static const u_char  digits[] = "0123456789abcdef";

    if (EVP_Digest(body, len, md, &mdlen, EVP_sha256(), NULL) != 1
        || mdlen != SHA256_DIGEST_LENGTH)
    {
        return 0;
    }

    for (i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        buf[2 * i] = digits[md[i] >> 4];
        buf[2 * i + 1] = digits[md[i] & 0xf];
    }

    return ngx_twilio_equal(buf, sizeof(buf), hex->data, hex->len);
}


/* an unbound key, or one bound to the account the request claims */

static int
ngx_twilio_key_eligible(const ngx_twilio_key_t *key,
    const ngx_twilio_str_t *sid)
{
    /* a bound key signs for its account, or for a request claiming none */

    return key->account_sid.len == 0
           || sid->data == NULL
           || (sid->len == key->account_sid.len
               && memcmp(sid->data, key->account_sid.data, sid->len) == 0);
}


/*
 * The account for ngx_twilio_validate(): sets *sid to the claim (data NULL
 * for none) and res->account to it when well-formed.  An ambiguous or
 * unreadable claim matters only where keys are bound to accounts: then
 * its reason is returned, else the request counts as claiming none.
 */

static int
ngx_twilio_validate_account(const ngx_twilio_request_t *req,
    const ngx_twilio_key_t *keys, size_t nkeys, ngx_twilio_alloc_pt alloc,
    void *pool, ngx_twilio_str_t *sid, ngx_twilio_result_t *res)
{
    int     rc, bound;
    size_t  k;

    bound = 0;

    for (k = 0; k < nkeys; k++) {
        if (keys[k].account_sid.len) {
            bound = 1;
            break;
        }
    }

    rc = ngx_twilio_account_claim(req, bound, alloc, pool, sid);

    if (rc == NGX_TWILIO_OK && sid->data != NULL
        && ngx_twilio_account_sid_valid(sid->data, sid->len))
    {
        res->account = *sid;
    }

    if (rc != NGX_TWILIO_ERROR && !bound) {
        return NGX_TWILIO_OK;
    }

    return rc;
}


/*
 * The cheap rejections of ngx_twilio_validate(): they read no parameter,
 * so they report no account.  Sets *hash (and hex when found) and *n, the
 * form parameters counted; returns NGX_TWILIO_OK or the reason.
 */

static int
ngx_twilio_validate_cheap(const ngx_twilio_request_t *req, int *hash,
    ngx_twilio_str_t *hex, size_t *n)
{
    if (req->signature.len == 0) {
        return NGX_TWILIO_NO_SIGNATURE;
    }

    if (!ngx_twilio_signature_wellformed(req->signature.data,
                                         req->signature.len,
                                         req->alg == NGX_TWILIO_HMAC_SHA256
                                         ? NGX_TWILIO_SHA256_B64_LEN
                                         : NGX_TWILIO_SHA1_B64_LEN))
    {
        return NGX_TWILIO_SIGNATURE_MALFORMED;
    }

    *hash = ngx_twilio_url_body_hash(req->url.data, req->url.len, hex);

    if (*hash == NGX_TWILIO_HASH_MALFORMED) {
        return NGX_TWILIO_BODY_HASH_MALFORMED;
    }

    *n = 0;

    if (req->form && *hash == NGX_TWILIO_HASH_NONE && !req->body_later) {
        *n = ngx_twilio_form_count(req->body.data, req->body.len);

        /* counted, not yet allocated: sorting costs n log n */

        if (req->max_params && *n > req->max_params) {
            return NGX_TWILIO_TOO_MANY_PARAMS;
        }
    }

    return NGX_TWILIO_OK;
}


/*
 * The candidate canonical strings of a form body of n parameters: sorted
 * in byte order and, where Node's UTF-16 order can differ, in that order
 * too when the result differs.  Returns NGX_TWILIO_OK or NGX_TWILIO_ERROR.
 */

static int
ngx_twilio_validate_form(const ngx_twilio_request_t *req, size_t n,
    ngx_twilio_alloc_pt alloc, void *pool, ngx_twilio_str_t *cand,
    size_t *ncand)
{
    int                  trap;
    u_char              *decoded;
    ngx_twilio_param_t  *params;

    params = alloc(pool, n * sizeof(ngx_twilio_param_t));
    decoded = alloc(pool, 2 * req->body.len);

    if (params == NULL || decoded == NULL) {
        return NGX_TWILIO_ERROR;
    }

    n = ngx_twilio_form_parse(req->body.data, req->body.len, params, decoded);

    /*
     * form_parse() writes keys and values one after another:
     * one scan over them tells whether a second order is needed
     */

    trap = (ngx_twilio_lead_bytes(decoded,
                                  params[n - 1].value.data
                                  + params[n - 1].value.len)
            == 3);

    if (ngx_twilio_form_sort(params, n, NGX_TWILIO_ORDER_BYTES, alloc, pool)
        != 0)
    {
        return NGX_TWILIO_ERROR;
    }

    cand[0].data = decoded + req->body.len;
    cand[0].len = ngx_twilio_form_canonical(params, n, cand[0].data);
    *ncand = 1;

    if (!trap) {
        return NGX_TWILIO_OK;
    }

    cand[1].data = alloc(pool, cand[0].len);
    if (cand[1].data == NULL) {
        return NGX_TWILIO_ERROR;
    }

    if (ngx_twilio_form_sort(params, n, NGX_TWILIO_ORDER_UTF16, alloc, pool)
        != 0)
    {
        return NGX_TWILIO_ERROR;
    }

    cand[1].len = ngx_twilio_form_canonical(params, n, cand[1].data);

    if (memcmp(cand[0].data, cand[1].data, cand[0].len) != 0) {
        *ncand = 2;
    }

    return NGX_TWILIO_OK;
}


/*
 * The stage that reads parameters: the account claim, then what of the
 * body is signed besides the URL, the candidate canonical strings (none:
 * the URL alone).  Returns NGX_TWILIO_OK to try the keys, else the reason
 * (NGX_TWILIO_ERROR also when a form body is still to be read).
 */

static int
ngx_twilio_validate_params(const ngx_twilio_request_t *req,
    const ngx_twilio_key_t *keys, size_t nkeys, ngx_twilio_alloc_pt alloc,
    void *pool, int hash, size_t n, ngx_twilio_str_t *sid,
    ngx_twilio_str_t *cand, size_t *ncand, ngx_twilio_result_t *res)
{
    int  rc, claim;

    /* decided before the rest, so that rejected requests report it too */

    claim = ngx_twilio_validate_account(req, keys, nkeys, alloc, pool, sid,
                                        res);
    if (claim == NGX_TWILIO_ERROR) {
        return NGX_TWILIO_ERROR;
    }

    if (req->body_later && hash == NGX_TWILIO_HASH_NONE && req->form) {
        /* the form's parameters are signed: nothing to decide without them */
        return NGX_TWILIO_ERROR;
    }

    *ncand = 0;

    if (hash == NGX_TWILIO_HASH_FOUND) {
        /* the URL alone is signed, the body is checked by its hash */

    } else if (req->form) {

        if (n) {
            rc = ngx_twilio_validate_form(req, n, alloc, pool, cand, ncand);
            if (rc != NGX_TWILIO_OK) {
                return rc;
            }
        }

    } else if (req->body.len) {
        return NGX_TWILIO_BODY_UNSIGNED;
    }

    return claim;
}


/* the keys that may sign for the account the request claims */

static size_t
ngx_twilio_validate_eligible(const ngx_twilio_key_t *keys, size_t nkeys,
    const ngx_twilio_str_t *sid)
{
    size_t  k, eligible;

    eligible = 0;

    for (k = 0; k < nkeys; k++) {
        eligible += ngx_twilio_key_eligible(&keys[k], sid);
    }

    return eligible;
}


/*
 * One key over one URL and each candidate (or the URL alone): counts the
 * MACs in res->tried.  Returns NGX_TWILIO_OK on a match,
 * NGX_TWILIO_BAD_SIGNATURE or NGX_TWILIO_ERROR.
 */

static int
ngx_twilio_validate_sign(const ngx_twilio_request_t *req,
    ngx_twilio_mac_t *mac, const ngx_twilio_str_t *url,
    const ngx_twilio_str_t *cand, size_t ncand, ngx_twilio_result_t *res)
{
    size_t            c, b64_len;
    u_char            b64[NGX_TWILIO_SIG_MAX];
    ngx_twilio_str_t  parts[2];

    parts[0] = *url;

    for (c = 0; c < (ncand ? ncand : 1); c++) {

        if (ncand) {
            parts[1] = cand[c];

        } else {
            parts[1].len = 0;
            parts[1].data = NULL;
        }

        if (ngx_twilio_mac_sign(mac, parts, 2, b64, &b64_len) != 0) {
            return NGX_TWILIO_ERROR;
        }

        res->tried++;

        if (ngx_twilio_equal(b64, b64_len, req->signature.data,
                             req->signature.len))
        {
            return NGX_TWILIO_OK;
        }
    }

    return NGX_TWILIO_BAD_SIGNATURE;
}


/*
 * Each key that may sign for the account over the URL as given, then with
 * the port toggled (made once, when first needed).  On a match sets
 * res->key, and res->account when the request claims none.  Returns
 * NGX_TWILIO_OK, NGX_TWILIO_BAD_SIGNATURE or NGX_TWILIO_ERROR.
 */

static int
ngx_twilio_validate_keys(const ngx_twilio_request_t *req,
    const ngx_twilio_key_t *keys, size_t nkeys, ngx_twilio_alloc_pt alloc,
    void *pool, const ngx_twilio_str_t *sid, const ngx_twilio_str_t *cand,
    size_t ncand, ngx_twilio_result_t *res)
{
    int               rc;
    size_t            k, u;
    ngx_twilio_str_t  urls[2];

    urls[0] = req->url;
    urls[1].data = NULL;
    urls[1].len = 0;

    for (k = 0; k < nkeys; k++) {

        if (!ngx_twilio_key_eligible(&keys[k], sid)) {
            continue;
        }

        for (u = 0; u < 2; u++) {

            if (u == 1 && urls[1].data == NULL) {
                urls[1].data = alloc(pool, req->url.len
                                           + NGX_TWILIO_URL_TOGGLE_EXTRA);
                if (urls[1].data == NULL) {
                    return NGX_TWILIO_ERROR;
                }

                if (ngx_twilio_url_toggle_port(req->url.data, req->url.len,
                                               urls[1].data, &urls[1].len)
                    != 0)
                {
                    urls[1].len = 0;
                }
            }

            if (u == 1 && urls[1].len == 0) {
                break;
            }

            rc = ngx_twilio_validate_sign(req, keys[k].mac, &urls[u], cand,
                                          ncand, res);

            if (rc == NGX_TWILIO_OK) {
                res->key = k;

                if (sid->data == NULL) {
                    res->account = keys[k].account_sid;
                }
            }

            if (rc != NGX_TWILIO_BAD_SIGNATURE) {
                return rc;
            }
        }
    }

    return NGX_TWILIO_BAD_SIGNATURE;
}


/*
 * The whole check, as docs/signature.md describes it: the signature over the
 * URL (as given, then with the port toggled) and, for form bodies, the
 * sorted parameters (byte order, then Node's UTF-16 order where that can
 * differ), under each key that may sign for the claimed account; then the
 * body hash when the URL carries bodySHA256.
 */

void
ngx_twilio_validate(const ngx_twilio_request_t *req,
    const ngx_twilio_key_t *keys, size_t nkeys, ngx_twilio_alloc_pt alloc,
    void *pool, ngx_twilio_result_t *res)
{
    int               rc, hash;
    size_t            n, ncand, eligible;
    ngx_twilio_str_t  hex, cand[2], sid;

    res->reason = NGX_TWILIO_ERROR;
    res->key = 0;
    res->tried = 0;
    res->account.len = 0;
    res->account.data = NULL;

    /* the cheap rejections first, then the stage that reads parameters */

    rc = ngx_twilio_validate_cheap(req, &hash, &hex, &n);
    if (rc != NGX_TWILIO_OK) {
        res->reason = rc;
        return;
    }

    rc = ngx_twilio_validate_params(req, keys, nkeys, alloc, pool, hash, n,
                                    &sid, cand, &ncand, res);
    if (rc != NGX_TWILIO_OK) {
        res->reason = rc;
        return;
    }

    /* no request tries more than NGX_TWILIO_MAX_KEYS keys */

    eligible = ngx_twilio_validate_eligible(keys, nkeys, &sid);

    if (eligible > NGX_TWILIO_MAX_KEYS) {
        /*
         * before the body is read, a JSON body may still name the
         * account that narrows the keys: the check after the body decides
         */
        res->reason = req->body_later ? NGX_TWILIO_OK
                                      : NGX_TWILIO_UNKNOWN_ACCOUNT;
        return;
    }

    rc = ngx_twilio_validate_keys(req, keys, nkeys, alloc, pool, &sid, cand,
                                  ncand, res);

    if (rc == NGX_TWILIO_BAD_SIGNATURE) {
        res->reason = eligible ? NGX_TWILIO_BAD_SIGNATURE
                               : NGX_TWILIO_UNKNOWN_ACCOUNT;
        return;
    }

    if (rc != NGX_TWILIO_OK) {
        return;
    }

    if (hash == NGX_TWILIO_HASH_FOUND
        && !req->body_later
        && !ngx_twilio_body_hash_equal(req->body.data, req->body.len, &hex))
    {
        res->reason = NGX_TWILIO_BODY_HASH_MISMATCH;
        return;
    }

    res->reason = NGX_TWILIO_OK;
}


/*
 * X-Twilio-Webhooks-Signature-Settings: "key=<id>,algorithm=HMAC_SHA256",
 * in any order, with optional white space.  Returns NGX_TWILIO_OK with
 * key_id set, NGX_TWILIO_UNSUPPORTED_ALG or NGX_TWILIO_SETTINGS_MALFORMED.
 */

int
ngx_twilio_signature_settings(const u_char *value, size_t len,
    ngx_twilio_str_t *key_id)
{
    size_t            nlen;
    const u_char     *p, *last, *comma, *eq, *name, *v, *vend;
    ngx_twilio_str_t  alg;

    key_id->len = 0;
    key_id->data = NULL;
    alg.len = 0;
    alg.data = NULL;

    p = value;
    last = value + len;

    while (p < last) {
        comma = memchr(p, ',', last - p);
        if (comma == NULL) {
            comma = last;
        }

        while (p < comma && (*p == ' ' || *p == '\t')) {
            p++;
        }

        eq = memchr(p, '=', comma - p);
        if (eq == NULL) {
            return NGX_TWILIO_SETTINGS_MALFORMED;
        }

        name = p;
        nlen = eq - p;

        while (nlen && (name[nlen - 1] == ' ' || name[nlen - 1] == '\t')) {
            nlen--;
        }

        v = eq + 1;
        vend = comma;

        while (v < vend && (*v == ' ' || *v == '\t')) {
            v++;
        }

        while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t')) {
            vend--;
        }

        if (nlen == 3 && strncasecmp((const char *) name, "key", 3) == 0) {
            if (key_id->data != NULL || vend == v) {
                return NGX_TWILIO_SETTINGS_MALFORMED;
            }

            key_id->data = (u_char *) v;
            key_id->len = vend - v;

        } else if (nlen == 9
                   && strncasecmp((const char *) name, "algorithm", 9) == 0)
        {
            if (alg.data != NULL) {
                return NGX_TWILIO_SETTINGS_MALFORMED;
            }

            alg.data = (u_char *) v;
            alg.len = vend - v;
        }

        p = comma + 1;
    }

    if (key_id->data == NULL || alg.data == NULL) {
        return NGX_TWILIO_SETTINGS_MALFORMED;
    }

    if (alg.len != sizeof("HMAC_SHA256") - 1
        || strncasecmp((const char *) alg.data, "HMAC_SHA256", alg.len) != 0)
    {
        return NGX_TWILIO_UNSUPPORTED_ALG;
    }

    return NGX_TWILIO_OK;
}


int
ngx_twilio_token_valid(const u_char *token, size_t len)
{
    size_t  i;

    if (len == 0 || len > 256) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (token[i] <= 0x20 || token[i] >= 0x7f) {
            return 0;
        }
    }

    return 1;
}


int
ngx_twilio_account_sid_valid(const u_char *sid, size_t len)
{
    size_t  i;

    if (len != 34 || sid[0] != 'A' || sid[1] != 'C') {
        return 0;
    }

    for (i = 2; i < len; i++) {
        if (ngx_twilio_hex(sid[i]) < 0) {
            return 0;
        }
    }

    return 1;
}


/*
 * Secret files: one entry a line, fields separated by white space; blank
 * lines and lines starting with "#" are skipped.  Token files hold
 * "TOKEN" or "ACCOUNT_SID TOKEN", shared key files "KEY_ID SECRET" or
 * "KEY_ID SECRET ACCOUNT_SID".  Calls token (or shared) for each entry.
 * Returns 0, or -1 with *err_line set and *err saying what is wrong with
 * the line, or NULL when the handler failed (it reports its own errors).
 */

static int
ngx_twilio_secrets_parse(const u_char *buf, size_t len,
    ngx_twilio_token_pt token, ngx_twilio_shared_key_pt shared, void *data,
    size_t *err_line, const char **err)
{
    int               rc;
    size_t            line, nf;
    const u_char     *p, *last, *eol, *s;
    ngx_twilio_str_t  f[3];

    p = buf;
    last = buf + len;
    line = 0;

    while (p < last) {
        line++;

        eol = memchr(p, '\n', last - p);
        if (eol == NULL) {
            eol = last;
        }

        nf = 0;
        s = p;

        while (s < eol) {
            while (s < eol && (*s == ' ' || *s == '\t' || *s == '\r')) {
                s++;
            }

            if (s == eol) {
                break;
            }

            if (nf == 0 && *s == '#') {
                break;
            }

            if (nf == 3) {
                nf++;
                break;
            }

            f[nf].data = (u_char *) s;

            while (s < eol && *s != ' ' && *s != '\t' && *s != '\r') {
                s++;
            }

            f[nf].len = s - f[nf].data;
            nf++;
        }

        p = eol + 1;

        if (nf == 0) {
            continue;
        }

        *err_line = line;

        if (shared) {
            if (nf != 2 && nf != 3) {
                *err = "expected \"KEY_ID SECRET\" or \"KEY_ID SECRET "
                       "ACCOUNT_SID\"";
                return -1;
            }

            if (!ngx_twilio_token_valid(f[0].data, f[0].len)) {
                *err = "a key id must be 1 to 256 printable ASCII characters";
                return -1;
            }

            if (!ngx_twilio_token_valid(f[1].data, f[1].len)) {
                *err = "a secret must be 1 to 256 printable ASCII characters";
                return -1;
            }

            if (nf == 3
                && !ngx_twilio_account_sid_valid(f[2].data, f[2].len))
            {
                *err = "the account SID must be \"AC\" and 32 hex digits";
                return -1;
            }

            if (nf == 2) {
                f[2].len = 0;
                f[2].data = NULL;
            }

        } else {
            if (nf > 2) {
                *err = "expected \"TOKEN\" or \"ACCOUNT_SID TOKEN\"";
                return -1;
            }

            if (nf == 2
                && !ngx_twilio_account_sid_valid(f[0].data, f[0].len))
            {
                *err = "the account SID must be \"AC\" and 32 hex digits";
                return -1;
            }

            if (!ngx_twilio_token_valid(f[nf - 1].data, f[nf - 1].len)) {
                *err = "a token must be 1 to 256 printable ASCII characters";
                return -1;
            }

            if (nf == 1) {
                f[1] = f[0];
                f[0].len = 0;
                f[0].data = NULL;
            }
        }

        rc = shared ? shared(data, &f[0], &f[1], &f[2], line)
                    : token(data, &f[0], &f[1], line);

        if (rc != 0) {
            *err = NULL;        /* the handler has said what was wrong */
            return -1;
        }
    }

    return 0;
}


int
ngx_twilio_tokens_parse(const u_char *buf, size_t len,
    ngx_twilio_token_pt handler, void *data, size_t *err_line,
    const char **err)
{
    return ngx_twilio_secrets_parse(buf, len, handler, NULL, data, err_line,
                                    err);
}


int
ngx_twilio_shared_keys_parse(const u_char *buf, size_t len,
    ngx_twilio_shared_key_pt handler, void *data, size_t *err_line,
    const char **err)
{
    return ngx_twilio_secrets_parse(buf, len, NULL, handler, data, err_line,
                                    err);
}


/*
 * Values exported to nginx variables must be safe in a header line: the
 * bytes 00-1F, 7F and "%" itself become "%XX" (upper-case hex), every
 * other byte (including UTF-8) stays.  Since "%" is always escaped, the
 * rule is reversible: each "%XX" in the output is one byte of the input.
 * With dst NULL, returns the length the escaped value needs; otherwise
 * writes it and returns its length.
 */

size_t
ngx_twilio_export_escape(u_char *dst, const u_char *src, size_t len)
{
    size_t               i, n;
    u_char              *d;
    static const u_char  digits[] = "0123456789ABCDEF";

#define ngx_twilio_export_unsafe(c)  ((c) < 0x20 || (c) == 0x7f || (c) == '%')

    if (dst == NULL) {
        n = len;

        for (i = 0; i < len; i++) {
            if (ngx_twilio_export_unsafe(src[i])) {
                n += 2;
            }
        }

        return n;
    }

    d = dst;

    for (i = 0; i < len; i++) {
        if (ngx_twilio_export_unsafe(src[i])) {
            *d++ = '%';
            *d++ = digits[src[i] >> 4];
            *d++ = digits[src[i] & 0xf];

        } else {
            *d++ = src[i];
        }
    }

#undef ngx_twilio_export_unsafe

    return d - dst;
}


/*
 * Whether the raw (still escaped) key [p, last) decodes to name, letter
 * case of ASCII ignored; decodes byte by byte, without a buffer.
 */

static int
ngx_twilio_key_is(const u_char *p, const u_char *last, const u_char *name,
    size_t nlen)
{
    size_t   i;
    u_char   c, *d;

    for (i = 0; p < last; i++) {
        d = &c;

        if (*p == '+' || *p == '%') {
            p = ngx_twilio_decode_escape(&d, p, last);

        } else {
            c = *p++;
        }

        if (i == nlen || ngx_twilio_lower(c) != ngx_twilio_lower(name[i])) {
            return 0;
        }
    }

    return i == nlen;
}


/*
 * The parameters a request's variables read: the form body when its
 * parameters were signed (a form without bodySHA256 in the URL), else the
 * URL's query (before any "#").
 */

static void
ngx_twilio_param_list(const ngx_twilio_request_t *req, const u_char **p,
    const u_char **last)
{
    const u_char      *q;
    ngx_twilio_str_t   hex;

    *p = NULL;
    *last = NULL;

    if (req->url.len == 0) {
        return;
    }

    if (req->form
        && ngx_twilio_url_body_hash(req->url.data, req->url.len, &hex)
           == NGX_TWILIO_HASH_NONE)
    {
        if (req->body.len) {
            /* an empty body may come as NULL: no arithmetic on it */
            *p = req->body.data;
            *last = req->body.data + req->body.len;
        }

        return;
    }

    *last = memchr(req->url.data, '#', req->url.len);
    if (*last == NULL) {
        *last = req->url.data + req->url.len;
    }

    q = memchr(req->url.data, '?', *last - req->url.data);

    *p = q ? q + 1 : *last;
}


/*
 * $twilio_param_NAME: the raw value of the first parameter, in the order
 * of the list, whose decoded key equals name with ASCII letter case
 * ignored (nginx lower-cases variable names).  Returns 1 and sets raw,
 * or 0.
 */

int
ngx_twilio_param_lookup(const ngx_twilio_request_t *req, const u_char *name,
    size_t nlen, ngx_twilio_str_t *raw)
{
    const u_char  *p, *last, *amp, *eq;

    ngx_twilio_param_list(req, &p, &last);

    while (p < last) {
        amp = memchr(p, '&', last - p);
        if (amp == NULL) {
            amp = last;
        }

        eq = memchr(p, '=', amp - p);
        if (eq == NULL) {
            eq = amp;
        }

        if (amp > p && ngx_twilio_key_is(p, eq, name, nlen)) {
            raw->data = (u_char *) (eq < amp ? eq + 1 : amp);
            raw->len = amp - raw->data;
            return 1;
        }

        p = amp + 1;
    }

    return 0;
}


/*
 * Whether a decoded name is "AccountSid" the way any application could
 * read it: ASCII letter case ignored, and the three non-ASCII letters
 * that common case-insensitive matching (Java's equalsIgnoreCase, .NET's
 * OrdinalIgnoreCase, Go's EqualFold) takes for "s" or "i": U+017F (long
 * s), U+0130 and U+0131 (dotted and dotless I).
 */

int
ngx_twilio_account_name(const u_char *name, size_t len)
{
    size_t               i;
    const u_char        *p, *last;
    static const u_char  expect[] = "accountsid";

    p = name;
    last = name + len;

    for (i = 0; i < sizeof(expect) - 1; i++) {

        if (p == last) {
            return 0;
        }

        if (ngx_twilio_lower(*p) == expect[i]) {
            p++;
            continue;
        }

        if (last - p < 2) {
            return 0;
        }

        if (expect[i] == 's' && p[0] == 0xc5 && p[1] == 0xbf) {
            p += 2;
            continue;
        }

        if (expect[i] == 'i' && p[0] == 0xc4 && (p[1] == 0xb0 || p[1] == 0xb1))
        {
            p += 2;
            continue;
        }

        return 0;
    }

    return p == last;
}


/*
 * Whether a raw (still escaped) key names an account for some reader:
 * decoded, with everything but letters dropped and the letters folded as
 * ngx_twilio_account_name() folds them, it contains "accountsid".  So
 * " AccountSid" (PHP drops leading spaces), "AccountSid%00x" (PHP cuts
 * at NUL), "AccountSid[]" (PHP, qs, Rack arrays) and "request.AccountSid"
 * (ASP.NET prefixes) all count.  Decodes byte by byte, without a buffer.
 */

static int
ngx_twilio_key_names_account(const u_char *p, const u_char *last)
{
    size_t               m;
    u_char               c, lead, letter, *d;
    static const u_char  expect[] = "accountsid";

    m = 0;
    lead = 0;

    while (p < last) {

        if (m == 0 && (*p | 0x20) != 'a' && *p != '%') {
            /* no byte but "a", "A" or an escape can start the name */
            p++;
            lead = 0;
            continue;
        }

        d = &c;

        if (*p == '+' || *p == '%') {
            p = ngx_twilio_decode_escape(&d, p, last);

        } else {
            c = *p++;
        }

        letter = 0;

        /* U+017F (long s), U+0130 and U+0131 (dotted and dotless I) */

        if (lead == 0xc5 && c == 0xbf) {
            letter = 's';

        } else if (lead == 0xc4 && (c == 0xb0 || c == 0xb1)) {
            letter = 'i';
        }

        lead = 0;

        if (letter == 0) {
            if (c == 0xc4 || c == 0xc5) {
                lead = c;
                continue;
            }

            letter = ngx_twilio_lower(c);

            if (letter < 'a' || letter > 'z') {
                continue;
            }
        }

        /* "a" starts "accountsid" and occurs nowhere else in it */

        if (letter == expect[m]) {
            if (++m == sizeof(expect) - 1) {
                return 1;
            }

        } else {
            m = (letter == 'a');
        }
    }

    return 0;
}


/*
 * The parameters that name an account (see ngx_twilio_key_names_account())
 * in a list separated by "&" or ";" (Rack 2, Perl's CGI, older Python and
 * Go split on both): returns how many, with the raw value of the first in
 * *raw.
 *
 * One pass over the bytes, 16 at a time, that stops only at "&", ";",
 * "=" and, in a key, at "d", "D" and "%".  Only a key that may decode to
 * the ten letters of "accountsid" is decoded: one of at least ten bytes
 * (no escape makes a key longer once decoded) with a "d" in it, as "d",
 * "D", "%64" or "%44", and with "a", "c", "o", "u", "n" and "t" in either
 * case, unless it has a "%" ("+" decodes to a space, the three folded
 * letters of ngx_twilio_account_name() to "s" and "i").
 */

#define NGX_TWILIO_CLAIM_SEP    0x01
#define NGX_TWILIO_CLAIM_EQ     0x02
#define NGX_TWILIO_CLAIM_D      0x04
#define NGX_TWILIO_CLAIM_PCT    0x08

static const u_char  ngx_twilio_claim_class[256] = {
    ['&'] = NGX_TWILIO_CLAIM_SEP,
    [';'] = NGX_TWILIO_CLAIM_SEP,
    ['='] = NGX_TWILIO_CLAIM_EQ,
    ['d'] = NGX_TWILIO_CLAIM_D,
    ['D'] = NGX_TWILIO_CLAIM_D,
    ['%'] = NGX_TWILIO_CLAIM_PCT
};


typedef struct {
    const u_char      *start;     /* of the parameter */
    const u_char      *eq;        /* its first "=", NULL while in the key */
    const u_char      *last;
    unsigned           maybe;     /* the key may name an account */
    size_t             n;
    ngx_twilio_str_t  *raw;
} ngx_twilio_claim_scan_t;


/*
 * The letters of "accountsid" no other byte decodes to ("s" and "i" have
 * folded forms), and "%": a key with no "%" needs them all.
 */

static const u_char  ngx_twilio_claim_letter[256] = {
    ['a'] = 0x01, ['A'] = 0x01, ['c'] = 0x02, ['C'] = 0x02,
    ['o'] = 0x04, ['O'] = 0x04, ['u'] = 0x08, ['U'] = 0x08,
    ['n'] = 0x10, ['N'] = 0x10, ['t'] = 0x20, ['T'] = 0x20,
    ['%'] = 0x3f
};


/* the parameter [s->start, end), whose key may name an account, ends */

static void
ngx_twilio_claim_param(ngx_twilio_claim_scan_t *s, const u_char *end)
{
    unsigned       seen;
    const u_char  *p, *key_end;

    key_end = s->eq ? s->eq : end;

    if (key_end - s->start < 10) {
        return;
    }

    seen = 0;

    for (p = s->start; p < key_end; p++) {
        seen |= ngx_twilio_claim_letter[*p];
    }

    if (seen == 0x3f && ngx_twilio_key_names_account(s->start, key_end)) {
        if (s->n++ == 0) {
            s->raw->data = (u_char *) (s->eq ? s->eq + 1 : end);
            s->raw->len = end - s->raw->data;
        }
    }
}


/* one byte of class cls at q */

static inline void
ngx_twilio_claim_byte(ngx_twilio_claim_scan_t *s, const u_char *q,
    unsigned cls)
{
    if (cls & NGX_TWILIO_CLAIM_SEP) {
        if (s->maybe) {
            ngx_twilio_claim_param(s, q);
        }

        s->start = q + 1;
        s->eq = NULL;
        s->maybe = 0;
        return;
    }

    if (s->eq) {
        /* in the value */
        return;
    }

    if (cls & NGX_TWILIO_CLAIM_EQ) {
        s->eq = q;
        return;
    }

    if (cls & NGX_TWILIO_CLAIM_D
        || (s->last - q > 2 && q[2] == '4' && (q[1] == '6' || q[1] == '4')))
    {
        s->maybe = 1;
    }
}


#if (NGX_TWILIO_SSE2)

/* where the 16 bytes v at p (18 readable) have a "d", "D", "%64", "%44" */

static inline unsigned
ngx_twilio_claim_d(__m128i v, const u_char *p)
{
    __m128i  v1, v2;

    v1 = _mm_loadu_si128((const __m128i *) (p + 1));
    v2 = _mm_loadu_si128((const __m128i *) (p + 2));

    /* "4" | 2 and "6" | 2 are "6", no other digit's */

    return _mm_movemask_epi8(_mm_or_si128(
               _mm_cmpeq_epi8(_mm_or_si128(v, _mm_set1_epi8(0x20)),
                              _mm_set1_epi8('d')),
               _mm_and_si128(
                   _mm_and_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('%')),
                                 _mm_cmpeq_epi8(v2, _mm_set1_epi8('4'))),
                   _mm_cmpeq_epi8(_mm_or_si128(v1, _mm_set1_epi8(0x02)),
                                  _mm_set1_epi8('6')))));
}

#endif


static size_t
ngx_twilio_list_accounts(const u_char *p, const u_char *last,
    ngx_twilio_str_t *raw)
{
    unsigned                  cls;
    ngx_twilio_claim_scan_t   s;
#if (NGX_TWILIO_SSE2)
    unsigned                  i, j, m, rest, msep, meq, md;
    __m128i                   v, vsep, veq, vd;
#endif

    if (p >= last) {
        return 0;
    }

    s.start = p;
    s.eq = NULL;
    s.last = last;
    s.maybe = 0;
    s.n = 0;
    s.raw = raw;

#if (NGX_TWILIO_SSE2)

    /*
     * 16 bytes at a time: the separators, the "=", and the "d"s of a key
     * ("d", "D", "%64", "%44"), looked at only where they matter
     */

    while (last - p >= 18) {
        v = _mm_loadu_si128((const __m128i *) p);

        vsep = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('&')),
                            _mm_cmpeq_epi8(v, _mm_set1_epi8(';')));
        veq = _mm_cmpeq_epi8(v, _mm_set1_epi8('='));
        vd = _mm_or_si128(_mm_cmpeq_epi8(_mm_or_si128(v, _mm_set1_epi8(0x20)),
                                         _mm_set1_epi8('d')),
                          _mm_cmpeq_epi8(v, _mm_set1_epi8('%')));

        if (_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(vsep, veq), vd))
            == 0)
        {
            /* nothing of interest: most blocks of most bodies */
            p += 16;
            continue;
        }

        msep = _mm_movemask_epi8(vsep);
        meq = _mm_movemask_epi8(veq);

        if ((msep | meq) == 0 && (s.eq || s.maybe)) {
            /* in a value, or a key already known to be a candidate */
            p += 16;
            continue;
        }

        md = ngx_twilio_claim_d(v, p);
        rest = 0xffff;

        for ( ;; ) {
            m = msep;

            if (s.eq == NULL) {
                m |= meq | (s.maybe ? 0 : md);
            }

            m &= rest;

            if (m == 0) {
                break;
            }

            i = __builtin_ctz(m);
            ngx_twilio_claim_byte(&s, p + i, ngx_twilio_claim_class[p[i]]);
            rest = (0xfffeu << i) & 0xffff;

            if (!(msep & (1u << i)) || (msep & rest) == 0) {
                continue;
            }

            /*
             * with no "d" before the block's last separator, no parameter
             * in between may name an account: on to that separator
             */

            j = 31 - __builtin_clz(msep);

            if ((md & rest & ((1u << j) - 1)) == 0) {
                s.start = p + j + 1;
                s.eq = NULL;
                s.maybe = 0;
                rest = (0xfffeu << j) & 0xffff;
            }
        }

        p += 16;
    }

#endif

    for ( /* void */ ; p < last; p++) {
        cls = ngx_twilio_claim_class[*p];

        if (cls) {
            ngx_twilio_claim_byte(&s, p, cls);
        }
    }

    if (s.maybe) {
        ngx_twilio_claim_param(&s, last);
    }

    return s.n;
}


/*
 * Whether a body is read as JSON by applications that parse the body as
 * JSON whatever its type: after an optional UTF-8 byte order mark and
 * JSON white space, it starts with "{" or "[".
 */

int
ngx_twilio_json_like(const u_char *p, size_t len)
{
    const u_char  *last;

    if (len == 0) {
        /* an empty body may come as NULL: no arithmetic on it */
        return 0;
    }

    last = p + len;

    if (len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
        p += 3;
    }

    while (p < last
           && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
    {
        p++;
    }

    return p < last && (*p == '{' || *p == '[');
}


/*
 * A strict JSON (RFC 8259) reader that calls handler for each member
 * named AccountSid (see ngx_twilio_account_name(), after "\u" escapes are
 * decoded), at any depth, with its decoded string value, or NULL when the
 * value is not a string.  buf needs len bytes: each string is decoded at
 * its own offset, so every value handed out stays valid until the end.
 * Iterative, at most NGX_TWILIO_JSON_DEPTH levels deep.  Strings must be
 * UTF-8 without unpaired surrogates; no byte order mark.  Returns 0, or
 * -1 for anything that is not one well-formed JSON text.
 */

static const u_char *
ngx_twilio_json_ws(const u_char *p, const u_char *last)
{
    while (p < last && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    {
        p++;
    }

    return p;
}


static const u_char *
ngx_twilio_json_hex4(const u_char *p, const u_char *last, unsigned *cp)
{
    int       i, h;

    if (last - p < 4) {
        return NULL;
    }

    *cp = 0;

    for (i = 0; i < 4; i++) {
        h = ngx_twilio_hex(p[i]);
        if (h < 0) {
            return NULL;
        }

        *cp = (*cp << 4) | h;
    }

    return p + 4;
}


/*
 * The length of the strict UTF-8 sequence at p (no overlong form, no
 * surrogate, nothing above U+10FFFF), or 0.
 */

static size_t
ngx_twilio_utf8_len(const u_char *p, const u_char *last)
{
    unsigned  cp, n, i, min;

    if (*p >= 0xc2 && *p <= 0xdf) {
        n = 1; cp = *p & 0x1f; min = 0x80;

    } else if (*p >= 0xe0 && *p <= 0xef) {
        n = 2; cp = *p & 0x0f; min = 0x800;

    } else if (*p >= 0xf0 && *p <= 0xf4) {
        n = 3; cp = *p & 0x07; min = 0x10000;

    } else {
        return 0;
    }

    if ((size_t) (last - p) <= n) {
        return 0;
    }

    for (i = 1; i <= n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }

        cp = (cp << 6) | (p[i] & 0x3f);
    }

    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }

    return n + 1;
}


/*
 * The escape at p (a backslash): writes the character it stands for, as
 * UTF-8, at *dp; a "\u" surrogate must be a high one followed by a low one.
 * Never writes more bytes than it reads.  Returns what follows, or NULL.
 */

static const u_char *
ngx_twilio_json_escape(const u_char *p, const u_char *last, u_char **dp)
{
    u_char              *d;
    unsigned             cp, lo;
    const u_char        *c;
    static const u_char  from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";

    d = *dp;

    if (last - p < 2) {
        return NULL;
    }

    if (p[1] != 'u') {
        c = memchr(from, p[1], sizeof(from) - 1);
        if (c == NULL) {
            return NULL;
        }

        *d++ = to[c - from];
        *dp = d;

        return p + 2;
    }

    p = ngx_twilio_json_hex4(p + 2, last, &cp);
    if (p == NULL || (cp >= 0xdc00 && cp <= 0xdfff)) {
        return NULL;
    }

    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (last - p < 2 || p[0] != '\\' || p[1] != 'u') {
            return NULL;
        }

        p = ngx_twilio_json_hex4(p + 2, last, &lo);
        if (p == NULL || lo < 0xdc00 || lo > 0xdfff) {
            return NULL;
        }

        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }

    if (cp < 0x80) {
        *d++ = (u_char) cp;

    } else if (cp < 0x800) {
        *d++ = (u_char) (0xc0 | (cp >> 6));
        *d++ = (u_char) (0x80 | (cp & 0x3f));

    } else if (cp < 0x10000) {
        *d++ = (u_char) (0xe0 | (cp >> 12));
        *d++ = (u_char) (0x80 | ((cp >> 6) & 0x3f));
        *d++ = (u_char) (0x80 | (cp & 0x3f));

    } else {
        *d++ = (u_char) (0xf0 | (cp >> 18));
        *d++ = (u_char) (0x80 | ((cp >> 12) & 0x3f));
        *d++ = (u_char) (0x80 | ((cp >> 6) & 0x3f));
        *d++ = (u_char) (0x80 | (cp & 0x3f));
    }

    *dp = d;

    return p;
}


/*
 * A string: p is past the opening quote.  Writes the decoded string at
 * out (never longer than the raw one).  Returns past the closing quote,
 * or NULL.
 */

static const u_char *
ngx_twilio_json_string(const u_char *p, const u_char *last, u_char *out,
    size_t *out_len)
{
    size_t   n;
    u_char  *d;

    d = out;

    while (p < last) {

        if (*p == '"') {
            *out_len = d - out;
            return p + 1;
        }

        if (*p == '\\') {
            p = ngx_twilio_json_escape(p, last, &d);
            if (p == NULL) {
                return NULL;
            }

            continue;
        }

        if (*p < 0x20) {
            return NULL;
        }

        if (*p < 0x80) {
            *d++ = *p++;
            continue;
        }

        n = ngx_twilio_utf8_len(p, last);
        if (n == 0) {
            return NULL;
        }

        while (n--) {
            *d++ = *p++;
        }
    }

    return NULL;
}


/* a number or a literal; returns what follows, or NULL */

static const u_char *
ngx_twilio_json_scalar(const u_char *p, const u_char *last)
{
    size_t         n;
    const u_char  *s;

    if (*p == 't' || *p == 'f' || *p == 'n') {
        s = (*p == 't') ? (u_char *) "true"
            : (*p == 'f') ? (u_char *) "false" : (u_char *) "null";
        n = strlen((const char *) s);

        if ((size_t) (last - p) < n || memcmp(p, s, n) != 0) {
            return NULL;
        }

        return p + n;
    }

    /* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */

#define ngx_twilio_digit(p)  ((p) < last && *(p) >= '0' && *(p) <= '9')

    if (*p == '-') {
        p++;
    }

    if (!ngx_twilio_digit(p)) {
        return NULL;
    }

    if (*p++ != '0') {
        while (ngx_twilio_digit(p)) {
            p++;
        }
    }

    if (p < last && *p == '.') {
        p++;

        if (!ngx_twilio_digit(p)) {
            return NULL;
        }

        while (ngx_twilio_digit(p)) {
            p++;
        }
    }

    if (p < last && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < last && (*p == '+' || *p == '-')) {
            p++;
        }

        if (!ngx_twilio_digit(p)) {
            return NULL;
        }

        while (ngx_twilio_digit(p)) {
            p++;
        }
    }

#undef ngx_twilio_digit

    return p;
}


int
ngx_twilio_json_accounts(const u_char *json, size_t len, u_char *buf,
    ngx_twilio_json_account_pt handler, void *data)
{
    int                account;
    size_t             depth, n;
    u_char             stack[NGX_TWILIO_JSON_DEPTH];
    const u_char      *p, *last;
    ngx_twilio_str_t   value;

    if (len == 0) {
        return -1;
    }

    p = json;
    last = json + len;
    depth = 0;
    account = 0;

value:

    p = ngx_twilio_json_ws(p, last);

    if (p == last) {
        return -1;
    }

    if (*p == '"') {
        value.data = buf + (p + 1 - json);
        p = ngx_twilio_json_string(p + 1, last, value.data, &value.len);
        if (p == NULL) {
            return -1;
        }

        if (account) {
            handler(data, &value);
        }

        goto next;
    }

    if (account) {
        handler(data, NULL);
    }

    if (*p == '{' || *p == '[') {
        if (depth == NGX_TWILIO_JSON_DEPTH) {
            return -1;
        }

        stack[depth++] = *p;
        p = ngx_twilio_json_ws(p + 1, last);

        if (p < last && *p == (stack[depth - 1] == '{' ? '}' : ']')) {
            depth--;
            p++;
            goto next;
        }

        if (stack[depth - 1] == '{') {
            goto member;
        }

        account = 0;
        goto value;
    }

    p = ngx_twilio_json_scalar(p, last);
    if (p == NULL) {
        return -1;
    }

next:

    p = ngx_twilio_json_ws(p, last);

    if (depth == 0) {
        return p == last ? 0 : -1;
    }

    if (p == last) {
        return -1;
    }

    if (*p == (stack[depth - 1] == '{' ? '}' : ']')) {
        depth--;
        p++;
        goto next;
    }

    if (*p != ',') {
        return -1;
    }

    p++;

    if (stack[depth - 1] == '[') {
        account = 0;
        goto value;
    }

member:

    p = ngx_twilio_json_ws(p, last);

    if (p == last || *p != '"') {
        return -1;
    }

    value.data = buf + (p + 1 - json);
    p = ngx_twilio_json_string(p + 1, last, value.data, &n);
    if (p == NULL) {
        return -1;
    }

    account = ngx_twilio_account_name(value.data, n);

    p = ngx_twilio_json_ws(p, last);

    if (p == last || *p != ':') {
        return -1;
    }

    p++;

    goto value;
}


typedef struct {
    ngx_twilio_str_t  *sid;
    unsigned           ambiguous:1;
} ngx_twilio_json_claim_t;


static void
ngx_twilio_json_claim(void *data, const ngx_twilio_str_t *value)
{
    ngx_twilio_json_claim_t  *jc = data;

    if (value == NULL) {
        jc->ambiguous = 1;
        return;
    }

    if (jc->sid->data == NULL) {
        *jc->sid = *value;
        return;
    }

    if (jc->sid->len != value->len
        || memcmp(jc->sid->data, value->data, value->len) != 0)
    {
        jc->ambiguous = 1;
    }
}


/*
 * The account a request claims, decided once for the signature check
 * and for $twilio_account_sid:
 *
 *   - every parameter that names an account (see
 *     ngx_twilio_key_names_account()) in the request's query (req->query,
 *     else the URL's, "#" and what follows included) and, for a form, in
 *     the body counts, "&" and ";" separating parameters; more than one
 *     is NGX_TWILIO_ACCOUNT_AMBIGUOUS;
 *   - with json set, a form body that reads as JSON (see
 *     ngx_twilio_json_like()) is NGX_TWILIO_ACCOUNT_AMBIGUOUS: the guard
 *     would read it as a form, many applications as JSON;
 *   - with json set, a body that is not a form but is signed through
 *     bodySHA256 must be JSON (else NGX_TWILIO_JSON_MALFORMED), and every
 *     member named AccountSid in it, at any depth, must be a string equal
 *     to the others and to the query's (else NGX_TWILIO_ACCOUNT_AMBIGUOUS).
 *
 * Returns NGX_TWILIO_OK with *sid the decoded claim, sid->data NULL when
 * the request claims no account; or one of the reasons above, or
 * NGX_TWILIO_ERROR when an allocation failed.
 */

int
ngx_twilio_account_claim(const ngx_twilio_request_t *req, int json,
    ngx_twilio_alloc_pt alloc, void *pool, ngx_twilio_str_t *sid)
{
    int                       hash;
    size_t                    n, m;
    u_char                   *buf;
    const u_char             *p;
    ngx_twilio_str_t          raw, other, hex;
    ngx_twilio_json_claim_t   jc;

    sid->data = NULL;
    sid->len = 0;

    n = 0;

    /* the whole query, "#" included: proxy_pass and Go read past it */

    if (req->query.data) {
        n = ngx_twilio_list_accounts(req->query.data,
                                     req->query.data + req->query.len, &raw);

    } else if (req->url.len) {
        p = memchr(req->url.data, '?', req->url.len);
        if (p) {
            n = ngx_twilio_list_accounts(p + 1, req->url.data + req->url.len,
                                         &raw);
        }
    }

    /* before the body is read (body_later), only the query can claim */

    if (req->form && req->body.len && !req->body_later) {

        /* a form for the guard, JSON for many applications */

        if (json && ngx_twilio_json_like(req->body.data, req->body.len)) {
            return NGX_TWILIO_ACCOUNT_AMBIGUOUS;
        }

        m = ngx_twilio_list_accounts(req->body.data,
                                     req->body.data + req->body.len, &other);
        if (n == 0) {
            raw = other;
        }

        n += m;
    }

    if (n > 1) {
        return NGX_TWILIO_ACCOUNT_AMBIGUOUS;
    }

    if (n == 1) {
        sid->data = alloc(pool, raw.len ? raw.len : 1);
        if (sid->data == NULL) {
            return NGX_TWILIO_ERROR;
        }

        sid->len = ngx_twilio_unescape(sid->data, raw.data, raw.len);
    }

    hash = req->url.len ? ngx_twilio_url_body_hash(req->url.data,
                                                   req->url.len, &hex)
                        : NGX_TWILIO_HASH_NONE;

    if (!json || req->form || req->body.len == 0 || req->body_later
        || hash != NGX_TWILIO_HASH_FOUND)
    {
        return NGX_TWILIO_OK;
    }

    buf = alloc(pool, req->body.len);
    if (buf == NULL) {
        return NGX_TWILIO_ERROR;
    }

    jc.sid = sid;
    jc.ambiguous = 0;

    if (ngx_twilio_json_accounts(req->body.data, req->body.len, buf,
                                 ngx_twilio_json_claim, &jc)
        != 0)
    {
        sid->data = NULL;
        return NGX_TWILIO_JSON_MALFORMED;
    }

    if (jc.ambiguous) {
        sid->data = NULL;
        return NGX_TWILIO_ACCOUNT_AMBIGUOUS;
    }

    return NGX_TWILIO_OK;
}


/*
 * A label value for the Prometheus text exposition format: a backslash,
 * a double quote and a line feed are escaped as the format says; every
 * other byte outside printable ASCII becomes "_", so that the output is
 * always valid UTF-8 with no control bytes.  Returns the length written;
 * dst holds at least 2 * len bytes.
 */

size_t
ngx_twilio_label_escape(u_char *dst, const u_char *src, size_t len)
{
    u_char  *p;
    size_t   i;

    p = dst;

    for (i = 0; i < len; i++) {

        switch (src[i]) {

        case '\\':
        case '"':
            *p++ = '\\';
            *p++ = src[i];
            break;

        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;

        default:
            *p++ = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '_';
        }
    }

    return (size_t) (p - dst);
}
