
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * libFuzzer target: arbitrary token file text through
 * ngx_twilio_tokens_parse.  Properties:
 *
 *   - every reported token passes ngx_twilio_token_valid, every reported
 *     account SID (when not empty) ngx_twilio_account_sid_valid; both lie
 *     inside the buffer, hold no blank, and their line numbers increase;
 *   - on error, err is set and 1 <= err_line <= the number of lines;
 *   - the entries and the error line agree with a reference reading of
 *     the format (one "TOKEN" or "ACCOUNT_SID TOKEN" a line, blank lines
 *     and "#" lines skipped, fields split on space, tab and CR);
 *   - a handler that fails on its k-th call stops the parse there with
 *     that entry's line as err_line and err NULL (the handler reports).
 */


#include "fuzz_common.h"


typedef struct {
    const uint8_t  *sid;
    size_t          sid_len;
    const uint8_t  *token;
    size_t          token_len;
    size_t          line;
} entry_t;


typedef struct {
    const uint8_t  *buf;
    size_t          len;
    entry_t        *e;
    size_t          n;
    size_t          cap;
    size_t          fail_at;       /* 1-based call that fails, or 0 */
} collect_t;


static int
blank(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r';
}


static int
collect(void *data, ngx_twilio_str_t *sid, ngx_twilio_str_t *token,
    size_t line)
{
    size_t      i;
    collect_t  *c = data;

    CHECK(ngx_twilio_token_valid(token->data, token->len));
    CHECK(token->data >= c->buf && token->data + token->len <= c->buf + c->len);

    for (i = 0; i < token->len; i++) {
        CHECK(!blank(token->data[i]) && token->data[i] != '\n');
    }

    if (sid->len) {
        CHECK(ngx_twilio_account_sid_valid(sid->data, sid->len));
        CHECK(sid->data >= c->buf && sid->data + sid->len <= c->buf + c->len);
        CHECK(sid->data + sid->len <= token->data);
    }

    CHECK(line >= 1);
    CHECK(c->n == 0 || line > c->e[c->n - 1].line);
    CHECK(c->n < c->cap);

    c->e[c->n].sid = sid->data;
    c->e[c->n].sid_len = sid->len;
    c->e[c->n].token = token->data;
    c->e[c->n].token_len = token->len;
    c->e[c->n].line = line;
    c->n++;

    return (c->fail_at && c->n == c->fail_at) ? -1 : 0;
}


/* the reference: "AC" and 32 hex digits; 1 to 256 bytes of 0x21-0x7e */

static int
ref_sid(const uint8_t *p, size_t len)
{
    size_t  i;

    if (len != 34 || p[0] != 'A' || p[1] != 'C') {
        return 0;
    }

    for (i = 2; i < len; i++) {
        if (fuzz_hexval(p[i]) < 0) {
            return 0;
        }
    }

    return 1;
}


static int
ref_token(const uint8_t *p, size_t len)
{
    size_t  i;

    if (len < 1 || len > 256) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (p[i] < 0x21 || p[i] > 0x7e) {
            return 0;
        }
    }

    return 1;
}


/* returns 0, or -1 with *err_line; fills e[] */

static int
reference(const uint8_t *buf, size_t len, entry_t *e, size_t *n,
    size_t *err_line)
{
    size_t          line, nf;
    const uint8_t  *p, *last, *eol, *s, *f[3];
    size_t          fl[3];

    *n = 0;
    line = 0;
    p = buf;
    last = buf + len;

    while (p < last) {
        line++;

        for (eol = p; eol < last && *eol != '\n'; eol++) { /* void */ }

        nf = 0;

        for (s = p; s < eol; /* void */ ) {
            if (blank(*s)) {
                s++;
                continue;
            }

            if (nf < 3) {
                f[nf] = s;
            }

            while (s < eol && !blank(*s)) {
                s++;
            }

            if (nf < 3) {
                fl[nf] = s - f[nf];
            }

            nf++;
        }

        p = eol + 1;

        if (nf == 0 || f[0][0] == '#') {
            continue;
        }

        if (nf > 2 || (nf == 2 && !ref_sid(f[0], fl[0]))
            || !ref_token(f[nf - 1], fl[nf - 1]))
        {
            *err_line = line;
            return -1;
        }

        e[*n].sid = nf == 2 ? f[0] : NULL;
        e[*n].sid_len = nf == 2 ? fl[0] : 0;
        e[*n].token = f[nf - 1];
        e[*n].token_len = fl[nf - 1];
        e[*n].line = line;
        (*n)++;
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int           rc, ref_rc;
    size_t        i, lines, err_line, ref_err_line, ref_n;
    entry_t      *ref;
    collect_t     c;
    const char   *err;

    lines = 0;

    for (i = 0; i < size; i++) {
        if (data[i] == '\n') {
            lines++;
        }
    }

    if (size && data[size - 1] != '\n') {
        lines++;
    }

    ref = calloc(size / 2 + 2, sizeof(entry_t));
    c.cap = size / 2 + 2;     /* an entry takes two bytes at least */
    c.e = calloc(c.cap, sizeof(entry_t));
    if (ref == NULL || c.e == NULL) {
        abort();
    }

    c.buf = data;
    c.len = size;
    c.n = 0;
    c.fail_at = 0;
    err = NULL;
    err_line = 0;

    rc = ngx_twilio_tokens_parse(data, size, collect, &c, &err_line, &err);

    CHECK(rc == 0 || rc == -1);

    if (rc != 0) {
        CHECK(err != NULL);
        CHECK(err_line >= 1 && err_line <= lines);
    }

    /* the reference reading */

    ref_err_line = 0;
    ref_rc = reference(data, size, ref, &ref_n, &ref_err_line);

    CHECK(rc == ref_rc);
    CHECK(c.n == ref_n);

    if (rc != 0) {
        CHECK(err_line == ref_err_line);
    }

    for (i = 0; i < c.n; i++) {
        CHECK(c.e[i].line == ref[i].line);
        CHECK(c.e[i].token == ref[i].token);
        CHECK(c.e[i].token_len == ref[i].token_len);
        CHECK(c.e[i].sid_len == ref[i].sid_len);
        CHECK(c.e[i].sid_len == 0 || c.e[i].sid == ref[i].sid);
    }

    /* a handler failing on its k-th call */

    if (c.n) {
        size_t  k = 1 + fuzz_hash(data, size) % c.n;
        size_t  line_k = c.e[k - 1].line;

        c.n = 0;
        c.fail_at = k;
        err = NULL;
        err_line = 0;

        rc = ngx_twilio_tokens_parse(data, size, collect, &c, &err_line,
                                     &err);

        CHECK(rc == -1);
        CHECK(err == NULL);        /* the handler reports its own */
        CHECK(c.n == k);
        CHECK(err_line == line_k);
    }

    free(ref);
    free(c.e);

    return 0;
}
