
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * Helpers shared by the libFuzzer targets of the pure core: property
 * checks, an arena allocator, a deterministic PRNG and &-segment
 * shuffling.  Each target includes this file once.
 */


#ifndef _NGX_TWILIO_FUZZ_COMMON_H_INCLUDED_
#define _NGX_TWILIO_FUZZ_COMMON_H_INCLUDED_


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_twilio_guard_core.h"


/* each target uses only some of these */
#define FUZZ_HELPER  static __attribute__((unused))


/* a violated property: say which, then die so libFuzzer keeps the input */

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "PROPERTY VIOLATED: %s at %s:%d\n", #cond,         \
                    __FILE__, __LINE__);                                      \
            abort();                                                          \
        }                                                                     \
    } while (0)


/*
 * The arena: every block is its own malloc() so that AddressSanitizer
 * sees overflows past what the core asked for; all are freed at once.
 */

typedef struct fuzz_block_s  fuzz_block_t;

struct fuzz_block_s {
    fuzz_block_t  *next;
    size_t         size;
    /* the caller's bytes follow, aligned like max_align_t */
    _Alignas(16) unsigned char  data[];
};


typedef struct {
    fuzz_block_t  *blocks;
    size_t         total;          /* bytes handed out */
    size_t         count;          /* allocations */
    size_t         fail_at;        /* 1-based allocation that fails, or 0 */
} fuzz_arena_t;


FUZZ_HELPER void *
fuzz_alloc(void *pool, size_t size)
{
    fuzz_arena_t  *a = pool;
    fuzz_block_t  *b;

    a->count++;

    if (a->fail_at && a->count == a->fail_at) {
        return NULL;
    }

    /* a zero-size request is legal for the core's contract: give a block */
    b = malloc(sizeof(fuzz_block_t) + (size ? size : 1));
    if (b == NULL) {
        abort();
    }

    b->next = a->blocks;
    b->size = size;
    a->blocks = b;
    a->total += size;

    return b->data;
}


FUZZ_HELPER void
fuzz_arena_init(fuzz_arena_t *a, size_t fail_at)
{
    a->blocks = NULL;
    a->total = 0;
    a->count = 0;
    a->fail_at = fail_at;
}


FUZZ_HELPER void
fuzz_arena_free(fuzz_arena_t *a)
{
    fuzz_block_t  *b, *next;

    for (b = a->blocks; b; b = next) {
        next = b->next;
        free(b);
    }

    a->blocks = NULL;
}


/* FNV-1a, to seed the PRNG from the input so that runs are reproducible */

FUZZ_HELPER uint64_t
fuzz_hash(const uint8_t *p, size_t len)
{
    size_t    i;
    uint64_t  h;

    h = 0xcbf29ce484222325ULL;

    for (i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }

    return h ? h : 1;
}


/* xorshift64* */

FUZZ_HELPER uint64_t
fuzz_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;

    return *s * 0x2545f4914f6cdd1dULL;
}


/*
 * Rebuilds a form body with its non-empty &-segments in another order
 * (Fisher-Yates, driven by *seed) and, now and then, empty segments
 * added.  out needs 2 * len + 2 bytes.  Returns the new length.
 */

FUZZ_HELPER size_t
fuzz_shuffle_segments(const uint8_t *body, size_t len, uint64_t *seed,
    uint8_t *out)
{
    size_t          n, i, j, k;
    uint8_t        *o;
    const uint8_t  *p, *last, *amp;
    struct {
        const uint8_t  *data;
        size_t          len;
    }              *seg, tmp;

    seg = malloc((len / 2 + 2) * sizeof(*seg));
    if (seg == NULL) {
        abort();
    }

    n = 0;
    p = body;
    last = body + len;

    while (p < last) {
        amp = memchr(p, '&', last - p);
        if (amp == NULL) {
            amp = last;
        }

        if (amp > p) {
            seg[n].data = p;
            seg[n].len = amp - p;
            n++;
        }

        p = amp + 1;
    }

    for (i = n; i > 1; i--) {
        j = fuzz_rand(seed) % i;
        tmp = seg[i - 1];
        seg[i - 1] = seg[j];
        seg[j] = tmp;
    }

    o = out;

    for (k = 0; k < n; k++) {
        if (k > 0) {
            *o++ = '&';
        }

        if ((fuzz_rand(seed) & 7) == 0) {
            *o++ = '&';                         /* an empty segment */
        }

        memcpy(o, seg[k].data, seg[k].len);
        o += seg[k].len;
    }

    if (n && (fuzz_rand(seed) & 7) == 0) {
        *o++ = '&';
    }

    free(seg);

    return o - out;
}


/*
 * Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
 */

FUZZ_HELPER int
fuzz_utf8_valid(const uint8_t *p, size_t len)
{
    size_t    i, n, k;
    uint32_t  c, min;

    for (i = 0; i < len; /* void */ ) {
        c = p[i];

        if (c < 0x80) {
            i++;
            continue;
        }

        if ((c & 0xe0) == 0xc0) {
            n = 1; c &= 0x1f; min = 0x80;

        } else if ((c & 0xf0) == 0xe0) {
            n = 2; c &= 0x0f; min = 0x800;

        } else if ((c & 0xf8) == 0xf0) {
            n = 3; c &= 0x07; min = 0x10000;

        } else {
            return 0;
        }

        if (len - i - 1 < n) {
            return 0;
        }

        for (k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return 0;
            }

            c = (c << 6) | (p[i + k] & 0x3f);
        }

        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
            return 0;
        }

        i += n + 1;
    }

    return 1;
}


/*
 * UTF-16 code units of strictly valid UTF-8, written independently of
 * the core's decoder (which also has to cope with invalid input).
 * units needs len entries.  Returns the number of units.
 */

FUZZ_HELPER size_t
fuzz_utf16_units(const uint8_t *p, size_t len, uint16_t *units)
{
    size_t    i, n, k, u;
    uint32_t  c;

    u = 0;

    for (i = 0; i < len; i += n + 1) {
        c = p[i];
        n = c < 0x80 ? 0 : c < 0xe0 ? 1 : c < 0xf0 ? 2 : 3;
        c &= n == 0 ? 0x7f : n == 1 ? 0x1f : n == 2 ? 0x0f : 0x07;

        for (k = 1; k <= n; k++) {
            c = (c << 6) | (p[i + k] & 0x3f);
        }

        if (c >= 0x10000) {
            c -= 0x10000;
            units[u++] = (uint16_t) (0xd800 + (c >> 10));
            units[u++] = (uint16_t) (0xdc00 + (c & 0x3ff));

        } else {
            units[u++] = (uint16_t) c;
        }
    }

    return u;
}


/*
 * A reference x-www-form-urlencoded decoder, written from docs/signature.md:
 * "+" is a space, "%" and two hex digits a byte, anything else as is.
 */

FUZZ_HELPER int
fuzz_hexval(uint8_t c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


FUZZ_HELPER size_t
fuzz_unescape(uint8_t *dst, const uint8_t *src, size_t len)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        if (src[i] == '+') {
            dst[n++] = ' ';

        } else if (src[i] == '%' && i + 2 < len
                   && fuzz_hexval(src[i + 1]) >= 0
                   && fuzz_hexval(src[i + 2]) >= 0)
        {
            dst[n++] = (uint8_t) (fuzz_hexval(src[i + 1]) * 16
                                  + fuzz_hexval(src[i + 2]));
            i += 2;

        } else {
            dst[n++] = src[i];
        }
    }

    return n;
}


/* plain bytewise comparison of two strings, shorter first on a tie */

FUZZ_HELPER int
fuzz_cmp_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int  rc;

    rc = memcmp(a, b, alen < blen ? alen : blen);

    if (rc != 0) {
        return rc;
    }

    return (alen > blen) - (alen < blen);
}


/*
 * A reference reading of "this name is AccountSid": U+017F (long s) taken
 * for "s", U+0130 and U+0131 (dotted and dotless I) for "i", then ASCII
 * letters lower-cased, and the result compared with "accountsid".
 */

FUZZ_HELPER int
fuzz_account_name(const uint8_t *p, size_t len)
{
    size_t   i, n;
    uint8_t  folded[16];

    n = 0;

    for (i = 0; i < len; i++) {
        if (n == sizeof(folded)) {
            return 0;
        }

        if (i + 1 < len && p[i] == 0xc5 && p[i + 1] == 0xbf) {
            folded[n++] = 's';
            i++;

        } else if (i + 1 < len && p[i] == 0xc4
                   && (p[i + 1] == 0xb0 || p[i + 1] == 0xb1))
        {
            folded[n++] = 'i';
            i++;

        } else {
            folded[n++] = (p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i];
        }
    }

    return n == 10 && memcmp(folded, "accountsid", 10) == 0;
}


/*
 * A reference reading of "this parameter name names an account": the
 * decoded name folded as in fuzz_account_name(), everything but letters
 * dropped, then searched for "accountsid".
 */

FUZZ_HELPER int
fuzz_names_account(const uint8_t *p, size_t len)
{
    int       found;
    size_t    i, n;
    uint8_t  *folded;

    folded = malloc(len + 1);
    if (folded == NULL) {
        abort();
    }

    n = 0;

    for (i = 0; i < len; i++) {
        if (i + 1 < len && p[i] == 0xc5 && p[i + 1] == 0xbf) {
            folded[n++] = 's';
            i++;

        } else if (i + 1 < len && p[i] == 0xc4
                   && (p[i + 1] == 0xb0 || p[i + 1] == 0xb1))
        {
            folded[n++] = 'i';
            i++;

        } else if (p[i] >= 'A' && p[i] <= 'Z') {
            folded[n++] = p[i] + 32;

        } else if (p[i] >= 'a' && p[i] <= 'z') {
            folded[n++] = p[i];
        }
    }

    found = 0;

    for (i = 0; i + 10 <= n && !found; i++) {
        found = (memcmp(folded + i, "accountsid", 10) == 0);
    }

    free(folded);

    return found;
}


/* a body applications read as JSON: BOM, white space, then "{" or "[" */

FUZZ_HELPER int
fuzz_json_like(const uint8_t *p, size_t len)
{
    size_t  i;

    i = (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) ? 3 : 0;

    while (i < len && strchr(" \t\r\n", p[i]) != NULL && p[i] != '\0') {
        i++;
    }

    return i < len && (p[i] == '{' || p[i] == '[');
}


#endif /* _NGX_TWILIO_FUZZ_COMMON_H_INCLUDED_ */
