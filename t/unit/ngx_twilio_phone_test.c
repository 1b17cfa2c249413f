
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * Unit tests of the SMS pumping guard's pure part, printing TAP.
 *
 *   ngx_twilio_phone_test           the tests
 *   ngx_twilio_phone_test --lines   reads "number[ TAB default_region]"
 *                                   lines, prints "E164 cc region" or
 *                                   "invalid" per line (for the oracle
 *                                   test, t/005-phone-oracle.t)
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_twilio_guard_phone.h"
#include "ngx_twilio_tap.h"


static void
number(const char *in, const char *def, const char *e164, const char *region)
{
    int                 rc;
    ngx_twilio_phone_t  ph;

    rc = ngx_twilio_phone_parse((const unsigned char *) in, strlen(in), def,
                                &ph);

    if (e164 == NULL) {
        ok(rc == -1, "\"%s\" (%s) is invalid", in, def ? def : "-");
        return;
    }

    ok(rc == 0 && strcmp(ph.e164, e164) == 0 && ph.len == strlen(e164)
       && strcmp(ph.region, region) == 0,
       "\"%s\" (%s) is %s in %s (got %s in %s)", in, def ? def : "-", e164,
       region, rc == 0 ? ph.e164 : "invalid", rc == 0 ? ph.region : "-");
}


static void
form(const char *in, const char *name, int expect, const char *value,
    unsigned expect_count)
{
    int            rc;
    size_t         len;
    unsigned       count;
    unsigned char  out[64];

    len = sizeof(out);
    count = 0;

    rc = ngx_twilio_form_value((const unsigned char *) in, strlen(in), name,
                               strlen(name), out, &len, &count);

    ok(rc == expect && count == expect_count
       && (value == NULL
           || (len == strlen(value) && memcmp(out, value, len) == 0)),
       "form \"%s\" %s: %d, count %u", in, name, rc, count);
}


static void
json(const char *in, const char *name, int expect, const char *value,
    size_t vlen)
{
    int            rc;
    size_t         len;
    unsigned       count;
    unsigned char  out[64];

    len = sizeof(out);
    count = 0;

    rc = ngx_twilio_json_value((const unsigned char *) in, strlen(in), name,
                               strlen(name), out, &len, &count);

    if (value && vlen == 0) {
        vlen = strlen(value);
    }

    ok(rc == expect
       && (value == NULL || (len == vlen && memcmp(out, value, len) == 0)),
       "json %s %s: %d (expected %d)", in, name, rc, expect);
}


/*
 * Strings of every length around the sixteen-byte runs of the scanner,
 * with one special byte sequence at every position: in the value that is
 * read, and in a member before it that is only skipped.
 */

static void
json_runs(void)
{
    int            rc, bad;
    char           doc[256], pad[64];
    size_t         n, k, s, len, plen, vlen, slen;
    unsigned       count;
    unsigned char  out[64], want[64];

    static const struct {
        const char  *raw;
        const char  *decoded;    /* NULL: not valid JSON */
    } special[] = {
        { "\xc3\xa9", "\xc3\xa9" },
        { "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80" },
        { "\\n", "\n" },
        { "\\u002B", "+" },
        { "\\\"", "\"" },
        { "~", "~" },
        { "\x7f", "\x7f" },
        { "\x01", NULL },
        { "\x1f", NULL },
        { "\xff", NULL },
        { "\x80", NULL },
        { "\xc3", NULL },
        { "\\x", NULL }
    };

    bad = 0;

    for (n = 0; n < 40; n++) {
        for (k = 0; k <= n; k++) {
            for (s = 0; s < sizeof(special) / sizeof(special[0]); s++) {

                slen = strlen(special[s].raw);

                memset(pad, 'a', k);
                memcpy(pad + k, special[s].raw, slen);
                memset(pad + k + slen, 'z', n - k);
                plen = n + slen;

                /* the special bytes in the value */

                len = (size_t) sprintf(doc, "{\"phone\":\"%.*s\"}",
                                       (int) plen, pad);
                vlen = sizeof(out);
                count = 0;

                rc = ngx_twilio_json_value((unsigned char *) doc, len,
                                           "phone", 5, out, &vlen, &count);

                if (special[s].decoded == NULL) {
                    bad += (rc != NGX_TWILIO_PARAM_MALFORMED);

                } else {
                    memset(want, 'a', k);
                    memcpy(want + k, special[s].decoded,
                           strlen(special[s].decoded));
                    memset(want + k + strlen(special[s].decoded), 'z',
                           n - k);

                    bad += (rc != NGX_TWILIO_PARAM_FOUND
                            || vlen != n + strlen(special[s].decoded)
                            || memcmp(out, want, vlen) != 0);
                }

                /* in a member skipped before it, as a name and a value */

                len = (size_t) sprintf(doc, "{\"%.*s\":\"%.*s\",\"phone\":"
                                       "\"1\"}", (int) plen, pad,
                                       (int) plen, pad);
                vlen = sizeof(out);
                count = 0;

                rc = ngx_twilio_json_value((unsigned char *) doc, len,
                                           "phone", 5, out, &vlen, &count);

                bad += special[s].decoded == NULL
                       ? (rc != NGX_TWILIO_PARAM_MALFORMED)
                       : (rc != NGX_TWILIO_PARAM_FOUND || vlen != 1);
            }
        }
    }

    ok(bad == 0, "json strings of 0 to 40 bytes, a special byte at each "
       "place, read and skipped: %d wrong", bad);
}


static int
lines(void)
{
    char                line[512], *tab, *def;
    size_t              len;
    ngx_twilio_phone_t  ph;

    while (fgets(line, sizeof(line), stdin)) {
        len = strcspn(line, "\n");
        line[len] = '\0';

        tab = strchr(line, '\t');
        def = NULL;

        if (tab) {
            *tab = '\0';
            def = tab + 1;
            len = tab - line;
        }

        if (ngx_twilio_phone_parse((unsigned char *) line, len, def, &ph)
            != 0)
        {
            printf("invalid\n");

        } else {
            printf("%s %u %s\n", ph.e164, ph.cc, ph.region);
        }
    }

    return 0;
}


static int
json_lines(void)
{
    int            rc, hi, lo;
    char           line[65536];
    size_t         i, n, len;
    unsigned       count;
    unsigned char  doc[32768], out[64];

    static const char  *names[] = { "missing", "found", "ambiguous",
                                    "malformed" };

    while (fgets(line, sizeof(line), stdin)) {
        n = strcspn(line, "\n") / 2;

        for (i = 0; i < n && i < sizeof(doc); i++) {
            sscanf(line + 2 * i, "%1x%1x", (unsigned *) &hi, (unsigned *) &lo);
            doc[i] = (unsigned char) (hi * 16 + lo);
        }

        len = sizeof(out);
        count = 0;

        rc = ngx_twilio_json_value(doc, i, "phone", 5, out, &len, &count);

        printf("%s", names[rc]);

        if (rc == NGX_TWILIO_PARAM_FOUND) {
            printf(" ");

            for (i = 0; i < len; i++) {
                printf("%02x", out[i]);
            }
        }

        printf("\n");
    }

    return 0;
}


/*
 * attack7: the documented reading of a parameter name (the reference for
 * ngx_twilio_name_like()'s fast path and its folding loop): leading
 * white space dropped, cut at a NUL, cut at a "[" that is closed (and at
 * one that is not, unless the name has "_" there: PHP reads it as "_"),
 * PHP's " " and "." as "_", ASCII case, and the four non-ASCII letters
 */

static int
ref_closed(const unsigned char *p, const unsigned char *last)
{
    for (p++; p < last && *p; p++) {
        if (*p == ']') {
            return 1;
        }
    }

    return 0;
}


static int
ref_like(const unsigned char *k, size_t n, const char *name)
{
    size_t                i, len;
    unsigned char         c;
    const unsigned char  *p, *last;

    p = k;
    last = k + n;
    len = strlen(name);

    while (p < last && (*p == ' ' || (*p >= '\t' && *p <= '\r'))) {
        p++;
    }

    /* attack8: Spring's "!name"; Rack 2's "[name]", "]name", "name]" */

    if (p < last && *p == '!' && name[0] != '!') {
        p++;
    }

    while (p < last && (*p == '[' || *p == ']') && name[0] != ']') {
        p++;
    }

    for (i = 0; p < last && *p; i++) {
        if (*p == '['
            && (i == len || name[i] != '_' || ref_closed(p, last)))
        {
            break;
        }

        if (*p == ']' && i == len) {
            break;
        }

        if (i == len) {
            return 0;
        }

        c = (unsigned char) name[i];
        c = (c >= 'A' && c <= 'Z') ? (c | 0x20) : c;

        if (*p == c || (*p >= 'A' && *p <= 'Z' && (*p | 0x20) == c)
            || (c == '_' && (*p == ' ' || *p == '.' || *p == '[')))
        {
            p++;

        } else if (c == 's' && last - p >= 2 && p[0] == 0xc5 && p[1] == 0xbf)
        {
            p += 2;

        } else if (c == 'i' && last - p >= 2 && p[0] == 0xc4
                   && (p[1] == 0xb0 || p[1] == 0xb1))
        {
            p += 2;

        } else if (c == 'k' && last - p >= 3 && p[0] == 0xe2
                   && p[1] == 0x84 && p[2] == 0xaa)
        {
            p += 3;

        } else {
            return 0;
        }
    }

    return i == len;
}


static unsigned  names_bad;


/* a reader that disagrees with the reference: the first ten are shown */

static void
names_report(const char *kind, const unsigned char *k, size_t n,
    const char *name, int rc, int want)
{
    size_t  i;

    if (rc == want || names_bad++ >= 10) {
        return;
    }

    printf("# %sname %s, key", kind, name);

    for (i = 0; i < n; i++) {
        printf(" %02x", k[i]);
    }

    printf(": %d, the reference %d\n", rc, want);
}


/* the key, every byte %XX, as a form's only name: found or not */

static void
names_one(const unsigned char *k, size_t n, const char *name)
{
    int            rc, want;
    char           in[1200];
    size_t         i, len, l;
    unsigned       count;
    unsigned char  out[16];

    l = 0;

    for (i = 0; i < n; i++) {
        l += sprintf(in + l, "%%%02X", k[i]);
    }

    memcpy(in + l, "=1", 3);
    l += 2;

    len = sizeof(out);
    count = 0;

    rc = ngx_twilio_form_value((const unsigned char *) in, l, name,
                               strlen(name), out, &len, &count);

    want = (n < 256 ? ref_like(k, n, name) : ref_like(k, 255, name))
           ? NGX_TWILIO_PARAM_FOUND : NGX_TWILIO_PARAM_MISSING;

    names_report("", k, n, name, rc, want);
}


/*
 * Every key of up to two bytes, of three from the bytes that matter, and
 * every one- and two-byte change, insertion and non-ASCII letter in
 * names with "_", "-" and digits: the matcher as the reference
 */

static void
names_sweep(void)
{
    static const char     *names[] = { "To", "a_b", "phone_number",
                                       "Phone-Number2", "sik", "x" };
    static const unsigned char  bytes[] = {
        0x00, 0x09, 0x0a, 0x0b, 0x0d, 0x20, '.', '[', ']', '_', '-', '@',
        '`', '!', 0x7f, 0x80, 0xb0, 0xb1, 0xbf, 0xc4, 0xc5, 0xe2, 0x84, 0xaa,
        'a', 'A', 'b', 'B', 't', 'T', 'o', 'O', 'x', 'X', 'k', 'K', 's',
        'S', 'i', 'I', '2'
    };

    size_t          a, b, c, i, m, nb, nl;
    unsigned char   k[600];
    const char     *name;

    nb = sizeof(bytes);

    for (m = 0; m < sizeof(names) / sizeof(names[0]); m++) {
        name = names[m];
        nl = strlen(name);

        names_one(k, 0, name);

        for (a = 0; a < 256; a++) {
            k[0] = (unsigned char) a;
            names_one(k, 1, name);

            for (b = 0; b < 256; b++) {
                k[1] = (unsigned char) b;
                names_one(k, 2, name);
            }
        }

        for (a = 0; a < nb; a++) {
            for (b = 0; b < nb; b++) {
                for (c = 0; c < nb; c++) {
                    k[0] = bytes[a]; k[1] = bytes[b]; k[2] = bytes[c];
                    names_one(k, 3, name);
                }
            }
        }

        /* the name with one byte changed, or one or two inserted */

        for (i = 0; i <= nl; i++) {
            for (a = 0; a < 256; a++) {
                memcpy(k, name, nl);

                if (i < nl) {
                    k[i] = (unsigned char) a;
                    names_one(k, nl, name);
                }

                memcpy(k, name, i);
                k[i] = (unsigned char) a;
                memcpy(k + i + 1, name + i, nl - i);
                names_one(k, nl + 1, name);

                for (b = 0; b < nb; b++) {
                    k[i + 1] = bytes[b];
                    memcpy(k + i + 2, name + i, nl - i);
                    names_one(k, nl + 2, name);
                }
            }

            /* the non-ASCII letters in place of the letter at i */

            if (i < nl) {
                static const char  *u[] = { "\xc5\xbf", "\xc4\xb0",
                                            "\xc4\xb1", "\xe2\x84\xaa" };

                for (a = 0; a < 4; a++) {
                    memcpy(k, name, i);
                    memcpy(k + i, u[a], strlen(u[a]));
                    memcpy(k + i + strlen(u[a]), name + i + 1, nl - i - 1);
                    names_one(k, nl - 1 + strlen(u[a]), name);
                }
            }
        }

        /* long names: the name, then a NUL, "[", "[]" and 300 bytes */

        for (a = 0; a < 4; a++) {
            static const char  *cut[] = { "", "\0", "[", "[]" };

            memcpy(k, name, nl);
            memcpy(k + nl, cut[a], a == 1 ? 1 : strlen(cut[a]));
            memset(k + nl + (a == 1 ? 1 : strlen(cut[a])), 'z', 300);
            names_one(k, nl + (a == 1 ? 1 : strlen(cut[a])) + 300, name);
        }
    }

    ok(names_bad == 0, "names: the matcher reads every key as the "
       "reference does (%u differ)", names_bad);
}


/*
 * attack8: a randomized sweep, the form and the JSON reader against the
 * reference: names built from a configured name by changing the case of
 * letters, putting the non-ASCII letters, white space, ".", "[", "]",
 * "!", "_", a NUL and other bytes in, around and in place of its bytes
 */

static unsigned  rnd_state = 0x2545f491;


static unsigned
rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 17;
    rnd_state ^= rnd_state << 5;

    return rnd_state;
}


/* the key, JSON-escaped, as a JSON object's only member: found or not */

static void
names_json_one(const unsigned char *k, size_t n, const char *name)
{
    int            rc, want;
    char           in[1200];
    size_t         i, len, l;
    unsigned       count;
    unsigned char  out[16];

    l = 0;
    in[l++] = '{';
    in[l++] = '"';

    for (i = 0; i < n; i++) {
        if (k[i] < 0x20 || k[i] == '"' || k[i] == '\\') {
            l += sprintf(in + l, "\\u%04x", k[i]);

        } else {
            in[l++] = (char) k[i];
        }
    }

    memcpy(in + l, "\":\"1\"}", 6);
    l += 6;

    len = sizeof(out);
    count = 0;

    rc = ngx_twilio_json_value((const unsigned char *) in, l, name,
                               strlen(name), out, &len, &count);

    want = ref_like(k, n, name) ? NGX_TWILIO_PARAM_FOUND
                                : NGX_TWILIO_PARAM_MISSING;

    names_report("json ", k, n, name, rc, want);
}


static void
names_random(void)
{
    static const char  *names[] = { "To", "phone_number", "a_b_c", "sik",
                                    "Phone-Number2", "x", "my_Phone" };
    static const char  *tok[] = {
        " ", "\t", "\v", ".", "[", "]", "!", "_", "\0", "-", "\xc5\xbf",
        "\xc4\xb0", "\xc4\xb1", "\xe2\x84\xaa", "\xc3\xa9", "z", "]]",
        "[]", "[x]", "[ ]", "0", "%", "+", "\x7f", "\xc2\x80"
    };

    size_t          i, m, n, nl, t, iter, ntok, utf;
    unsigned        r;
    unsigned char   k[128];
    const char     *name;

    ntok = sizeof(tok) / sizeof(tok[0]);

    if (getenv("PHONE_TEST_SEED")) {
        rnd_state = (unsigned) strtoul(getenv("PHONE_TEST_SEED"), NULL, 0)
                    | 1;
    }

    for (iter = 0; iter < 300000; iter++) {
        name = names[rnd() % (sizeof(names) / sizeof(names[0]))];
        nl = strlen(name);
        n = 0;

#define ADD_TOK(x)                                                           \
        do {                                                                 \
            t = (x);                                                         \
            m = (t == 8) ? 1 : strlen(tok[t]);                               \
            memcpy(k + n, tok[t], m);                                        \
            n += m;                                                          \
        } while (0)

        for (i = rnd() % 4; i > 0; i--) {
            if (rnd() % 2) {
                ADD_TOK(rnd() % ntok);
            }
        }

        for (i = 0; i < nl; i++) {
            r = rnd() % 16;

            if (r < 10) {
                k[n++] = (unsigned char) name[i];

            } else if (r < 12) {
                k[n++] = (unsigned char) (name[i] ^ 0x20);

            } else if (r < 14) {
                ADD_TOK(rnd() % ntok);

            } else if (r == 14) {
                ADD_TOK(rnd() % ntok);
                k[n++] = (unsigned char) name[i];

            } /* else the byte is left out */
        }

        for (i = rnd() % 4; i > 0; i--) {
            ADD_TOK(rnd() % ntok);
        }

#undef ADD_TOK

        names_one(k, n, name);

        /* JSON names are UTF-8: "\x7f" and the rest are, "\x80" alone not */

        utf = 1;

        for (i = 0; i < n; i++) {
            if (k[i] >= 0x80 && k[i] < 0xc0
                && (i == 0 || k[i - 1] < 0x80))
            {
                utf = 0;
            }
        }

        if (utf) {
            names_json_one(k, n, name);
        }
    }

    ok(names_bad == 0, "names: a randomized sweep, the form and the JSON "
       "readers as the reference (%u differ)", names_bad);
}


int
main(int argc, char **argv)
{
    char  big[200];

    if (argc > 1 && strcmp(argv[1], "--lines") == 0) {
        return lines();
    }

    if (argc > 1 && strcmp(argv[1], "--json") == 0) {
        return json_lines();
    }

    /* normalisation */

    number("+14155550100", NULL, "+14155550100", "US");
    number("+1 (415) 555-0100", NULL, "+14155550100", "US");
    number("001.415.555.0100", NULL, "+14155550100", "US");
    number("+1/415/555/0100", NULL, "+14155550100", "US");
    number("(+44) 7700 900123", NULL, "+447700900123", "GB");
    number("4155550100", NULL, NULL, NULL);
    number("4155550100", "US", "+14155550100", "US");
    number("1 415 555 0100", "US", "+14155550100", "US");
    number("07700 900123", "GB", "+447700900123", "GB");
    number("0044 7700 900123", "US", "+447700900123", "GB");
    number("06 6982 1234", "IT", "+390669821234", "VA");
    number("+39 06 1234 5678", NULL, "+390612345678", "IT");
    number("06 1234 5678", "IT", "+390612345678", "IT");
    number("07700 900123", "XX", NULL, NULL);
    number("+1 876 555 0100", NULL, "+18765550100", "JM");
    number("+1 268 464 1234", NULL, "+12684641234", "AG");
    number("+1 416 555 0100", NULL, "+14165550100", "CA");
    number("+1 211 555 0100", NULL, NULL, NULL);   /* no such area code */
    number("+1 015 555 0100", NULL, NULL, NULL);
    number("+1 415 555 010", NULL, NULL, NULL);
    number("+7 701 123 4567", NULL, "+77011234567", "KZ");
    number("+7 912 123 4567", NULL, "+79121234567", "RU");
    number("+44 7624 123456", NULL, "+447624123456", "IM");
    number("+262 269 123456", NULL, "+262269123456", "YT");
    number("+800 1234 5678", NULL, "+80012345678", "001");
    number("+882 1234", NULL, NULL, NULL);
    number("+999 1234 5678", NULL, NULL, NULL);     /* not assigned */
    number("+0 1234 5678", NULL, NULL, NULL);
    number("+", NULL, NULL, NULL);
    number("", NULL, NULL, NULL);
    number("00", NULL, NULL, NULL);
    number("++14155550100", NULL, NULL, NULL);
    number("+1415+5550100", NULL, NULL, NULL);
    number("+1 415 555 0100 x12", NULL, NULL, NULL);
    number("+1\t4155550100", NULL, NULL, NULL);
    number("+1415555010012345", NULL, NULL, NULL);  /* over 15 */
    number("+１4155550100", NULL, NULL, NULL);      /* fullwidth one */

    memset(big, ' ', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "+14155550100", 12);
    number(big, NULL, NULL, NULL);                  /* over 64 bytes */

    ok(ngx_twilio_phone_region_national("GB") == 1, "GB is a region");
    ok(ngx_twilio_phone_region_national("UK") == -1, "UK is not");
    ok(ngx_twilio_phone_region_national("BY") == 0,
       "BY's national numbers are not parsed");
    number("8 029 491 19 11", "BY", NULL, NULL);
    number("+44 (0) 7700 900123", NULL, NULL, NULL);
    number("+86 0800 123 456", NULL, NULL, NULL);
    number("+7 812 123 4567", NULL, "+78121234567", "RU");
    ok(strncmp(ngx_twilio_phone_metadata, "libphonenumber ", 15) == 0,
       "metadata version %s", ngx_twilio_phone_metadata);

    /* forms and queries */

    form("To=%2B14155550100&Body=hi", "To", NGX_TWILIO_PARAM_FOUND,
         "+14155550100", 1);
    form("To=+1+415&x=1", "To", NGX_TWILIO_PARAM_FOUND, " 1 415", 1);
    form("a=1&b=2", "To", NGX_TWILIO_PARAM_MISSING, NULL, 0);
    form("", "To", NGX_TWILIO_PARAM_MISSING, NULL, 0);
    form("To=1&To=2", "To", NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 2);
    form("To=1&%54o=2", "To", NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 2);
    form("to=1&TO=2", "To", NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 2);
    form("to=1", "To", NGX_TWILIO_PARAM_FOUND, "1", 1);
    form("phone=1&Phone=2", "phone", NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 2);
    form("phone=1&+phone=2", "phone", NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 2);
    form("phone=1&%20%09phone=2", "phone", NGX_TWILIO_PARAM_AMBIGUOUS,
         NULL, 2);
    form("phone=1&phone[]=2", "phone", NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 2);
    form("phone=1&phone%5Bx%5D=2", "phone", NGX_TWILIO_PARAM_AMBIGUOUS,
         NULL, 2);
    form("phone=1&phone%00x=2", "phone", NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 2);
    form("phone=1&pHoNe=2", "phone", NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 2);
    form("ask=1&a%C5%BFk=2", "ask", NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 2);
    form("id=1&%C4%B0d=2", "id", NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 2);
    form("key=1&%E2%84%AAey=2", "key", NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 2);
    form("phone=1&phones=2&xphone=3&phon=4", "phone", NGX_TWILIO_PARAM_FOUND,
         "1", 1);
    form("phone=1&++++++++++++++++++++++++++++++++++++++++++++++++++++++++++"
         "++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++"
         "++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++"
         "++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++"
         "phone=2", "phone", NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 2);
    form("To&x=1", "To", NGX_TWILIO_PARAM_FOUND, "", 1);
    form("To=%zz%2", "To", NGX_TWILIO_PARAM_FOUND, "%zz%2", 1);
    form("phone=111111111111111111111111111111111111111111111111111111111111"
         "11111111", "phone", NGX_TWILIO_PARAM_MALFORMED, NULL, 1);

    /* attack7: PHP's "phone.number", "phone number", "phone[number" */
    form("phone_number=1&phone.number=2", "phone_number",
         NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 2);
    form("phone_number=1&phone+number=2", "phone_number",
         NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 2);
    form("phone_number=1&phone%5Bnumber=2", "phone_number",
         NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 2);
    form("phone.number=2", "phone_number", NGX_TWILIO_PARAM_FOUND, "2", 1);
    form("phone_number=1&phone%5Bnumber%5D=2", "phone_number",
         NGX_TWILIO_PARAM_FOUND, "1", 1);
    form("phone_number=1&phone_number%5B%5D=2", "phone_number",
         NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 2);
    form("phone=1&phone.x=2", "phone", NGX_TWILIO_PARAM_FOUND, "1", 1);

    /* attack7: a long name cut at a NUL is PHP's name */
    {
        char  lng[400];

        strcpy(lng, "phone=1&phone%00");
        memset(lng + 16, 'z', 300);
        strcpy(lng + 316, "=2");
        form(lng, "phone", NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 2);

        strcpy(lng, "phone=1&phone%5Bx");
        memset(lng + 17, 'z', 300);
        strcpy(lng + 317, "%5D=2");
        form(lng, "phone", NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 2);

        strcpy(lng, "phone=1&phonex");
        memset(lng + 14, 'z', 300);
        strcpy(lng + 314, "=2");
        form(lng, "phone", NGX_TWILIO_PARAM_FOUND, "1", 1);
    }

    /* attack8: Rack 2's and qs's bracket names, Spring's "!name" */

    form("phone=1&%5Bphone%5D=2", "phone", NGX_TWILIO_PARAM_AMBIGUOUS,
         NULL, 2);
    form("phone=1&]phone=2", "phone", NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 2);
    form("phone=1&phone]=2", "phone", NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 2);
    form("phone=1&phone][x]=2", "phone", NGX_TWILIO_PARAM_AMBIGUOUS,
         NULL, 2);
    form("phone=1&[[]]phone=2", "phone", NGX_TWILIO_PARAM_AMBIGUOUS,
         NULL, 2);
    form("+phone=1&!phone=2", "phone", NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 2);
    form("!PHONE=1", "phone", NGX_TWILIO_PARAM_FOUND, "1", 1);
    form("!phone_number=1", "phone_number", NGX_TWILIO_PARAM_FOUND, "1", 1);
    form("phone=1&phone!=2&_phone=3&!!phone=4&ph]one=5", "phone",
         NGX_TWILIO_PARAM_FOUND, "1", 1);
    form("phone=1&phone]x=2", "phone", NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 2);
    form("a]=1", "a]", NGX_TWILIO_PARAM_FOUND, "1", 1);
    form("!a=1&a=2", "!a", NGX_TWILIO_PARAM_FOUND, "1", 1);
    json("{\"[phone]\":\"1\",\"phone\":\"2\"}", "phone",
         NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 0);

    {
        char  lng[1200];

        strcpy(lng, "phone=1&");

        /* 300 bytes of "!", "]" and "[" (long: the key's first 255) */

        for (int i = 0; i < 300; i++) {
            strcpy(lng + 8 + 3 * i, i % 3 ? "%5B" : (i % 2 ? "%5d" : "%21"));
        }

        strcpy(lng + 908, "phone=2");
        form(lng, "phone", NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 2);

        memset(lng + 8, '[', 300);
        strcpy(lng + 308, "phone%00zz=2");
        form(lng, "phone", NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 2);
    }

    names_sweep();
    names_random();

    /* JSON */

    json("{\"phone\":\"+14155550100\"}", "phone", NGX_TWILIO_PARAM_FOUND,
         "+14155550100", 0);
    json(" {\"a\":[1,{\"phone\":\"x\"}],\"phone\" : \"\\u002B1\"} ", "phone",
         NGX_TWILIO_PARAM_FOUND, "+1", 0);
    json("{\"ph\\u006Fne\":\"1\"}", "phone", NGX_TWILIO_PARAM_FOUND, "1", 0);
    json("{\"phone\":\"\\ud83d\\ude00\\u00e9\\n\"}", "phone",
         NGX_TWILIO_PARAM_FOUND, "\xf0\x9f\x98\x80\xc3\xa9\n", 0);
    json("{\"phone\":\"\\u0000\"}", "phone", NGX_TWILIO_PARAM_FOUND, "", 1);
    json("{\"phone\":\"1\",\"phone\":\"2\"}", "phone",
         NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 0);
    json("{\"phone\":\"1\",\"PHONE\":\"2\"}", "phone",
         NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 0);
    json("{\"Phone\":\"1\"}", "phone", NGX_TWILIO_PARAM_FOUND, "1", 0);
    json("{\"phone\":1}", "phone", NGX_TWILIO_PARAM_MALFORMED, NULL, 0);
    json("{\"phone\":null}", "phone", NGX_TWILIO_PARAM_MALFORMED, NULL, 0);
    json("{\"a\":1}", "phone", NGX_TWILIO_PARAM_MISSING, NULL, 0);
    json("{}", "phone", NGX_TWILIO_PARAM_MISSING, NULL, 0);
    json("[]", "phone", NGX_TWILIO_PARAM_MALFORMED, NULL, 0);
    json("\"phone\"", "phone", NGX_TWILIO_PARAM_MALFORMED, NULL, 0);
    json("{\"phone\":\"1\"} x", "phone", NGX_TWILIO_PARAM_MALFORMED, NULL, 0);
    json("{\"phone\":\"1\",}", "phone", NGX_TWILIO_PARAM_MALFORMED, NULL, 0);
    json("{\"phone\":\"1\"", "phone", NGX_TWILIO_PARAM_MALFORMED, NULL, 0);
    json("{'phone':'1'}", "phone", NGX_TWILIO_PARAM_MALFORMED, NULL, 0);
    json("{\"phone\":\"a\tb\"}", "phone", NGX_TWILIO_PARAM_MALFORMED, NULL,
         0);
    json("{\"phone\":\"\\ud800\"}", "phone", NGX_TWILIO_PARAM_MALFORMED,
         NULL, 0);
    json("{\"phone\":\"\\udc00\"}", "phone", NGX_TWILIO_PARAM_MALFORMED,
         NULL, 0);
    json("{\"phone\":\"\xc0\xaf\"}", "phone", NGX_TWILIO_PARAM_MALFORMED,
         NULL, 0);
    json("{\"phone\":\"\xed\xa0\x80\"}", "phone", NGX_TWILIO_PARAM_MALFORMED,
         NULL, 0);
    json("{\"a\":01}", "phone", NGX_TWILIO_PARAM_MALFORMED, NULL, 0);
    json("{\"a\":1.}", "phone", NGX_TWILIO_PARAM_MALFORMED, NULL, 0);
    json("{\"a\":-1.5e+3}", "phone", NGX_TWILIO_PARAM_MISSING, NULL, 0);
    json("{\"a\":NaN}", "phone", NGX_TWILIO_PARAM_MALFORMED, NULL, 0);
    json("{\"a\":tru}", "phone", NGX_TWILIO_PARAM_MALFORMED, NULL, 0);
    json("{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]"
         "]]]]]]]]]]]]]]]]]}", "phone", NGX_TWILIO_PARAM_MALFORMED, NULL, 0);
    json("\xef\xbb\xbf{}", "phone", NGX_TWILIO_PARAM_MALFORMED, NULL, 0);
    json("{\"phone\":\"111111111111111111111111111111111111111111111111111111"
         "1111111111111\"}", "phone", NGX_TWILIO_PARAM_MALFORMED, NULL, 0);

    /* member names: printable ASCII compared at once, the rest folded */
    json("{\"PHONE\":\"1\"}", "phone", NGX_TWILIO_PARAM_FOUND, "1", 0);
    json("{\"phonE\":\"1\"}", "Phone", NGX_TWILIO_PARAM_FOUND, "1", 0);
    json("{\"phon\":\"1\"}", "phone", NGX_TWILIO_PARAM_MISSING, NULL, 0);
    json("{\"phones\":\"1\"}", "phone", NGX_TWILIO_PARAM_MISSING, NULL, 0);
    json("{\"phone_\":\"1\"}", "phone", NGX_TWILIO_PARAM_MISSING, NULL, 0);
    json("{\"pHone[]\":\"1\"}", "phone", NGX_TWILIO_PARAM_FOUND, "1", 0);
    json("{\" phone\":\"1\"}", "phone", NGX_TWILIO_PARAM_FOUND, "1", 0);
    json("{\"phone\\u0000x\":\"1\"}", "phone", NGX_TWILIO_PARAM_FOUND,
         "1", 0);
    json("{\"\xc5\xbfms\":\"1\"}", "sms", NGX_TWILIO_PARAM_FOUND, "1", 0);
    json("{\"s\xc5\xbfm\":\"1\"}", "ssm", NGX_TWILIO_PARAM_FOUND, "1", 0);
    json("{\"\xe2\x84\xaa" "ey\":\"1\"}", "key", NGX_TWILIO_PARAM_FOUND,
         "1", 0);
    json("{\"p_one\":\"1\"}", "p-one", NGX_TWILIO_PARAM_MISSING, NULL, 0);
    json("{\"p@one\":\"1\"}", "p`one", NGX_TWILIO_PARAM_MISSING, NULL, 0);
    json("{\"a[b\":\"1\"}", "a[b", NGX_TWILIO_PARAM_MISSING, NULL, 0);
    json("{\"to\":\"1\",\"To\":\"2\"}", "To",
         NGX_TWILIO_PARAM_AMBIGUOUS, NULL, 0);

    json_runs();

    printf("1..%d\n", test_no);

    return test_failed ? 1 : 0;
}
