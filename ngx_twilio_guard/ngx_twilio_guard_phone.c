
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * The pure part of the SMS pumping guard; see ngx_twilio_guard_phone.h
 * and docs/sms-pumping.md.
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_twilio_guard_phone.h"
#include "ngx_twilio_guard_phone_table.h"


/* SSE2 is part of x86-64; NGX_TWILIO_NO_SIMD builds the portable code */

#if (defined __SSE2__ && !defined NGX_TWILIO_NO_SIMD)
#include <emmintrin.h>
#define NGX_TWILIO_PHONE_SSE2  1
#else
#define NGX_TWILIO_PHONE_SSE2  0
#endif


#define NREGIONS  (sizeof(ngx_twilio_phone_regions)                          \
                   / sizeof(ngx_twilio_phone_regions[0]))


const char  *ngx_twilio_phone_metadata = NGX_TWILIO_PHONE_METADATA;


/* a calling code's entry, by the generated index */

static const ngx_twilio_phone_cc_t *
ngx_twilio_phone_cc(unsigned cc)
{
    unsigned  i;

    if (cc >= sizeof(ngx_twilio_phone_cc_index)) {
        return NULL;
    }

    i = ngx_twilio_phone_cc_index[cc];

    return i ? &ngx_twilio_phone_ccs[i - 1] : NULL;
}


static const ngx_twilio_phone_region_t *
ngx_twilio_phone_region(const char *region)
{
    size_t  lo, hi, mid;
    int     c;

    lo = 0;
    hi = NREGIONS;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        c = strcmp(ngx_twilio_phone_regions[mid].region, region);

        if (c == 0) {
            return &ngx_twilio_phone_regions[mid];
        }

        if (c < 0) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return NULL;
}


int
ngx_twilio_phone_region_national(const char *region)
{
    const ngx_twilio_phone_region_t  *r;

    r = ngx_twilio_phone_region(region);

    if (r == NULL) {
        return -1;
    }

    return r->national ? 1 : 0;
}


/*
 * The region of a national number nsn (n digits) under calling code
 * cc: by area code for +1 (NULL: an area code not in service), by
 * leading digits for the other shared codes, else the code's main one.
 */

static const char *
ngx_twilio_phone_where(const ngx_twilio_phone_cc_t *cc, const char *nsn,
    size_t n)
{
    size_t                            plen;
    unsigned                          npa;
    const char                       *region;
    const ngx_twilio_phone_prefix_t  *p;

    if (cc->cc == 1) {
        if (n != 10 || nsn[0] < '2') {
            return NULL;
        }

        npa = (nsn[0] - '0') * 100 + (nsn[1] - '0') * 10 + (nsn[2] - '0');
        region = ngx_twilio_phone_nanp[npa - 200];

        return region[0] ? region : NULL;
    }

    for (p = ngx_twilio_phone_prefixes; p->cc; p++) {
        if (p->cc != cc->cc) {
            continue;
        }

        plen = strlen(p->prefix);

        if (plen <= n && memcmp(p->prefix, nsn, plen) == 0) {
            return p->region;
        }
    }

    return cc->region;
}


int
ngx_twilio_phone_parse(const unsigned char *s, size_t len,
    const char *default_region, ngx_twilio_phone_t *ph)
{
    char                              digits[NGX_TWILIO_PHONE_INPUT_MAX + 8];
    char                             *d;
    size_t                            i, n, np_len, cc_len, nsn_len;
    unsigned                          c, cc, plus;
    const char                       *region;
    const ngx_twilio_phone_cc_t      *ccp;
    const ngx_twilio_phone_region_t  *r;

    memset(ph, 0, sizeof(ngx_twilio_phone_t));

    if (len > NGX_TWILIO_PHONE_INPUT_MAX) {
        return -1;
    }

    /* the digits; separators dropped; "+" only before the first digit */

    n = 0;
    plus = 0;

    for (i = 0; i < len; i++) {
        c = s[i];

        if (c >= '0' && c <= '9') {
            digits[n++] = (char) c;
            continue;
        }

        switch (c) {

        case ' ': case '-': case '.': case '(': case ')': case '/':
            continue;

        case '+':
            if (n == 0 && !plus) {
                plus = 1;
                continue;
            }

            return -1;

        default:
            return -1;
        }
    }

    d = digits;

    if (!plus && n >= 2 && d[0] == '0' && d[1] == '0') {
        /* 00: the international form */
        plus = 1;
        d += 2;
        n -= 2;
    }

    if (!plus) {
        /* a national number: the default country's code, no trunk prefix */

        if (default_region == NULL) {
            return -1;
        }

        r = ngx_twilio_phone_region(default_region);
        if (r == NULL || !r->national) {
            return -1;
        }

        np_len = strlen(r->national_prefix);

        if (np_len && n > np_len
            && memcmp(d, r->national_prefix, np_len) == 0)
        {
            d += np_len;
            n -= np_len;
        }

        if (n == 0) {
            return -1;
        }

        /* room: digits[] has 8 bytes more than the input can fill */
        memmove(digits + 5, d, n);
        d = digits + 5;

        for (cc = r->cc; cc; cc /= 10) {
            *--d = (char) ('0' + cc % 10);
            n++;
        }
    }

    if (n == 0 || n > NGX_TWILIO_PHONE_MAX) {
        return -1;
    }

    /* the calling code: calling codes are prefix-free */

    ccp = NULL;
    cc = 0;

    for (cc_len = 1; cc_len <= 3 && cc_len < n; cc_len++) {
        cc = cc * 10 + (d[cc_len - 1] - '0');

        if (cc == 0) {
            return -1;
        }

        ccp = ngx_twilio_phone_cc(cc);
        if (ccp) {
            break;
        }
    }

    if (ccp == NULL) {
        return -1;
    }

    nsn_len = n - cc_len;

    for (i = 0; i < sizeof(ccp->trunk) && ccp->trunk[i]; i++) {
        /* void */
    }

    if (i > 0 && nsn_len >= i && memcmp(d + cc_len, ccp->trunk, i) == 0) {
        /* "+44 (0)20...": a trunk prefix is not guessed away */
        return -1;
    }

    if (nsn_len > 31 || !(ccp->lengths & (1u << nsn_len))) {
        return -1;
    }

    region = ngx_twilio_phone_where(ccp, d + cc_len, nsn_len);
    if (region == NULL) {
        return -1;
    }

    ph->e164[0] = '+';
    memcpy(ph->e164 + 1, d, n);
    ph->e164[n + 1] = '\0';
    ph->len = n + 1;
    ph->cc = cc;
    ph->cc_len = cc_len;
    /* every region in the tables is at most 3 characters */
    memcpy(ph->region, region, 3);
    ph->region[3] = '\0';

    return 0;
}


/* form and query values */

static int
ngx_twilio_hex(unsigned c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/*
 * Decodes "+" and %XX (a "%" not followed by two hex digits stays as it
 * is) into out; returns the decoded length, or cap + 1 when longer.
 */

static size_t
ngx_twilio_form_decode(const unsigned char *s, size_t len,
    unsigned char *out, size_t cap)
{
    int            hi, lo;
    size_t         i, n;
    unsigned char  c;

    n = 0;

    for (i = 0; i < len; i++) {
        c = s[i];

        if (c == '+') {
            c = ' ';

        } else if (c == '%' && i + 2 < len) {
            hi = ngx_twilio_hex(s[i + 1]);
            lo = ngx_twilio_hex(s[i + 2]);

            if (hi >= 0 && lo >= 0) {
                c = (unsigned char) (hi * 16 + lo);
                i += 2;
            }
        }

        if (n == cap) {
            return cap + 1;
        }

        out[n++] = c;
    }

    return n;
}


/* whether a "]" follows the "[" at p, before a NUL (PHP reads to one) */

static int
ngx_twilio_name_closed(const unsigned char *p, const unsigned char *last)
{
    for (p++; p < last && *p != '\0'; p++) {
        if (*p == ']') {
            return 1;
        }
    }

    return 0;
}


/*
 * Whether a decoded parameter name is name the way a common reader takes
 * it: leading white space dropped (PHP), cut at a NUL (PHP) or at "["
 * ("phone[]", "phone[x]": PHP, qs, Rack arrays), ASCII letter case
 * ignored (ASP.NET Core, System.Text.Json's web defaults), and the
 * non-ASCII letters that case-insensitive matching (Java, .NET, Go) folds
 * to ASCII: U+017F (long s), U+0130 and U+0131 (dotted and dotless I),
 * U+212A (Kelvin sign).  Where name has "_", PHP's " ", "." and a "["
 * never closed ("phone.number", "phone[number" are its "phone_number").
 * A "!" first (Spring's default for a field not there), then "[" and
 * "]" first, and a "]" after the name (Rack 2's "[phone]", "]phone",
 * "phone]"; qs's "[phone]").
 * The same folding as the webhook guard's AccountSid rule
 * (ngx_twilio_account_name() in the core).  ngx_twilio_name_like() below
 * tells most names apart at once.
 */

static int
ngx_twilio_name_fold(const unsigned char *key, size_t n, const char *name,
    size_t name_len)
{
    size_t                i;
    unsigned char         c;
    const unsigned char  *p, *last;

    p = key;
    last = key + n;

    while (p < last
           && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'
               || *p == '\v' || *p == '\f'))
    {
        p++;
    }

    /*
     * Spring's "!phone", the value its data binder takes where "phone"
     * is not there (a copy the guard counted, "phone[]", Spring does not
     * bind); Rack 2's "[phone]", "]phone" (its name is the first run of
     * bytes other than brackets) and qs's "[phone]"
     */

    if (p < last && *p == '!' && name_len && name[0] != '!') {
        p++;
    }

    while (p < last && (*p == '[' || *p == ']') && name_len && name[0] != ']')
    {
        p++;
    }

    for (i = 0; p < last && *p != '\0'; i++) {

        if (*p == '[' && (i == name_len || name[i] != '_'
                          || ngx_twilio_name_closed(p, last)))
        {
            /* "phone[]", "phone[x]": an array of that name */
            break;
        }

        if (*p == ']' && i == name_len) {
            /* Rack 2's "phone]", "phone][x]": phone */
            break;
        }

        if (i == name_len) {
            return 0;
        }

        c = (unsigned char) name[i];

        if (c >= 'A' && c <= 'Z') {
            c |= 0x20;
        }

        if (*p == c || ((*p >= 'A' && *p <= 'Z') && (*p | 0x20) == c)) {
            p++;
            continue;
        }

        /*
         * PHP makes " ", "." and a "[" never closed "_":
         * "phone.number", "phone number" and "phone[number" are its
         * "phone_number"
         */

        if (c == '_' && (*p == ' ' || *p == '.' || *p == '[')) {
            p++;
            continue;
        }

        if (c == 's' && last - p >= 2 && p[0] == 0xc5 && p[1] == 0xbf) {
            p += 2;
            continue;
        }

        if (c == 'i' && last - p >= 2 && p[0] == 0xc4
            && (p[1] == 0xb0 || p[1] == 0xb1))
        {
            p += 2;
            continue;
        }

        if (c == 'k' && last - p >= 3 && p[0] == 0xe2 && p[1] == 0x84
            && p[2] == 0xaa)
        {
            p += 3;
            continue;
        }

        return 0;
    }

    return i == name_len;
}


/*
 * Whether a parameter name is name (see ngx_twilio_name_fold()).  Most
 * names are printable ASCII: compared here, a byte for a letter, and
 * most told apart at their first byte, with no call; a name with white
 * space, "[", a NUL or a byte from 0x80 on where the letters are (or a
 * "!" or "]" first) goes to the folding loop.
 */

static inline int
ngx_twilio_name_like(const unsigned char *key, size_t n, const char *name,
    size_t name_len)
{
    size_t         i;
    unsigned char  c, k;

    if (n < name_len) {
        /* every letter of name takes a byte at least */
        return 0;
    }

    for (i = 0; i < name_len; i++) {
        k = key[i];
        c = (unsigned char) name[i];

        if (k == c && k != '[') {
            /* a name's bytes are printable ASCII, other than space */
            continue;
        }

        if (k <= ' ' || k >= 0x80 || k == '[' || (k == '.' && c == '_')
            || (i == 0 && (k == '!' || k == ']')))
        {
            return ngx_twilio_name_fold(key, n, name, name_len);
        }

        /* an ASCII byte that is not the letter: no fold makes it so */

        c |= 0x20;

        if ((k | 0x20) != c || c < 'a' || c > 'z') {
            return 0;
        }
    }

    if (n == name_len) {
        return 1;
    }

    /* "phone[]", "phone\0..." */
    return ngx_twilio_name_fold(key, n, name, name_len);
}


/*
 * A form key decoded as ngx_twilio_form_decode() does; when longer than
 * cap, with its leading white space, "!", "[" and "]" left out (so
 * padding cannot push a look-alike name past the buffer: 300 "[" and
 * "phone" are Rack 2's "phone"); cap + 1 when still longer.
 */

static size_t
ngx_twilio_form_key(const unsigned char *s, size_t len, unsigned char *out,
    size_t cap)
{
    size_t  n, i;

    n = ngx_twilio_form_decode(s, len, out, cap);

    if (n <= cap) {
        return n;
    }

    /* too long: drop the leading white space, then decode again */

    for (i = 0; i < len; i++) {

        if (s[i] == '+' || s[i] == ' ' || s[i] == '\t' || s[i] == '\n'
            || s[i] == '\r' || s[i] == '\v' || s[i] == '\f')
        {
            continue;
        }

        if (s[i] == '%' && i + 2 < len
            && (ngx_twilio_hex(s[i + 1]) == 0
                && (ngx_twilio_hex(s[i + 2]) == 9
                    || ngx_twilio_hex(s[i + 2]) == 10
                    || ngx_twilio_hex(s[i + 2]) == 11
                    || ngx_twilio_hex(s[i + 2]) == 12
                    || ngx_twilio_hex(s[i + 2]) == 13)))
        {
            i += 2;
            continue;
        }

        if (s[i] == '%' && i + 2 < len && ngx_twilio_hex(s[i + 1]) == 2
            && ngx_twilio_hex(s[i + 2]) == 0)
        {
            i += 2;
            continue;
        }

        /* and the "!", "[" and "]" the folding loop passes over too */

        if (s[i] == '!' || s[i] == '[' || s[i] == ']') {
            continue;
        }

        if (s[i] == '%' && i + 2 < len
            && ((ngx_twilio_hex(s[i + 1]) == 2
                 && ngx_twilio_hex(s[i + 2]) == 1)
                || (ngx_twilio_hex(s[i + 1]) == 5
                    && (ngx_twilio_hex(s[i + 2]) == 11
                        || ngx_twilio_hex(s[i + 2]) == 13))))
        {
            i += 2;
            continue;
        }

        break;
    }

    return ngx_twilio_form_decode(s + i, len - i, out, cap);
}


int
ngx_twilio_form_value(const unsigned char *s, size_t len, const char *name,
    size_t name_len, unsigned char *out, size_t *out_len, unsigned *count)
{
    size_t                n, cap;
    unsigned              found, too_long;
    unsigned char         key[256];
    const unsigned char  *p, *end, *amp, *eq;

    cap = *out_len;
    *out_len = 0;
    found = 0;
    too_long = 0;

    if (name_len >= sizeof(key)) {
        return NGX_TWILIO_PARAM_MALFORMED;
    }

    /* an empty query or body may have no data at all */

    p = s;
    end = len ? s + len : s;

    while (p < end) {
        amp = memchr(p, '&', end - p);
        if (amp == NULL) {
            amp = end;
        }

        eq = memchr(p, '=', amp - p);
        if (eq == NULL) {
            eq = amp;
        }

        n = ngx_twilio_form_key(p, eq - p, key, sizeof(key) - 1);

        if (n >= sizeof(key)) {
            /*
             * too long a name: its first bytes, which is what a reader
             * that cuts at a NUL or "[" reads ("phone%00" and 300 bytes
             * more is PHP's "phone"); any other long name matches none
             */
            n = sizeof(key) - 1;
        }

        if (ngx_twilio_name_like(key, n, name, name_len))
        {
            found++;

            if (found == 1) {
                n = (eq < amp) ? ngx_twilio_form_decode(eq + 1,
                                                        amp - eq - 1,
                                                        out, cap)
                               : 0;
                if (n > cap) {
                    too_long = 1;

                } else {
                    *out_len = n;
                }
            }
        }

        p = amp + 1;
    }

    *count += found;

    if (found > 1) {
        return NGX_TWILIO_PARAM_AMBIGUOUS;
    }

    if (found == 0) {
        return NGX_TWILIO_PARAM_MISSING;
    }

    return too_long ? NGX_TWILIO_PARAM_MALFORMED : NGX_TWILIO_PARAM_FOUND;
}


/* JSON, RFC 8259 */

typedef struct {
    const unsigned char  *p;
    const unsigned char  *end;
} ngx_twilio_json_t;


static inline void
ngx_twilio_json_ws(ngx_twilio_json_t *j)
{
    /* every white space byte is " " or below: most bytes end it at once */

    while (j->p < j->end && *j->p <= ' ') {

        if (*j->p != ' ' && *j->p != '\t' && *j->p != '\n' && *j->p != '\r')
        {
            return;
        }

        j->p++;
    }
}


static int
ngx_twilio_json_hex4(ngx_twilio_json_t *j, unsigned *v)
{
    int     h;
    size_t  i;

    if (j->end - j->p < 4) {
        return -1;
    }

    *v = 0;

    for (i = 0; i < 4; i++) {
        h = ngx_twilio_hex(j->p[i]);
        if (h < 0) {
            return -1;
        }

        *v = *v * 16 + h;
    }

    j->p += 4;

    return 0;
}


/* the length of a valid UTF-8 sequence at p, or 0 */

static size_t
ngx_twilio_utf8(const unsigned char *p, const unsigned char *end)
{
    size_t    n, i;
    unsigned  c, cp, min;

    c = p[0];

    if (c < 0x80) {
        return 1;
    }

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2; cp = c & 0x1f; min = 0x80;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3; cp = c & 0x0f; min = 0x800;

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4; cp = c & 0x07; min = 0x10000;

    } else {
        return 0;
    }

    if ((size_t) (end - p) < n) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }

        cp = (cp << 6) | (p[i] & 0x3f);
    }

    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }

    return n;
}


/*
 * The end of the run of plain string bytes at p: printable ASCII other
 * than '"' and the backslash, which are copied as they are.  Sixteen
 * bytes at a time where SSE2 is there: a signed compare below 0x20 finds
 * both control bytes and bytes from 0x80 on (negative as signed).
 */

static inline const unsigned char *
ngx_twilio_json_plain(const unsigned char *p, const unsigned char *end)
{
#if (NGX_TWILIO_PHONE_SSE2)
    unsigned  m;
    __m128i   v, hit;

    while (end - p >= 16) {
        v = _mm_loadu_si128((const __m128i *) p);

        hit = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                           _mm_cmpeq_epi8(v, _mm_set1_epi8('"')));
        hit = _mm_or_si128(hit, _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));

        m = (unsigned) _mm_movemask_epi8(hit);

        if (m != 0) {
            /* the lowest bit set is the first byte that ends the run */
            return p + __builtin_ctz(m);
        }

        p += 16;
    }
#endif

    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
        p++;
    }

    return p;
}


static void
ngx_twilio_json_put(unsigned char *out, size_t cap, size_t *n,
    const unsigned char *b, size_t len)
{
    if (out != NULL && *n + len <= cap) {
        memcpy(out + *n, b, len);
    }

    *n += len;
}


/* the UTF-8 form of a code point at b; returns its length */

static size_t
ngx_twilio_json_utf8_put(unsigned c, unsigned char *b)
{
    if (c < 0x80) {
        b[0] = (unsigned char) c;
        return 1;
    }

    if (c < 0x800) {
        b[0] = (unsigned char) (0xc0 | (c >> 6));
        b[1] = (unsigned char) (0x80 | (c & 0x3f));
        return 2;
    }

    if (c < 0x10000) {
        b[0] = (unsigned char) (0xe0 | (c >> 12));
        b[1] = (unsigned char) (0x80 | ((c >> 6) & 0x3f));
        b[2] = (unsigned char) (0x80 | (c & 0x3f));
        return 3;
    }

    b[0] = (unsigned char) (0xf0 | (c >> 18));
    b[1] = (unsigned char) (0x80 | ((c >> 12) & 0x3f));
    b[2] = (unsigned char) (0x80 | ((c >> 6) & 0x3f));
    b[3] = (unsigned char) (0x80 | (c & 0x3f));
    return 4;
}


/*
 * The escape at j->p (a backslash), decoded into b; returns its length
 * there, or 0 for an invalid escape.  A "\u" surrogate must be a high one
 * followed by a low one.
 */

static size_t
ngx_twilio_json_escape(ngx_twilio_json_t *j, unsigned char *b)
{
    unsigned  c, lo;

    if (j->end - j->p < 2) {
        return 0;
    }

    c = j->p[1];
    j->p += 2;

    switch (c) {
    case '"': case '\\': case '/':
        break;
    case 'b': c = '\b'; break;
    case 'f': c = '\f'; break;
    case 'n': c = '\n'; break;
    case 'r': c = '\r'; break;
    case 't': c = '\t'; break;

    case 'u':
        if (ngx_twilio_json_hex4(j, &c) != 0
            || (c >= 0xdc00 && c <= 0xdfff))
        {
            /* not four hex digits, or a lone low surrogate */
            return 0;
        }

        if (c >= 0xd800 && c <= 0xdbff) {
            if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u') {
                return 0;
            }

            j->p += 2;

            if (ngx_twilio_json_hex4(j, &lo) != 0
                || lo < 0xdc00 || lo > 0xdfff)
            {
                return 0;
            }

            c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
        }

        return ngx_twilio_json_utf8_put(c, b);

    default:
        return 0;
    }

    b[0] = (unsigned char) c;

    return 1;
}


/*
 * A string at j->p (at its opening quote), decoded into out while it
 * fits in cap (out NULL: only skipped); *n is its whole decoded length.
 * Runs of plain bytes are found sixteen at a time and copied at once.
 * Returns 0 or -1.
 */

static int
ngx_twilio_json_string(ngx_twilio_json_t *j, unsigned char *out, size_t cap,
    size_t *n)
{
    size_t                l;
    unsigned char         b[4];
    const unsigned char  *s;

    *n = 0;
    j->p++;

    for ( ;; ) {
        s = j->p;
        j->p = ngx_twilio_json_plain(s, j->end);

        if (j->p != s) {
            ngx_twilio_json_put(out, cap, n, s, j->p - s);
        }

        if (j->p == j->end) {
            return -1;
        }

        if (*j->p == '"') {
            j->p++;
            return 0;
        }

        if (*j->p < 0x20) {
            return -1;
        }

        if (*j->p == '\\') {
            l = ngx_twilio_json_escape(j, b);
            if (l == 0) {
                return -1;
            }

            ngx_twilio_json_put(out, cap, n, b, l);
            continue;
        }

        l = ngx_twilio_utf8(j->p, j->end);
        if (l == 0) {
            return -1;
        }

        ngx_twilio_json_put(out, cap, n, j->p, l);
        j->p += l;
    }
}


static int
ngx_twilio_json_literal(ngx_twilio_json_t *j, const char *lit, size_t len)
{
    if ((size_t) (j->end - j->p) < len || memcmp(j->p, lit, len) != 0) {
        return -1;
    }

    j->p += len;

    return 0;
}


static int
ngx_twilio_json_digits(ngx_twilio_json_t *j)
{
    const unsigned char  *start;

    start = j->p;

    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        j->p++;
    }

    return j->p > start ? 0 : -1;
}


static int
ngx_twilio_json_number(ngx_twilio_json_t *j)
{
    if (j->p < j->end && *j->p == '-') {
        j->p++;
    }

    if (j->p < j->end && *j->p == '0') {
        j->p++;

    } else if (ngx_twilio_json_digits(j) != 0) {
        return -1;
    }

    if (j->p < j->end && *j->p == '.') {
        j->p++;

        if (ngx_twilio_json_digits(j) != 0) {
            return -1;
        }
    }

    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;

        if (j->p < j->end && (*j->p == '+' || *j->p == '-')) {
            j->p++;
        }

        if (ngx_twilio_json_digits(j) != 0) {
            return -1;
        }
    }

    return 0;
}


static int ngx_twilio_json_skip(ngx_twilio_json_t *j, unsigned depth);


/* an array or an object (not the top level one), at its bracket */

static int
ngx_twilio_json_container(ngx_twilio_json_t *j, unsigned depth)
{
    size_t         n;
    unsigned char  close;

    if (depth >= NGX_TWILIO_PHONE_JSON_DEPTH) {
        return -1;
    }

    close = (*j->p == '{') ? '}' : ']';
    j->p++;

    ngx_twilio_json_ws(j);

    if (j->p < j->end && *j->p == close) {
        j->p++;
        return 0;
    }

    for ( ;; ) {
        if (close == '}') {
            if (j->p == j->end || *j->p != '"'
                || ngx_twilio_json_string(j, NULL, 0, &n) != 0)
            {
                return -1;
            }

            ngx_twilio_json_ws(j);

            if (j->p == j->end || *j->p != ':') {
                return -1;
            }

            j->p++;
        }

        if (ngx_twilio_json_skip(j, depth + 1) != 0) {
            return -1;
        }

        ngx_twilio_json_ws(j);

        if (j->p == j->end) {
            return -1;
        }

        if (*j->p == close) {
            j->p++;
            return 0;
        }

        if (*j->p != ',') {
            return -1;
        }

        j->p++;
        ngx_twilio_json_ws(j);
    }
}


static int
ngx_twilio_json_skip(ngx_twilio_json_t *j, unsigned depth)
{
    size_t  n;

    ngx_twilio_json_ws(j);

    if (j->p == j->end) {
        return -1;
    }

    switch (*j->p) {

    case '{':
    case '[':
        return ngx_twilio_json_container(j, depth);

    case '"':
        return ngx_twilio_json_string(j, NULL, 0, &n);

    case 't':
        return ngx_twilio_json_literal(j, "true", 4);

    case 'f':
        return ngx_twilio_json_literal(j, "false", 5);

    case 'n':
        return ngx_twilio_json_literal(j, "null", 4);

    default:
        return ngx_twilio_json_number(j);
    }
}


/*
 * A string at j->p (at its opening quote) skipped: a run of plain bytes
 * up to the closing quote at once, any other by the decoder.
 */

static inline int
ngx_twilio_json_pass(ngx_twilio_json_t *j)
{
    size_t                n;
    const unsigned char  *p;

    p = ngx_twilio_json_plain(j->p + 1, j->end);

    if (p < j->end && *p == '"') {
        j->p = p + 1;
        return 0;
    }

    return ngx_twilio_json_string(j, NULL, 0, &n);
}


/*
 * The value of the name, a string at j->p: as ngx_twilio_json_string(),
 * with a string of plain bytes only (the usual number) copied at once.
 */

static inline int
ngx_twilio_json_value_string(ngx_twilio_json_t *j, unsigned char *out,
    size_t cap, size_t *n)
{
    const unsigned char  *p;

    p = ngx_twilio_json_plain(j->p + 1, j->end);

    if (p == j->end || *p != '"') {
        return ngx_twilio_json_string(j, out, cap, n);
    }

    *n = p - (j->p + 1);

    if (*n <= cap) {
        memcpy(out, j->p + 1, *n);
    }

    j->p = p + 1;

    return 0;
}


/*
 * A member's name at j->p (at its opening quote), then the ":" after it.
 * A name with no escape and only printable ASCII is its own bytes in the
 * body (*name points there); another is decoded into buf (of size
 * NGX_TWILIO_PHONE_NAME_MAX).  Returns 0 or -1.
 */

#define NGX_TWILIO_PHONE_NAME_MAX  256

static int
ngx_twilio_json_name(ngx_twilio_json_t *j, unsigned char *buf,
    const unsigned char **name, size_t *n)
{
    const unsigned char  *p;

    if (j->p == j->end || *j->p != '"') {
        return -1;
    }

    p = ngx_twilio_json_plain(j->p + 1, j->end);

    if (p < j->end && *p == '"') {
        *name = j->p + 1;
        *n = p - (j->p + 1);
        j->p = p + 1;

    } else {
        if (ngx_twilio_json_string(j, buf, NGX_TWILIO_PHONE_NAME_MAX, n)
            != 0)
        {
            return -1;
        }

        *name = buf;
    }

    if (j->p == j->end || *j->p != ':') {
        ngx_twilio_json_ws(j);

        if (j->p == j->end || *j->p != ':') {
            return -1;
        }
    }

    j->p++;

    if (j->p < j->end && *j->p <= ' ') {
        ngx_twilio_json_ws(j);
    }

    return 0;
}


int
ngx_twilio_json_value(const unsigned char *s, size_t len, const char *name,
    size_t name_len, unsigned char *out, size_t *out_len, unsigned *count)
{
    size_t                n, cap;
    unsigned              found, bad;
    unsigned char         buf[NGX_TWILIO_PHONE_NAME_MAX];
    ngx_twilio_json_t     j;
    const unsigned char  *key;

    cap = *out_len;
    *out_len = 0;
    found = 0;
    bad = 0;

    if (name_len >= sizeof(buf)) {
        return NGX_TWILIO_PARAM_MALFORMED;
    }

    j.p = s;
    j.end = len ? s + len : s;

    ngx_twilio_json_ws(&j);

    if (j.p == j.end || *j.p != '{') {
        return NGX_TWILIO_PARAM_MALFORMED;
    }

    j.p++;
    ngx_twilio_json_ws(&j);

    if (j.p < j.end && *j.p == '}') {
        j.p++;
        goto done;
    }

    for ( ;; ) {
        if (ngx_twilio_json_name(&j, buf, &key, &n) != 0) {
            return NGX_TWILIO_PARAM_MALFORMED;
        }

        /* a name too long to decode whole is no name of the guard's */

        if (n < sizeof(buf) && ngx_twilio_name_like(key, n, name, name_len))
        {
            found++;

            if (found == 1 && j.p < j.end && *j.p == '"') {
                if (ngx_twilio_json_value_string(&j, out, cap, &n) != 0) {
                    return NGX_TWILIO_PARAM_MALFORMED;
                }

                if (n > cap) {
                    bad = 1;

                } else {
                    *out_len = n;
                }

            } else {
                /* not a string */
                bad = 1;

                if (ngx_twilio_json_skip(&j, 1) != 0) {
                    return NGX_TWILIO_PARAM_MALFORMED;
                }
            }

        } else if ((j.p < j.end && *j.p == '"')
                   ? ngx_twilio_json_pass(&j) != 0
                   : ngx_twilio_json_skip(&j, 1) != 0)
        {
            /* a string, the usual member, skipped without a call more */
            return NGX_TWILIO_PARAM_MALFORMED;
        }

        if (j.p < j.end && *j.p <= ' ') {
            ngx_twilio_json_ws(&j);
        }

        if (j.p == j.end) {
            return NGX_TWILIO_PARAM_MALFORMED;
        }

        if (*j.p == '}') {
            j.p++;
            break;
        }

        if (*j.p != ',') {
            return NGX_TWILIO_PARAM_MALFORMED;
        }

        j.p++;

        if (j.p < j.end && *j.p <= ' ') {
            ngx_twilio_json_ws(&j);
        }
    }

done:

    ngx_twilio_json_ws(&j);

    if (j.p != j.end) {
        return NGX_TWILIO_PARAM_MALFORMED;
    }

    *count += found;

    if (found > 1) {
        return NGX_TWILIO_PARAM_AMBIGUOUS;
    }

    if (found == 0) {
        return NGX_TWILIO_PARAM_MISSING;
    }

    return bad ? NGX_TWILIO_PARAM_MALFORMED : NGX_TWILIO_PARAM_FOUND;
}
