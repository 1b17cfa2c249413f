
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * Unit tests of the pure core, printing TAP.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ngx_twilio_guard_core.h"
#include "ngx_twilio_tap.h"


static void *
heap_alloc(void *pool, size_t size)
{
    (void) pool;

    /* leaked on purpose: the process is short-lived */
    return malloc(size ? size : 1);
}


/* heap_alloc(), counting the calls */

static size_t  alloc_calls;

static void *
counting_alloc(void *pool, size_t size)
{
    alloc_calls++;

    return heap_alloc(pool, size);
}


static int
str_is(const ngx_twilio_str_t *s, const char *expect)
{
    return s->len == strlen(expect) && memcmp(s->data, expect, s->len) == 0;
}


static char *
canonical(const char *body, int order)
{
    size_t               n, len;
    char                *out;
    u_char              *dec;
    ngx_twilio_param_t  *params;

    len = strlen(body);
    n = ngx_twilio_form_count((u_char *) body, len);
    params = calloc(n + 1, sizeof(ngx_twilio_param_t));
    dec = malloc(len + 1);
    out = calloc(1, len + 1);

    n = ngx_twilio_form_parse((u_char *) body, len, params, dec);
    ngx_twilio_form_sort(params, n, order, heap_alloc, NULL);
    ngx_twilio_form_canonical(params, n, (u_char *) out);

    free(params);
    free(dec);

    return out;
}


static const char *
toggle(const char *url)
{
    size_t       len;
    static char  buf[512];

    if (ngx_twilio_url_toggle_port((u_char *) url, strlen(url),
                                   (u_char *) buf, &len)
        != 0)
    {
        return "(none)";
    }

    buf[len] = '\0';
    return buf;
}


static const char *
validate(const char *token, const char *url, const char *body, int form,
    const char *sig)
{
    ngx_twilio_key_t      key;
    ngx_twilio_result_t   res;
    ngx_twilio_request_t  req;

    memset(&key, 0, sizeof(key));
    key.mac = ngx_twilio_mac_create(NGX_TWILIO_HMAC_SHA1, (u_char *) token,
                                    strlen(token));

    memset(&req, 0, sizeof(req));
    req.url.data = (u_char *) url;
    req.url.len = strlen(url);
    req.body.data = (u_char *) body;
    req.body.len = body ? strlen(body) : 0;
    req.signature.data = (u_char *) sig;
    req.signature.len = strlen(sig);
    req.form = form;
    req.alg = NGX_TWILIO_HMAC_SHA1;
    req.max_params = 0;

    ngx_twilio_validate(&req, &key, 1, heap_alloc, NULL, &res);
    ngx_twilio_mac_free(key.mac);

    return ngx_twilio_reason_names[res.reason];
}


/* ngx_twilio_validate() before the body is read: body_later */

static const char *
validate_later(const char *token, const char *url, int form, size_t announced,
    const char *sig)
{
    ngx_twilio_key_t      key;
    ngx_twilio_result_t   res;
    ngx_twilio_request_t  req;

    memset(&key, 0, sizeof(key));
    key.mac = ngx_twilio_mac_create(NGX_TWILIO_HMAC_SHA1, (u_char *) token,
                                    strlen(token));

    memset(&req, 0, sizeof(req));
    req.url.data = (u_char *) url;
    req.url.len = strlen(url);
    req.body.len = announced;
    req.signature.data = (u_char *) sig;
    req.signature.len = strlen(sig);
    req.form = form;
    req.alg = NGX_TWILIO_HMAC_SHA1;
    req.body_later = 1;

    ngx_twilio_validate(&req, &key, 1, heap_alloc, NULL, &res);
    ngx_twilio_mac_free(key.mac);

    return ngx_twilio_reason_names[res.reason];
}


static const char *
sign(const char *token, const char *url, const char *canon)
{
    size_t             len;
    ngx_twilio_mac_t  *mac;
    ngx_twilio_str_t   parts[2];
    static char        b64[NGX_TWILIO_SIG_MAX];

    mac = ngx_twilio_mac_create(NGX_TWILIO_HMAC_SHA1, (u_char *) token,
                                strlen(token));
    parts[0].data = (u_char *) url;
    parts[0].len = strlen(url);
    parts[1].data = (u_char *) canon;
    parts[1].len = strlen(canon);

    ngx_twilio_mac_sign(mac, parts, 2, (u_char *) b64, &len);
    ngx_twilio_mac_free(mac);
    b64[len] = '\0';

    return b64;
}


/*
 * n unbound tokens "t1" ... "tn"; the request is signed by the last one.
 * Returns the reason, or "tried" when a MAC was computed for a rejection.
 */

static const char *
validate_n(size_t n)
{
    char                  tok[32];
    size_t                i;
    ngx_twilio_key_t      keys[NGX_TWILIO_MAX_KEYS + 1];
    ngx_twilio_result_t   res;
    ngx_twilio_request_t  req;

    memset(keys, 0, sizeof(keys));
    tok[0] = '\0';

    for (i = 0; i < n; i++) {
        snprintf(tok, sizeof(tok), "t%zu", i + 1);
        keys[i].mac = ngx_twilio_mac_create(NGX_TWILIO_HMAC_SHA1,
                                            (u_char *) tok, strlen(tok));
    }

    memset(&req, 0, sizeof(req));
    req.url.data = (u_char *) "https://h/p";
    req.url.len = 11;
    req.signature.data = (u_char *) sign(tok, "https://h/p", "");
    req.signature.len = strlen((char *) req.signature.data);
    req.alg = NGX_TWILIO_HMAC_SHA1;

    ngx_twilio_validate(&req, keys, n, heap_alloc, NULL, &res);

    for (i = 0; i < n; i++) {
        ngx_twilio_mac_free(keys[i].mac);
    }

    if (res.reason != NGX_TWILIO_OK && res.tried) {
        return "tried";
    }

    return ngx_twilio_reason_names[res.reason];
}


/* the inverse of ngx_twilio_export_escape(): every "%XX" is one byte */

static size_t
export_unescape(u_char *dst, const u_char *src, size_t len)
{
    size_t  i, n;
    int     hi, lo;

    n = 0;

    for (i = 0; i < len; i++) {
        if (src[i] == '%' && i + 2 < len) {
            hi = src[i + 1] <= '9' ? src[i + 1] - '0' : src[i + 1] - 'A' + 10;
            lo = src[i + 2] <= '9' ? src[i + 2] - '0' : src[i + 2] - 'A' + 10;
            dst[n++] = (u_char) (hi * 16 + lo);
            i += 2;

        } else {
            dst[n++] = src[i];
        }
    }

    return n;
}


static const char *
export(const char *s, size_t len)
{
    size_t       n;
    static char  buf[256];

    n = ngx_twilio_export_escape((u_char *) buf, (u_char *) s, len);
    buf[n] = '\0';

    return buf;
}


static const char *
lookup(const char *url, const char *body, int form, const char *name)
{
    ngx_twilio_str_t      raw;
    ngx_twilio_request_t  req;
    static char           buf[256];

    memset(&req, 0, sizeof(req));
    req.url.data = (u_char *) url;
    req.url.len = strlen(url);
    req.body.data = (u_char *) body;
    req.body.len = body ? strlen(body) : 0;
    req.form = form;

    if (!ngx_twilio_param_lookup(&req, (u_char *) name, strlen(name), &raw)) {
        return "(none)";
    }

    snprintf(buf, sizeof(buf), "%.*s", (int) raw.len, raw.data);

    return buf;
}


/* the AccountSid values of a JSON text, "|"-separated, or "(malformed)" */

static void
json_collect(void *data, const ngx_twilio_str_t *value)
{
    char  *out = data;

    if (*out) {
        strcat(out, "|");
    }

    if (value == NULL) {
        strcat(out, "(not a string)");

    } else {
        strncat(out, (char *) value->data, value->len);
    }
}


static const char *
json(const char *text)
{
    u_char       *buf;
    size_t        len;
    static char   out[1024];

    len = strlen(text);
    buf = malloc(len + 1);
    out[0] = '\0';

    if (ngx_twilio_json_accounts((u_char *) text, len, buf, json_collect, out)
        != 0)
    {
        strcpy(out, "(malformed)");
    }

    free(buf);

    return out;
}


/* ngx_twilio_account_claim(): the reason, and the claim after ":" */

static const char *
claim(const char *url, const char *body, int form, int use_json)
{
    int                   rc;
    ngx_twilio_str_t      sid;
    ngx_twilio_request_t  req;
    static char           buf[256];

    memset(&req, 0, sizeof(req));
    req.url.data = (u_char *) url;
    req.url.len = strlen(url);
    req.body.data = (u_char *) body;
    req.body.len = body ? strlen(body) : 0;
    req.form = form;

    rc = ngx_twilio_account_claim(&req, use_json, heap_alloc, NULL, &sid);

    if (rc != NGX_TWILIO_OK) {
        return ngx_twilio_reason_names[rc];
    }

    if (sid.data == NULL) {
        return "ok:(none)";
    }

    snprintf(buf, sizeof(buf), "ok:%.*s", (int) sid.len, sid.data);

    return buf;
}


#define SID01  "AC00000000000000000000000000000001"
#define SID0B  "AC0000000000000000000000000000000b"
#define TOK01  "token-of-account-01"
#define TOK0B  "token-of-account-0b"


/*
 * validate() under two keys bound to SID01 and SID0B; the signature is
 * made with tok over url (and the form's canonical string); the reason,
 * then "/" and the account the core decided.
 */

static const char *
validate_bound(const char *tok, const char *url, const char *body, int form)
{
    char                 *canon;
    ngx_twilio_key_t      keys[2];
    ngx_twilio_result_t   res;
    ngx_twilio_request_t  req;
    static char           buf[256];

    canon = form ? canonical(body, NGX_TWILIO_ORDER_BYTES) : strdup("");

    memset(keys, 0, sizeof(keys));
    keys[0].mac = ngx_twilio_mac_create(NGX_TWILIO_HMAC_SHA1,
                                        (u_char *) TOK01, strlen(TOK01));
    keys[0].account_sid.data = (u_char *) SID01;
    keys[0].account_sid.len = strlen(SID01);
    keys[1].mac = ngx_twilio_mac_create(NGX_TWILIO_HMAC_SHA1,
                                        (u_char *) TOK0B, strlen(TOK0B));
    keys[1].account_sid.data = (u_char *) SID0B;
    keys[1].account_sid.len = strlen(SID0B);

    memset(&req, 0, sizeof(req));
    req.url.data = (u_char *) url;
    req.url.len = strlen(url);
    req.body.data = (u_char *) body;
    req.body.len = strlen(body);
    req.signature.data = (u_char *) sign(tok, url, canon);
    req.signature.len = strlen((char *) req.signature.data);
    req.form = form;
    req.alg = NGX_TWILIO_HMAC_SHA1;

    ngx_twilio_validate(&req, keys, 2, heap_alloc, NULL, &res);

    ngx_twilio_mac_free(keys[0].mac);
    ngx_twilio_mac_free(keys[1].mac);
    free(canon);

    snprintf(buf, sizeof(buf), "%s/%.*s", ngx_twilio_reason_names[res.reason],
             (int) res.account.len,
             res.account.data ? (char *) res.account.data : "");

    return buf;
}


/* a URL with bodySHA256 of body, as a JSON webhook carries */

static const char *
json_url(const char *base, const char *body)
{
    size_t         i;
    unsigned int   mdlen;
    unsigned char  md[EVP_MAX_MD_SIZE];
    static char    buf[512];

    EVP_Digest(body, strlen(body), md, &mdlen, EVP_sha256(), NULL);

    snprintf(buf, sizeof(buf), "%s%sbodySHA256=", base,
             strchr(base, '?') ? "&" : "?");

    for (i = 0; i < mdlen; i++) {
        sprintf(buf + strlen(buf), "%02x", md[i]);
    }

    return buf;
}


typedef struct {
    char    sid[64];
    char    token[300];
    size_t  n;
} tokens_t;


static int
collect(void *data, ngx_twilio_str_t *sid, ngx_twilio_str_t *token,
    size_t line)
{
    tokens_t  *t = data;

    (void) line;

    snprintf(t->sid, sizeof(t->sid), "%.*s", (int) sid->len, sid->data);
    snprintf(t->token, sizeof(t->token), "%.*s", (int) token->len,
             token->data);
    t->n++;

    return 0;
}


static int
refuse(void *data, ngx_twilio_str_t *sid, ngx_twilio_str_t *token,
    size_t line)
{
    (void) data;
    (void) sid;
    (void) token;
    (void) line;

    return -1;
}


/* a shared key file's entries: the last key id, secret and account */

static int
collect_shared(void *data, ngx_twilio_str_t *id, ngx_twilio_str_t *secret,
    ngx_twilio_str_t *sid, size_t line)
{
    tokens_t  *t = data;

    (void) line;

    snprintf(t->sid, sizeof(t->sid), "%.*s|%.*s", (int) id->len, id->data,
             (int) sid->len, sid->data);
    snprintf(t->token, sizeof(t->token), "%.*s", (int) secret->len,
             secret->data);
    t->n++;

    return 0;
}


static int
parse_shared(const char *text, tokens_t *t, size_t *line, const char **err)
{
    memset(t, 0, sizeof(tokens_t));
    *err = NULL;
    *line = 0;

    return ngx_twilio_shared_keys_parse((u_char *) text, strlen(text),
                                        collect_shared, t, line, err);
}


static int
parse_tokens(const char *text, tokens_t *t, size_t *line, const char **err)
{
    memset(t, 0, sizeof(tokens_t));
    *err = NULL;
    *line = 0;

    return ngx_twilio_tokens_parse((u_char *) text, strlen(text), collect, t,
                                   line, err);
}


/*
 * form_parse() decodes a whole body in one pass (sixteen bytes at a time
 * where it can); check it against splitting at "&" and "=" and decoding
 * each part with ngx_twilio_unescape(), over bodies built from pieces
 * that put separators and escapes at every offset of a block.
 */

static int
parse_matches_unescape(unsigned seed, size_t len)
{
    size_t               i, n, m, klen, vlen;
    u_char              *body, *out, *ref, *p, *last, *amp, *eq;
    ngx_twilio_param_t  *params;
    static const char   *pieces[] = {
        "a", "bc", "&", "&&", "=", "==", "+", "%", "%4", "%41", "%zz",
        "%E2%82%AC", "0123456789abcdef", "\xf0\x9f", "%2B", "%26", "%3D"
    };

    body = calloc(1, len + 32);
    out = malloc(len + 32);
    ref = malloc(len + 32);

    for (i = 0; i < len; /* void */) {
        seed = seed * 1103515245 + 12345;
        p = (u_char *) pieces[(seed >> 16) % (sizeof(pieces) / sizeof(char *))];
        m = strlen((char *) p);
        if (i + m > len) {
            m = len - i;
        }
        memcpy(body + i, p, m);
        i += m;
    }

    n = ngx_twilio_form_count(body, len);
    params = calloc(n + 1, sizeof(ngx_twilio_param_t));

    if (ngx_twilio_form_parse(body, len, params, out) != n) {
        return 0;
    }

    /* the reference */

    m = 0;
    p = body;
    last = body + len;

    while (p < last) {
        amp = memchr(p, '&', last - p);
        amp = amp ? amp : last;

        if (amp > p) {
            eq = memchr(p, '=', amp - p);
            eq = eq ? eq : amp;
            klen = ngx_twilio_unescape(ref, p, eq - p);
            vlen = eq < amp ? ngx_twilio_unescape(ref + klen, eq + 1,
                                                  amp - eq - 1)
                            : 0;

            if (m >= n
                || params[m].key.len != klen
                || memcmp(params[m].key.data, ref, klen) != 0
                || params[m].value.len != vlen
                || memcmp(params[m].value.data, ref + klen, vlen) != 0)
            {
                return 0;
            }

            m++;
        }

        p = amp + 1;
    }

    free(params);
    free(ref);
    free(out);
    free(body);

    return m == n;
}


/*
 * A reference for the UTF-16 order, as the core compared before it
 * decoded each string once: decode both strings unit by unit from the
 * start, every byte outside a well-formed sequence one U+FFFD, then
 * values, then bytes.
 */

static const u_char *
ref_utf16_next(const u_char *p, const u_char *last, unsigned *unit,
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


static int
ref_cmp_str_utf16(const ngx_twilio_str_t *a, const ngx_twilio_str_t *b)
{
    unsigned       ua, ub, pa, pb;
    const u_char  *p, *q, *plast, *qlast;

    p = a->data;
    q = b->data;
    plast = p + a->len;
    qlast = q + b->len;
    pa = 0;
    pb = 0;

    while ((p < plast || pa) && (q < qlast || pb)) {
        p = ref_utf16_next(p, plast, &ua, &pa);
        q = ref_utf16_next(q, qlast, &ub, &pb);

        if (ua != ub) {
            return ua < ub ? -1 : 1;
        }
    }

    if (p < plast || pa) {
        return 1;
    }

    return (q < qlast || pb) ? -1 : 0;
}


static int
ref_cmp_str_bytes(const ngx_twilio_str_t *a, const ngx_twilio_str_t *b)
{
    size_t  i;

    for (i = 0; i < a->len && i < b->len; i++) {
        if (a->data[i] != b->data[i]) {
            return a->data[i] < b->data[i] ? -1 : 1;
        }
    }

    return (a->len > b->len) - (a->len < b->len);
}


static int
ref_cmp_bytes(const void *one, const void *two)
{
    int                        rc;
    const ngx_twilio_param_t  *a = one, *b = two;

    rc = ref_cmp_str_bytes(&a->key, &b->key);

    return rc ? rc : ref_cmp_str_bytes(&a->value, &b->value);
}


static int
ref_cmp_utf16(const void *one, const void *two)
{
    int                        rc;
    const ngx_twilio_param_t  *a = one, *b = two;

    rc = ref_cmp_str_utf16(&a->key, &b->key);

    if (rc == 0) {
        rc = ref_cmp_str_utf16(&a->value, &b->value);
    }

    return rc ? rc : ref_cmp_bytes(one, two);
}


/*
 * Sorts a form of n parameters built from pieces an attacker would use
 * (long shared prefixes, repeated keys, invalid and overlong UTF-8,
 * surrogates' neighbours, characters on both sides of the UTF-16 trap)
 * with the core, in both orders, and checks the canonical strings
 * against qsort() with the reference comparisons.  Returns 1 if they
 * agree.
 */

static int
sort_matches_reference(unsigned seed, size_t n, size_t prefix)
{
    int                  order, rc;
    size_t               i, k, m, len, np, c1, c2;
    u_char              *body, *dec, *out, *ref, *p;
    ngx_twilio_param_t  *params;
    static const char   *pieces[] = {
        "a", "b", "%00", "%7F", "%80", "%BF", "%C2%80", "%DF%BF",
        "%E0%80%80", "%E0%A0%80", "%ED%9F%BF", "%ED%A0%80", "%EE%80%80",
        "%EF%BF%BD", "%EF%BF%BF", "%F0%90%80%80", "%F0%9F%98%80",
        "%F4%8F%BF%BF", "%F4%90%80%80", "%F0%80%80%80", "%F0%9F",
        "%E2%82", "%FF", "%C0%80", "%F5", "+", "%25"
    };

    np = sizeof(pieces) / sizeof(char *);
    body = malloc(n * (prefix * 3 + 80) + 1);
    p = body;

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = '&';
        }

        /* a long shared prefix for some keys, repeated keys for others */

        seed = seed * 1103515245 + 12345;

        if ((seed >> 16) % 3 == 0) {
            memset(p, 'k', prefix);
            p += prefix;
        }

        for (k = 0; k < 2; k++) {
            seed = seed * 1103515245 + 12345;
            m = strlen(pieces[(seed >> 16) % np]);
            memcpy(p, pieces[(seed >> 16) % np], m);
            p += m;
        }

        *p++ = '=';

        seed = seed * 1103515245 + 12345;

        for (k = 0; k < (seed >> 16) % 3; k++) {
            seed = seed * 1103515245 + 12345;
            m = strlen(pieces[(seed >> 16) % np]);
            memcpy(p, pieces[(seed >> 16) % np], m);
            p += m;
        }
    }

    len = p - body;
    dec = malloc(len + 1);
    out = malloc(len + 1);
    ref = malloc(len + 1);
    params = malloc((n + 1) * sizeof(ngx_twilio_param_t));
    rc = 1;

    for (order = NGX_TWILIO_ORDER_BYTES; order <= NGX_TWILIO_ORDER_UTF16;
         order++)
    {
        if (ngx_twilio_form_parse(body, len, params, dec) != n) {
            rc = 0;
            break;
        }

        qsort(params, n, sizeof(ngx_twilio_param_t),
              order == NGX_TWILIO_ORDER_BYTES ? ref_cmp_bytes
                                              : ref_cmp_utf16);
        c1 = ngx_twilio_form_canonical(params, n, ref);

        /* from body order, and again from a sorted order */

        ngx_twilio_form_parse(body, len, params, dec);

        if (ngx_twilio_form_sort(params, n, order, heap_alloc, NULL) != 0) {
            rc = 0;
            break;
        }

        c2 = ngx_twilio_form_canonical(params, n, out);

        if (c1 != c2 || memcmp(ref, out, c1) != 0) {
            rc = 0;
            break;
        }

        ngx_twilio_form_sort(params, n, !order, heap_alloc, NULL);
        ngx_twilio_form_sort(params, n, order, heap_alloc, NULL);
        c2 = ngx_twilio_form_canonical(params, n, out);

        if (c1 != c2 || memcmp(ref, out, c1) != 0) {
            rc = 0;
            break;
        }
    }

    free(params);
    free(ref);
    free(out);
    free(dec);
    free(body);

    return rc;
}


/* a validation with a cap on the number of parameters */

static const char *
validate_capped(const char *url, const char *body, size_t max_params,
    const char *sig)
{
    ngx_twilio_key_t      key;
    ngx_twilio_result_t   res;
    ngx_twilio_request_t  req;

    memset(&key, 0, sizeof(key));
    key.mac = ngx_twilio_mac_create(NGX_TWILIO_HMAC_SHA1, (u_char *) "tok",
                                    3);

    memset(&req, 0, sizeof(req));
    req.url.data = (u_char *) url;
    req.url.len = strlen(url);
    req.body.data = (u_char *) body;
    req.body.len = strlen(body);
    req.signature.data = (u_char *) sig;
    req.signature.len = strlen(sig);
    req.form = 1;
    req.alg = NGX_TWILIO_HMAC_SHA1;
    req.max_params = max_params;

    ngx_twilio_validate(&req, &key, 1, counting_alloc, NULL, &res);
    ngx_twilio_mac_free(key.mac);

    return ngx_twilio_reason_names[res.reason];
}


int
main(void)
{
    int                   i, rc;
    char                 *c1, *c2;
    size_t                n, line;
    u_char                buf[64];
    tokens_t              t;
    const char           *err, *sig, *url, *body;
    ngx_twilio_str_t      hex, raw, qsid;
    ngx_twilio_request_t  qreq;

    /* metrics label values */

    n = ngx_twilio_label_escape(buf, (u_char *) "a\\b\"c\nd", 7);
    ok(n == 10 && memcmp(buf, "a\\\\b\\\"c\\nd", 10) == 0,
       "label: backslash, quote, line feed escaped");

    n = ngx_twilio_label_escape(buf, (u_char *) "\r\t\x7f\xc3\xa9/x", 7);
    ok(n == 7 && memcmp(buf, "_____/x", 7) == 0,
       "label: control and non-ASCII bytes become _");

    ok(ngx_twilio_label_escape(buf, (u_char *) "", 0) == 0, "label: empty");

    /* decoding */

    n = ngx_twilio_unescape(buf, (u_char *) "a+b%20c%2Bd%2b%", 15);
    ok(n == 9 && memcmp(buf, "a b c+d+%", 9) == 0, "unescape + and %%XX");

    n = ngx_twilio_unescape(buf, (u_char *) "%zz%4%41%", 9);
    ok(n == 7 && memcmp(buf, "%zz%4A%", 7) == 0, "malformed %% stays");

    n = ngx_twilio_unescape(buf, (u_char *) "%00x", 4);
    ok(n == 2 && buf[0] == '\0' && buf[1] == 'x', "%%00 decodes to NUL");

    ok(ngx_twilio_form_count((u_char *) "&&a=1&&b&", 9) == 2,
       "empty segments skipped");
    ok(ngx_twilio_form_count((u_char *) "", 0) == 0, "empty body");
    ok(ngx_twilio_form_count(NULL, 0) == 0, "empty body as NULL");
    ok(ngx_twilio_form_parse(NULL, 0, NULL, NULL) == 0,
       "empty body as NULL parses to nothing");
    ok(ngx_twilio_unescape(buf, NULL, 0) == 0, "nothing to unescape");

    for (i = 0; i < 200; i++) {
        if (!parse_matches_unescape(i, 1 + i * 7)) {
            break;
        }
    }

    ok(i == 200, "one-pass parse equals split-and-unescape (%d bodies)", i);

    /* canonical string */

    c1 = canonical("b=2&a=1&a=1&a=0&c", NGX_TWILIO_ORDER_BYTES);
    ok(strcmp(c1, "a0a1b2c") == 0, "sorted, deduplicated, no-= is empty: %s",
       c1);
    free(c1);

    c1 = canonical("x=10&x=9&x=9", NGX_TWILIO_ORDER_BYTES);
    ok(strcmp(c1, "x10x9") == 0, "repeated values sort as strings: %s", c1);
    free(c1);

    c1 = canonical("a=x%3Dy=z&%61=", NGX_TWILIO_ORDER_BYTES);
    ok(strcmp(c1, "aax=y=z") == 0, "split at first =, keys decoded: %s", c1);
    free(c1);

    c1 = canonical("b=1&a=2&_x=3&Z=4&B=5&AB=6&A=7&a.b=8&a_b=9&a1=10",
                   NGX_TWILIO_ORDER_BYTES);
    ok(strcmp(c1, "A7AB6B5Z4_x3a2a.b8a110a_b9b1") == 0, "bytewise key order");
    free(c1);

    c1 = canonical("K=%F0%9F%98%80&K=%EF%BD%9E", NGX_TWILIO_ORDER_BYTES);
    c2 = canonical("K=%F0%9F%98%80&K=%EF%BD%9E", NGX_TWILIO_ORDER_UTF16);
    ok(strcmp(c1, "K\xef\xbd\x9eK\xf0\x9f\x98\x80") == 0,
       "code point order puts U+FF5E first");
    ok(strcmp(c2, "K\xf0\x9f\x98\x80K\xef\xbd\x9e") == 0,
       "UTF-16 order puts the surrogate pair first");
    free(c1);
    free(c2);

    /* the canonical string does not depend on parameter order */

    {
        const char  *perms[] = {
            "To=%2B1&From=%2B2&Body=hi+there&Body=a&X=",
            "Body=a&X=&From=%2B2&Body=hi+there&To=%2B1",
            "X=&Body=hi+there&To=%2B1&Body=a&From=%2B2",
        };

        c1 = canonical(perms[0], NGX_TWILIO_ORDER_BYTES);

        for (i = 1; i < 3; i++) {
            c2 = canonical(perms[i], NGX_TWILIO_ORDER_BYTES);
            ok(strcmp(c1, c2) == 0, "permutation %d gives the same string", i);
            free(c2);
        }

        free(c1);
    }

    /* port toggling */

    ok(strcmp(toggle("https://a.com/x?y=1"), "https://a.com:443/x?y=1") == 0,
       "https gets :443");
    ok(strcmp(toggle("http://a.com"), "http://a.com:80") == 0,
       "http without path gets :80");
    ok(strcmp(toggle("https://a.com:8443/x"), "https://a.com/x") == 0,
       "any port is removed");
    ok(strcmp(toggle("https://u:p@a.com/x:1"), "https://u:p@a.com:443/x:1")
       == 0, "userinfo and colons in the path are left alone");
    ok(strcmp(toggle("https://[::1]:8443/x"), "https://[::1]/x") == 0,
       "IPv6 with port");
    ok(strcmp(toggle("https://[::1]?q=a:b"), "https://[::1]:443?q=a:b") == 0,
       "IPv6 without port, query after host");
    ok(strcmp(toggle("HTTPS://A.com/%2b"), "HTTPS://A.com:443/%2b") == 0,
       "scheme case-insensitive, escapes untouched");
    ok(strcmp(toggle("ftp://a.com/"), "(none)") == 0, "unknown scheme");
    ok(strcmp(toggle("/relative"), "(none)") == 0, "no scheme");
    ok(strcmp(toggle("https:///x"), "(none)") == 0, "empty host");
    ok(strcmp(toggle("http://:80"), "(none)") == 0, "port without a host");
    ok(strcmp(toggle("https://u@:443/x"), "(none)") == 0,
       "userinfo, port, no host");

    {
        const char  *urls[] = {
            "https://a.com/x", "http://a.com:1234/x?y", "https://a.com",
            "https://u@a.com:443#f", "http://[fe80::1]/",
        };
        char         once[512], twice[512];

        for (i = 0; i < 5; i++) {
            strcpy(once, toggle(urls[i]));
            strcpy(twice, toggle(once));

            /* removing a port that was not :443/:80 is not reversible */
            ok(strcmp(twice, urls[i]) == 0
               || strcmp(toggle(twice), once) == 0,
               "toggle is an involution on %s", urls[i]);
        }
    }

    /* bodySHA256 */

    url = "https://a.com/x?a=1&bodySHA256="
          "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
    ok(ngx_twilio_url_body_hash((u_char *) url, strlen(url), &hex)
       == NGX_TWILIO_HASH_FOUND && hex.len == 64, "bodySHA256 found");
    ok(ngx_twilio_body_hash_equal(
           (u_char *) "{\"property\": \"value\", \"boolean\": true}", 38,
           &hex), "body hash matches");
    ok(!ngx_twilio_body_hash_equal(
           (u_char *) "{\"property\": \"value\", \"boolean\": true} ", 39,
           &hex), "a trailing space changes the hash");

    url = "https://a.com/x?bodySHA256=abc";
    ok(ngx_twilio_url_body_hash((u_char *) url, strlen(url), &hex)
       == NGX_TWILIO_HASH_MALFORMED, "short bodySHA256 is malformed");

    /* before the body: only what the URL decides */

    {
        char  hsig[NGX_TWILIO_SIG_MAX];

        url = "https://a.com/x?a=1&bodySHA256="
              "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        strcpy(hsig, sign("12345", url, ""));

        ok(strcmp(validate_later("12345", url, 0, 38, hsig), "ok") == 0,
           "body_later: the URL's signature alone passes with bodySHA256");
        ok(strcmp(validate_later("12345", url, 1, 38, hsig), "ok") == 0,
           "body_later: also for a form body with bodySHA256");
        ok(strcmp(validate_later("12346", url, 0, 38, hsig),
                  "bad_signature") == 0,
           "body_later: a forged URL signature fails before the body");
        ok(strcmp(validate("12345", url, "{}", 0, hsig),
                  "body_hash_mismatch") == 0,
           "without body_later the same request checks the body's hash");
        ok(strcmp(validate_later("12345", "https://a.com/x", 0, 10,
                                 sign("12345", "https://a.com/x", "")),
                  "body_unsigned") == 0,
           "body_later: a body that is not a form needs bodySHA256");
        ok(strcmp(validate_later("12345", "https://a.com/x", 0, 0,
                                 sign("12345", "https://a.com/x", "")),
                  "ok") == 0,
           "body_later: no body, the URL alone is signed");
        ok(strcmp(validate_later("12345", "https://a.com/x", 1, 10,
                                 sign("12345", "https://a.com/x", "")),
                  "internal_error") == 0,
           "body_later: a form without bodySHA256 needs its body");
        ok(strcmp(validate_later("12345", "https://a.com/x?bodySHA256=abc",
                                 0, 10, hsig),
                  "body_hash_malformed") == 0,
           "body_later: a malformed bodySHA256 fails before the body");
    }

    url = "https://a.com/x?bodySHA256="
          "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
          "&bodySHA256="
          "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
    ok(ngx_twilio_url_body_hash((u_char *) url, strlen(url), &hex)
       == NGX_TWILIO_HASH_MALFORMED, "repeated bodySHA256 is malformed");

    url = "https://a.com/bodySHA256=x#?bodySHA256=1";
    ok(ngx_twilio_url_body_hash((u_char *) url, strlen(url), &hex)
       == NGX_TWILIO_HASH_NONE, "no query, no hash");

    ok(ngx_twilio_form_param((u_char *) "a=1&AccountSid=AC%31&b", 22,
                             "AccountSid", &raw)
       && str_is(&raw, "AC%31"), "raw parameter lookup");
    ok(!ngx_twilio_form_param(NULL, 0, "AccountSid", &raw),
       "no parameter in an empty (NULL) body");

    /* HMACs: known values, and a key schedule reused across messages */

    {
        int                i;
        size_t             len;
        u_char             b64[NGX_TWILIO_SIG_MAX];
        ngx_twilio_mac_t  *mac;
        ngx_twilio_str_t   parts[2];

        parts[0].data = (u_char *) "The quick brown fox ";
        parts[0].len = 20;
        parts[1].data = (u_char *) "jumps over the lazy dog";
        parts[1].len = 23;

        mac = ngx_twilio_mac_create(NGX_TWILIO_HMAC_SHA1, (u_char *) "key",
                                    3);

        for (i = 0; i < 2; i++) {
            ok(mac != NULL && ngx_twilio_mac_sign(mac, parts, 2, b64, &len)
                              == 0
               && len == 28
               && memcmp(b64, "3nybhbi3iqa8ino29wqQcBydtNk=", 28) == 0,
               "HMAC-SHA1 of two parts, use %d", i + 1);
        }

        ngx_twilio_mac_free(mac);

        mac = ngx_twilio_mac_create(NGX_TWILIO_HMAC_SHA256, (u_char *) "key",
                                    3);

        for (i = 0; i < 2; i++) {
            ok(mac != NULL && ngx_twilio_mac_sign(mac, parts, 2, b64, &len)
                              == 0
               && len == 44
               && memcmp(b64, "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg=",
                         44) == 0,
               "HMAC-SHA256 of two parts, use %d", i + 1);
        }

        ngx_twilio_mac_free(mac);

        ok(ngx_twilio_mac_create(NGX_TWILIO_HMAC_SHA1, (u_char *) "k", 0)
           == NULL, "an empty key is refused");
    }

    /* signature header syntax */

    ok(ngx_twilio_signature_wellformed((u_char *) "GvWf1cFY/Q7PnoempGyD5oXAezc=",
                                       28, NGX_TWILIO_SHA1_B64_LEN),
       "28-char base64 accepted");
    ok(!ngx_twilio_signature_wellformed((u_char *) "GvWf1cFY/Q7PnoempGyD5oXAezc",
                                        27, NGX_TWILIO_SHA1_B64_LEN),
       "27 chars rejected");
    ok(!ngx_twilio_signature_wellformed((u_char *) "GvWf1cFY/Q7PnoempGyD5oXAez==",
                                        28, NGX_TWILIO_SHA1_B64_LEN),
       "wrong padding rejected");
    ok(!ngx_twilio_signature_wellformed((u_char *) "GvWf1cFY/Q7PnoempGyD5oXAezd=",
                                        28, NGX_TWILIO_SHA1_B64_LEN),
       "non-canonical last character rejected");
    ok(ngx_twilio_signature_wellformed(
           (u_char *) "OJ/3Q1xtDoVRt+2kfgM5hmVQ2ZvHLRq9pIWoOy7yWdw=", 44,
           NGX_TWILIO_SHA256_B64_LEN), "44-char base64 accepted");
    ok(!ngx_twilio_signature_wellformed(
           (u_char *) "OJ/3Q1xtDoVRt+2kfgM5hmVQ2ZvHLRq9pIWoOy7yWdx=", 44,
           NGX_TWILIO_SHA256_B64_LEN), "non-canonical 44-char rejected");
    ok(!ngx_twilio_signature_wellformed((u_char *) "GvWf1cFY-Q7PnoempGyD5oXAezc=",
                                        28, NGX_TWILIO_SHA1_B64_LEN),
       "base64url alphabet rejected");

    ok(ngx_twilio_equal((u_char *) "abc", 3, (u_char *) "abc", 3)
       && !ngx_twilio_equal((u_char *) "abc", 3, (u_char *) "abd", 3)
       && !ngx_twilio_equal((u_char *) "abc", 3, (u_char *) "ab", 2),
       "constant-time equality with length check");

    /* whole validation */

    body = "CallSid=CA1234567890ABCDE&Caller=%2B14158675310&Digits=1234"
           "&From=%2B14158675310&To=%2B18005551212";
    url = "https://mycompany.com/myapp.php?foo=1&bar=2";

    ok(strcmp(validate("12345", url, body, 1, "GvWf1cFY/Q7PnoempGyD5oXAezc="),
              "ok") == 0, "documented example validates");
    ok(strcmp(validate("12345", "https://mycompany.com:443/myapp.php?foo=1&bar=2",
                       body, 1, "GvWf1cFY/Q7PnoempGyD5oXAezc="), "ok") == 0,
       "and with :443");
    ok(strcmp(validate("12345", "https://mycompany.com:8443/myapp.php?foo=1"
                       "&bar=2", body, 1, "GvWf1cFY/Q7PnoempGyD5oXAezc="),
              "ok") == 0, "and with any port removed (as the libraries do)");
    ok(strcmp(validate("12345", "https://mycompany.com:443/myapp.php?foo=1"
                       "&bar=3", body, 1, "GvWf1cFY/Q7PnoempGyD5oXAezc="),
              "bad_signature") == 0, "but not with another query");
    ok(strcmp(validate("12346", url, body, 1, "GvWf1cFY/Q7PnoempGyD5oXAezc="),
              "bad_signature") == 0, "wrong token");
    ok(strcmp(validate("12345", url, body, 0, "GvWf1cFY/Q7PnoempGyD5oXAezc="),
              "body_unsigned") == 0, "same body not declared a form");
    ok(strcmp(validate("12345", url, "", 1, "GvWf1cFY/Q7PnoempGyD5oXAezc="),
              "bad_signature") == 0, "body dropped");
    ok(strcmp(validate("12345", url, NULL, 1, "GvWf1cFY/Q7PnoempGyD5oXAezc="),
              "bad_signature") == 0, "no body buffer at all (NULL, 0)");
    ok(strcmp(validate("12345", url, body, 1, ""), "no_signature") == 0,
       "no signature");
    ok(strcmp(validate("12345", url, body, 1, "GvWf1cFY/Q7PnoempGyD5oXAez"),
              "signature_malformed") == 0, "malformed signature");

    /* shuffled parameters still validate */

    sig = sign("tok", "https://h/p", "A1B2B3C");
    ok(strcmp(validate("tok", "https://h/p", "C&B=3&A=1&B=2", 1, sig), "ok")
       == 0, "shuffled form validates");
    ok(strcmp(validate("tok", "https://h/p", "B=3&C=&&A=1&B=2&B=2", 1, sig),
              "ok") == 0, "with duplicates and empty segments");
    ok(strcmp(validate("tok", "https://h/p", "B=3&C=&A=1&B=2&D", 1, sig),
              "bad_signature") == 0, "an added parameter breaks it");

    /* no request tries more than NGX_TWILIO_MAX_KEYS keys */

    ok(strcmp(validate_n(NGX_TWILIO_MAX_KEYS), "ok") == 0,
       "the last of NGX_TWILIO_MAX_KEYS tokens validates");
    ok(strcmp(validate_n(NGX_TWILIO_MAX_KEYS + 1), "unknown_account") == 0,
       "one more token: rejected before any MAC");

    /* the cap on the number of parameters, checked before allocating */

    sig = sign("tok", "https://h/p", "a1b2c3");
    alloc_calls = 0;
    ok(strcmp(validate_capped("https://h/p", "a=1&b=2&c=3&d=4", 3, sig),
              "too_many_params") == 0 && alloc_calls == 0,
       "4 parameters over a cap of 3: too_many_params, nothing allocated");
    ok(strcmp(validate_capped("https://h/p", "c=3&&a=1&b=2&", 3, sig), "ok")
       == 0, "3 parameters (and empty segments) at a cap of 3: ok");
    ok(strcmp(validate_capped("https://h/p", "c=3&a=1&b=2", 0, sig), "ok")
       == 0, "a cap of 0: no cap");
    ok(strcmp(validate_capped("https://h/p", "a=1&a=1&b=2&c=3", 3,
                              "GvWf1cFY/Q7PnoempGyD5oXAezc="),
              "too_many_params") == 0,
       "repeated parameters count each time");
    ok(strcmp(validate_capped("https://h/p", "a=1&a=1&b=2&c=3", 3, ""),
              "no_signature") == 0,
       "no signature is rejected before the body is counted");

    /* the cheap rejections come before the claim is read (and allocated) */

    alloc_calls = 0;
    ok(strcmp(validate_capped("https://h/p", "AccountSid=AC1&b=2&c=3&d=4", 3,
                              sig), "too_many_params") == 0
       && alloc_calls == 0,
       "a claim in a body over the cap: too_many_params, the claim not read");
    alloc_calls = 0;
    ok(strcmp(validate_capped("https://h/p?AccountSid=AC1", "a=1", 3, ""),
              "no_signature") == 0 && alloc_calls == 0,
       "a claim without a signature: no_signature, the claim not read");

    /* the sorts against the reference comparisons, on hostile forms */

    {
        size_t  sizes[] = { 2, 5, 31, 32, 33, 64, 65, 100, 257, 1000, 3000 };

        for (i = 0; i < 11; i++) {
            if (!sort_matches_reference(i * 7919, sizes[i], i % 2 ? 40 : 3)) {
                break;
            }
        }

        ok(i == 11, "merge sort and UTF-16 units equal the reference "
           "orders (%d of 11 forms, up to 3000 parameters)", (int) i);

        for (i = 0; i < 300; i++) {
            if (!sort_matches_reference(i, 1 + i % 40, i % 5)) {
                break;
            }
        }

        ok(i == 300, "and on 300 small forms (%d)", (int) i);
    }

    /* token files */

    ok(parse_tokens("# comment\n\n  tok1  \r\n", &t, &line, &err) == 0
       && t.n == 1 && strcmp(t.token, "tok1") == 0 && t.sid[0] == '\0',
       "plain token, comments, CRLF");
    ok(parse_tokens("AC0123456789abcdef0123456789abcdef\tsecret", &t, &line,
                    &err) == 0
       && t.n == 1 && strcmp(t.sid, "AC0123456789abcdef0123456789abcdef") == 0
       && strcmp(t.token, "secret") == 0, "account-bound token");
    ok(parse_tokens("ok\nAC12 secret\n", &t, &line, &err) != 0 && line == 2
       && err != NULL, "bad account SID reported with its line");
    ok(parse_tokens("a b c\n", &t, &line, &err) != 0 && line == 1,
       "three fields rejected");
    ok(parse_tokens("tok\x01\n", &t, &line, &err) != 0,
       "control character rejected");
    ok(parse_tokens("", &t, &line, &err) == 0 && t.n == 0, "empty file");
    err = "unset";
    ok(ngx_twilio_tokens_parse((u_char *) "# c\ntok\n", 8, refuse, NULL,
                               &line, &err) == -1
       && line == 2 && err == NULL,
       "a failing handler: its line, and no message of the parser's own");

    /* shared key files: "KEY_ID SECRET", or bound "KEY_ID SECRET AC..." */

    ok(parse_shared("K1 s1\n", &t, &line, &err) == 0 && t.n == 1
       && strcmp(t.sid, "K1|") == 0 && strcmp(t.token, "s1") == 0,
       "shared key bound to no account");
    ok(parse_shared("K1 s1\nK2 s2 AC0123456789abcdef0123456789abcdef\n", &t,
                    &line, &err) == 0 && t.n == 2
       && strcmp(t.sid, "K2|AC0123456789abcdef0123456789abcdef") == 0
       && strcmp(t.token, "s2") == 0, "shared key bound to an account");
    ok(parse_shared("K1 s1\nK2 s2 AC12\n", &t, &line, &err) != 0
       && line == 2 && err != NULL && strstr(err, "account SID") != NULL,
       "shared key: bad account SID reported with its line");
    ok(parse_shared("K1 s1 AC0123456789abcdef0123456789abcdef x\n", &t,
                    &line, &err) != 0 && line == 1 && err != NULL,
       "shared key: four fields rejected");
    ok(parse_shared("K1\n", &t, &line, &err) != 0 && line == 1,
       "shared key: one field rejected");

    /* shared-key settings header */

    ok(ngx_twilio_signature_settings((u_char *) "key=K1,algorithm=HMAC_SHA256",
                                     28, &raw) == NGX_TWILIO_OK
       && str_is(&raw, "K1"), "settings: key and algorithm");
    ok(ngx_twilio_signature_settings((u_char *) " algorithm = HMAC_SHA256 , "
                                     "key = abc ", 37, &raw) == NGX_TWILIO_OK
       && str_is(&raw, "abc"), "settings: any order, white space");
    ok(ngx_twilio_signature_settings((u_char *) "key=K1,algorithm=HMAC_SHA1",
                                     26, &raw) == NGX_TWILIO_UNSUPPORTED_ALG,
       "settings: other algorithm");
    ok(ngx_twilio_signature_settings((u_char *) "key=K1", 6, &raw)
       == NGX_TWILIO_SETTINGS_MALFORMED, "settings: no algorithm");
    ok(ngx_twilio_signature_settings((u_char *) "key=,algorithm=HMAC_SHA256",
                                     26, &raw) == NGX_TWILIO_SETTINGS_MALFORMED,
       "settings: empty key");
    ok(ngx_twilio_signature_settings((u_char *) "garbage", 7, &raw)
       == NGX_TWILIO_SETTINGS_MALFORMED, "settings: garbage");

    /* values exported to variables */

    ok(strcmp(export("hi\nX-Admin: true", 16), "hi%0AX-Admin: true") == 0,
       "export: LF escaped");
    ok(strcmp(export("a\r\n\t\x7f%b", 7), "a%0D%0A%09%7F%25b") == 0,
       "export: CR, LF, TAB, DEL and %% escaped");
    ok(strcmp(export("\0x", 2), "%00x") == 0, "export: NUL escaped");
    ok(strcmp(export("+1 (415) caf\xc3\xa9 \xff", 16),
              "+1 (415) caf\xc3\xa9 \xff") == 0,
       "export: printable ASCII, UTF-8 and other high bytes stay");
    ok(ngx_twilio_export_escape(NULL, (u_char *) "a%\n", 3) == 7,
       "export: length without writing");

    {
        u_char  all[256], esc[768], back[256];
        size_t  k, elen, blen;
        int     clean = 1;

        for (k = 0; k < 256; k++) {
            all[k] = (u_char) k;
        }

        elen = ngx_twilio_export_escape(esc, all, 256);

        for (k = 0; k < elen; k++) {
            if (esc[k] < 0x20 || esc[k] == 0x7f) {
                clean = 0;
            }
        }

        blen = export_unescape(back, esc, elen);

        ok(clean && elen == ngx_twilio_export_escape(NULL, all, 256)
           && elen == 256 + 2 * 34 && blen == 256
           && memcmp(back, all, 256) == 0,
           "export: all 256 bytes: no control byte out, and reversible");
    }

    /* $twilio_param_NAME lookup */

    ok(strcmp(lookup("https://h/p", "From=%2B1&from=2&Body=a", 1, "from"),
              "%2B1") == 0, "lookup: first match, letter case ignored");
    ok(strcmp(lookup("https://h/p", "F%72om=x", 1, "FROM"), "x") == 0,
       "lookup: the key is decoded");
    ok(strcmp(lookup("https://h/p", "Body&x=1", 1, "body"), "") == 0,
       "lookup: a key without \"=\" has an empty value");
    ok(strcmp(lookup("https://h/p?a=q", "a=b", 1, "a"), "b") == 0,
       "lookup: a signed form body, not the query");
    ok(strcmp(lookup("https://h/p?a=q#a=f", "{}", 0, "a"), "q") == 0,
       "lookup: not a form: the query, before the fragment");
    ok(strcmp(lookup("https://h/p?a=q&bodySHA256=00", "a=b", 1, "a"), "q")
       == 0, "lookup: a form with bodySHA256: the query");
    ok(strcmp(lookup("https://h/p#?a=1", "", 0, "a"), "(none)") == 0,
       "lookup: no query");
    ok(strcmp(lookup("https://h/p", NULL, 1, "a"), "(none)") == 0
       && strcmp(claim("https://h/p", NULL, 1, 1), "ok:(none)") == 0,
       "lookup and claim: an empty form body as NULL");
    ok(strcmp(lookup("https://h/p", "ab=1&a=2", 1, "a"), "2") == 0
       && strcmp(lookup("https://h/p", "a=1", 1, "ab"), "(none)") == 0,
       "lookup: whole keys only");

    /* AccountSid, in any letter case */

    ok(ngx_twilio_account_name((u_char *) "AccountSid", 10)
       && ngx_twilio_account_name((u_char *) "accountsid", 10)
       && ngx_twilio_account_name((u_char *) "ACCOUNTSID", 10)
       && ngx_twilio_account_name((u_char *) "account\xc5\xbfid", 11)
       && ngx_twilio_account_name((u_char *) "AccountS\xc4\xb1" "d", 11)
       && ngx_twilio_account_name((u_char *) "ACCOUNTS\xc4\xb0" "D", 11),
       "account name: ASCII case, long s, dotted and dotless I");
    ok(!ngx_twilio_account_name((u_char *) "AccountSid ", 11)
       && !ngx_twilio_account_name((u_char *) "Account_Sid", 11)
       && !ngx_twilio_account_name((u_char *) "AccountSi", 9)
       && !ngx_twilio_account_name((u_char *) "AccountSid\0", 11)
       && !ngx_twilio_account_name((u_char *) "account\xc5", 8),
       "account name: nothing else");

    /* the JSON reader */

    ok(strcmp(json("{\"AccountSid\":\"AC1\",\"x\":[1,2.5e-3,true,null]}"),
              "AC1") == 0, "json: a top-level member");
    ok(strcmp(json("[{\"data\":{\"accountSid\":\"AC1\"}},"
                   "{\"data\":{\"ACCOUNTSID\":\"AC2\"}}]"), "AC1|AC2") == 0,
       "json: members at any depth, any letter case");
    ok(strcmp(json("{\"account\\u0053id\":\"A\\u0043\\/1\"}"), "AC/1") == 0,
       "json: escapes decoded in names and values");
    ok(strcmp(json("{\"accountSid\":{\"accountSid\":\"AC1\"}}"),
              "(not a string)|AC1") == 0,
       "json: a value that is not a string is reported");
    ok(strcmp(json("{\"a\":\"accountSid\",\"b\":[\"accountSid\"]}"), "") == 0,
       "json: only member names count");
    ok(strcmp(json(" {\"x\" : \"\\ud83d\\ude00\\u00e9\\n\" } \r\n"), "") == 0
       && strcmp(json("[]"), "") == 0 && strcmp(json("\"s\""), "") == 0
       && strcmp(json("-0"), "") == 0,
       "json: well-formed texts");
    ok(strcmp(json(""), "(malformed)") == 0
       && strcmp(json("{"), "(malformed)") == 0
       && strcmp(json("{\"a\":1,}"), "(malformed)") == 0
       && strcmp(json("[1,]"), "(malformed)") == 0
       && strcmp(json("{\"a\" 1}"), "(malformed)") == 0
       && strcmp(json("{a:1}"), "(malformed)") == 0
       && strcmp(json("[01]"), "(malformed)") == 0
       && strcmp(json("[1.]"), "(malformed)") == 0
       && strcmp(json("[NaN]"), "(malformed)") == 0
       && strcmp(json("[tru]"), "(malformed)") == 0
       && strcmp(json("{}{}"), "(malformed)") == 0
       && strcmp(json("[\"\t\"]"), "(malformed)") == 0
       && strcmp(json("[\"\\x\"]"), "(malformed)") == 0
       && strcmp(json("[\"\\ud800\"]"), "(malformed)") == 0
       && strcmp(json("[\"\\udc00\"]"), "(malformed)") == 0
       && strcmp(json("[\"\xc0\xaf\"]"), "(malformed)") == 0
       && strcmp(json("[\"\xed\xa0\x80\"]"), "(malformed)") == 0
       && strcmp(json("\xef\xbb\xbf{}"), "(malformed)") == 0
       && strcmp(json("{\"accountSid\":\"AC1\""), "(malformed)") == 0,
       "json: malformed texts");

    {
        char  deep[2 * NGX_TWILIO_JSON_DEPTH + 3];

        memset(deep, '[', NGX_TWILIO_JSON_DEPTH);
        memset(deep + NGX_TWILIO_JSON_DEPTH, ']', NGX_TWILIO_JSON_DEPTH);
        deep[2 * NGX_TWILIO_JSON_DEPTH] = '\0';
        ok(strcmp(json(deep), "") == 0, "json: %d levels",
           NGX_TWILIO_JSON_DEPTH);

        memset(deep, '[', NGX_TWILIO_JSON_DEPTH + 1);
        memset(deep + NGX_TWILIO_JSON_DEPTH + 1, ']',
               NGX_TWILIO_JSON_DEPTH + 1);
        deep[2 * NGX_TWILIO_JSON_DEPTH + 2] = '\0';
        ok(strcmp(json(deep), "(malformed)") == 0,
           "json: one level more is refused");
    }

    /* the claimed account */

    ok(strcmp(claim("https://h/p", "AccountSid=AC%31&b=2", 1, 1), "ok:AC1")
       == 0, "claim: a form's AccountSid, decoded");
    ok(strcmp(claim("https://h/p?AccountSid=AC1", "", 0, 1), "ok:AC1") == 0,
       "claim: a GET's query");
    ok(strcmp(claim("https://h/p", "a=1", 1, 1), "ok:(none)") == 0,
       "claim: none");
    ok(strcmp(claim("https://h/p", "AccountSid=&a=1", 1, 1), "ok:") == 0,
       "claim: an empty AccountSid is a claim");
    ok(strcmp(claim("https://h/p", "AccountSid=AC2&AccountSid=AC1", 1, 1),
              "account_ambiguous") == 0, "claim: the key twice");
    ok(strcmp(claim("https://h/p", "AccountSid=AC1&AccountSid=AC1", 1, 1),
              "account_ambiguous") == 0, "claim: the key twice, same value");
    ok(strcmp(claim("https://h/p", "accountsid=AC2&AccountSid=AC1", 1, 1),
              "account_ambiguous") == 0
       && strcmp(claim("https://h/p", "Account%53id=AC2&AccountSid=AC1", 1, 1),
                 "account_ambiguous") == 0
       && strcmp(claim("https://h/p", "account%C5%BFid=AC2&AccountSid=AC1",
                       1, 1), "account_ambiguous") == 0,
       "claim: the key in another case, escaped, with a long s");
    ok(strcmp(claim("https://h/p?AccountSid=AC2", "AccountSid=AC1", 1, 1),
              "account_ambiguous") == 0, "claim: query and form body");
    ok(strcmp(claim("https://h/p?a=2#&AccountSid=AC1", "", 0, 1), "ok:AC1")
       == 0,
       "claim: a \"#\" does not end the query (proxy_pass, Go read on)");
    memset(&qreq, 0, sizeof(qreq));
    qreq.url.data = (u_char *) "https://h/p?AccountSid=AC1";
    qreq.url.len = strlen((char *) qreq.url.data);
    qreq.query.data = (u_char *) "From=x&AccountSid=AC2";
    qreq.query.len = strlen((char *) qreq.query.data);
    rc = ngx_twilio_account_claim(&qreq, 1, heap_alloc, NULL, &qsid);
    qreq.query.len = 0;
    ok(rc == NGX_TWILIO_OK && qsid.len == 3
       && memcmp(qsid.data, "AC2", 3) == 0
       && ngx_twilio_account_claim(&qreq, 1, heap_alloc, NULL, &qsid)
          == NGX_TWILIO_OK && qsid.data == NULL,
       "claim: the request's own query, not the URL's, when given");
    ok(strcmp(claim("https://h/p?From=x;AccountSid=AC1&AccountSid=AC2", "",
                    0, 1), "account_ambiguous") == 0
       && strcmp(claim("https://h/p", "a=1;AccountSid=AC1", 1, 1), "ok:AC1")
          == 0,
       "claim: \";\" separates parameters too");
    ok(strcmp(claim("https://h/p", "AccountSid=AC2&+AccountSid=AC1", 1, 1),
              "account_ambiguous") == 0
       && strcmp(claim("https://h/p", "AccountSid=AC2&AccountSid%00x=AC1",
                       1, 1), "account_ambiguous") == 0
       && strcmp(claim("https://h/p", "AccountSid=AC2&AccountSid%5B%5D=AC1",
                       1, 1), "account_ambiguous") == 0
       && strcmp(claim("https://h/p", "AccountSid=AC2&request.AccountSid=AC1",
                       1, 1), "account_ambiguous") == 0
       && strcmp(claim("https://h/p", "a=1&%20Account_S%C4%B1d[0]=AC1", 1, 1),
                 "ok:AC1") == 0,
       "claim: any name whose letters contain accountsid");
    ok(strcmp(claim("https://h/p", "AccountSi=AC1&AccountSd=AC2&Acc0untSid=3",
                    1, 1), "ok:(none)") == 0
       && strcmp(claim("https://h/p", "AAccountSid=AC1&%C5accountsid=x", 1, 1),
                 "account_ambiguous") == 0,
       "claim: the letters must spell accountsid in a row");
    ok(strcmp(claim("https://h/p", " \r\n[\"AccountSid=AC1\"]", 1, 1),
              "account_ambiguous") == 0
       && strcmp(claim("https://h/p", "\xef\xbb\xbf{}", 1, 1),
                 "account_ambiguous") == 0
       && strcmp(claim("https://h/p", "{\"a\":1}", 1, 0), "ok:(none)") == 0
       && strcmp(claim("https://h/p", "a={}", 1, 1), "ok:(none)") == 0,
       "claim: a form body that reads as JSON, with bound keys");

    body = "{\"AccountSid\":\"AC2\"}";
    ok(strcmp(claim(json_url("https://h/p?AccountSid=AC1", body), body, 0, 1),
              "account_ambiguous") == 0, "claim: JSON body against the query");
    ok(strcmp(claim(json_url("https://h/p?AccountSid=AC2", body), body, 0, 1),
              "ok:AC2") == 0, "claim: JSON body agreeing with the query");
    ok(strcmp(claim(json_url("https://h/p?AccountSid=AC1", body), body, 0, 0),
              "ok:AC1") == 0, "claim: JSON not read without bound keys");
    ok(strcmp(claim(json_url("https://h/p", body), body, 0, 1), "ok:AC2")
       == 0, "claim: JSON body alone");

    body = "[{\"data\":{\"accountSid\":\"AC2\"}},"
           "{\"data\":{\"accountSid\":\"AC2\"}}]";
    ok(strcmp(claim(json_url("https://h/p", body), body, 0, 1), "ok:AC2")
       == 0, "claim: Event Streams, two events of one account");
    body = "[{\"data\":{\"accountSid\":\"AC2\"}},"
           "{\"data\":{\"accountSid\":\"AC1\"}}]";
    ok(strcmp(claim(json_url("https://h/p", body), body, 0, 1),
              "account_ambiguous") == 0,
       "claim: Event Streams, events of two accounts");
    body = "{\"accountSid\":null}";
    ok(strcmp(claim(json_url("https://h/p", body), body, 0, 1),
              "account_ambiguous") == 0, "claim: JSON AccountSid not a string");
    body = "{\"accountSid\":\"AC1\",}";
    ok(strcmp(claim(json_url("https://h/p", body), body, 0, 1),
              "json_malformed") == 0, "claim: malformed JSON");
    body = "AccountSid=AC2";
    ok(strcmp(claim(json_url("https://h/p?AccountSid=AC1", body), body, 1, 1),
              "account_ambiguous") == 0,
       "claim: a form body with bodySHA256 counts too");

    /* the whole check with bound keys: the cases of issue 8 */

    ok(strcmp(validate_bound(TOK01, "https://h/p",
                             "AccountSid=" SID0B "&AccountSid=" SID01, 1),
              "account_ambiguous/") == 0,
       "validate: two AccountSid keys are ambiguous");
    ok(strcmp(validate_bound(TOK01, "https://h/p",
                             "accountsid=" SID0B "&AccountSid=" SID01, 1),
              "account_ambiguous/") == 0,
       "validate: two AccountSid keys in different case are ambiguous");
    body = "{\"AccountSid\":\"" SID0B "\"}";
    ok(strcmp(validate_bound(TOK01, json_url("https://h/p?AccountSid=" SID01,
                                             body), body, 0),
              "account_ambiguous/") == 0,
       "validate: a JSON body against the query is ambiguous");
    ok(strcmp(validate_bound(TOK01, "https://h/p", "AccountSid=" SID01, 1),
              "ok/" SID01) == 0
       && strcmp(validate_bound(TOK0B, "https://h/p", "AccountSid=" SID01, 1),
                 "bad_signature/" SID01) == 0,
       "validate: a bound key signs for its account only");
#define SID99  "AC99999999999999999999999999999999"
    ok(strcmp(validate_bound(TOK01, "https://h/p", "AccountSid=" SID99, 1),
              "unknown_account/" SID99) == 0,
       "validate: no key for the claimed account");
    body = "[{\"specversion\":\"1.0\",\"data\":{\"to\":\"+1\"}}]";
    ok(strcmp(validate_bound(TOK0B, json_url("https://h/p", body), body, 0),
              "ok/" SID0B) == 0,
       "validate: every key bound, no claim: the account is the key's");
    ok(strcmp(validate_bound(TOK0B, "https://h/p", "a=1", 1), "ok/" SID0B)
       == 0, "validate: the same for a form claiming no account");
    ok(strcmp(validate_bound("another", "https://h/p", "a=1", 1),
              "bad_signature/") == 0,
       "validate: no claim and no key: bad_signature");

    printf("1..%d\n", test_no);

    return test_failed ? 1 : 0;
}
