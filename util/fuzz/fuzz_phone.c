
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * libFuzzer target: the SMS guard's pure part (ngx_twilio_guard_phone.c).
 * The first byte picks what the rest goes through:
 *
 *   even: ngx_twilio_json_value(), member "phone".  Properties: no crash,
 *     no read outside the body; the value fits what was asked; the body
 *     is one valid JSON text (an invalid body: MALFORMED and no count)
 *     exactly when the core's own strict reader, written apart
 *     (ngx_twilio_json_accounts()), finds a valid text that is an object
 *     (when both depth caps are far); a FOUND value, written back as
 *     JSON with every byte escaped, is found again, the same;
 *
 *   odd: ngx_twilio_phone_parse(), with no default region or with one
 *     (the second byte).  Properties: an accepted number is "+" and 1 to
 *     15 digits starting with its calling code, with a region; parsing it
 *     again gives it back; separators added between its digits change
 *     nothing; an international number does not depend on the default
 *     region; ngx_twilio_form_value() finds the same text sent as a form.
 */


#include "fuzz_common.h"
#include "ngx_twilio_guard_phone.h"


static const char  *regions[] = { NULL, "US", "GB", "IT", "DE", "FR", "JM" };


static void
ignore(void *data, const ngx_twilio_str_t *value)
{
    (void) data;
    (void) value;
}


static void
fuzz_json(const uint8_t *data, size_t size)
{
    int             rc, rc2, core;
    size_t          i, len, len2, brackets, wlen;
    uint8_t        *copy, *buf, *w;
    unsigned        count, count2;
    unsigned char   out[64], out2[64];

    copy = malloc(size ? size : 1);
    buf = malloc(size ? size : 1);
    CHECK(copy && buf);
    memcpy(copy, data, size);

    len = sizeof(out);
    count = 0;

    rc = ngx_twilio_json_value(copy, size, "phone", 5, out, &len, &count);

    CHECK(rc >= NGX_TWILIO_PARAM_MISSING && rc <= NGX_TWILIO_PARAM_MALFORMED);
    CHECK(len <= sizeof(out));
    CHECK(rc == NGX_TWILIO_PARAM_FOUND ? count == 1 : 1);
    CHECK(rc == NGX_TWILIO_PARAM_AMBIGUOUS ? count > 1 : 1);
    CHECK(rc == NGX_TWILIO_PARAM_MISSING ? count == 0 : 1);

    /* the core's reader: the same verdict on validity, away from caps */

    brackets = 0;

    for (i = 0; i < size; i++) {
        brackets += (copy[i] == '[' || copy[i] == '{');
    }

    if (brackets < 24) {
        core = ngx_twilio_json_accounts(copy, size, buf, ignore, NULL);

        i = 0;
        while (i < size && (copy[i] == ' ' || copy[i] == '\t'
                            || copy[i] == '\n' || copy[i] == '\r'))
        {
            i++;
        }

        if (core == 0 && i < size && copy[i] == '{') {
            CHECK(!(rc == NGX_TWILIO_PARAM_MALFORMED && count == 0));

        } else {
            CHECK(rc == NGX_TWILIO_PARAM_MALFORMED && count == 0);
        }
    }

    /* found again when written back with every byte escaped */

    if (rc == NGX_TWILIO_PARAM_FOUND) {
        w = malloc(32 + 6 * len);
        CHECK(w != NULL);

        wlen = (size_t) sprintf((char *) w, "{\"phone\":\"");

        for (i = 0; i < len; i++) {
            if (out[i] < 0x80) {
                wlen += sprintf((char *) w + wlen, "\\u%04x", out[i]);

            } else {
                w[wlen++] = out[i];
            }
        }

        wlen += sprintf((char *) w + wlen, "\"}");

        len2 = sizeof(out2);
        count2 = 0;
        rc2 = ngx_twilio_json_value(w, wlen, "phone", 5, out2, &len2,
                                    &count2);

        CHECK(rc2 == NGX_TWILIO_PARAM_FOUND);
        CHECK(len2 == len && memcmp(out, out2, len) == 0);

        free(w);
    }

    free(copy);
    free(buf);
}


static void
fuzz_number(const uint8_t *data, size_t size)
{
    int                  rc, rc2;
    char                 spaced[2 * NGX_TWILIO_PHONE_MAX + 4], form[128];
    size_t               i, n, len;
    unsigned             count;
    const char          *def;
    unsigned char        out[64];
    ngx_twilio_phone_t   ph, ph2;

    if (size == 0) {
        return;
    }

    def = regions[data[0] % (sizeof(regions) / sizeof(regions[0]))];
    data++;
    size--;

    rc = ngx_twilio_phone_parse(data, size, def, &ph);

    CHECK(rc == 0 || rc == -1);

    if (rc != 0) {
        return;
    }

    CHECK(ph.len >= 2 && ph.len <= NGX_TWILIO_PHONE_MAX + 1);
    CHECK(ph.e164[0] == '+' && ph.e164[ph.len] == '\0');

    for (i = 1; i < ph.len; i++) {
        CHECK(ph.e164[i] >= '0' && ph.e164[i] <= '9');
    }

    CHECK(ph.cc_len >= 1 && ph.cc_len <= 3 && ph.cc_len < ph.len - 1);
    CHECK(ph.region[0] != '\0');

    n = 0;
    for (i = 1; i <= ph.cc_len; i++) {
        n = n * 10 + (ph.e164[i] - '0');
    }
    CHECK(n == ph.cc);

    /* E.164 in, the same out, whatever the default region */

    rc2 = ngx_twilio_phone_parse((u_char *) ph.e164, ph.len, "GB", &ph2);
    CHECK(rc2 == 0 && strcmp(ph.e164, ph2.e164) == 0
          && strcmp(ph.region, ph2.region) == 0);

    /* separators between the digits */

    n = 0;
    spaced[n++] = '+';
    for (i = 1; i < ph.len; i++) {
        spaced[n++] = ph.e164[i];
        if (i + 1 < ph.len) {
            spaced[n++] = " -.()/"[i % 6];
        }
    }

    rc2 = ngx_twilio_phone_parse((u_char *) spaced, n, NULL, &ph2);
    CHECK(rc2 == 0 && strcmp(ph.e164, ph2.e164) == 0);

    /* the same number as a form value, "+" written %2B */

    len = (size_t) snprintf(form, sizeof(form), "a=1&phone=%%2B%s&b",
                            ph.e164 + 1);
    n = sizeof(out);
    count = 0;
    rc2 = ngx_twilio_form_value((u_char *) form, len, "phone", 5, out, &n,
                                &count);
    CHECK(rc2 == NGX_TWILIO_PARAM_FOUND && count == 1 && n == ph.len
          && memcmp(out, ph.e164, n) == 0);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }

    if (data[0] & 1) {
        fuzz_number(data + 1, size - 1);

    } else {
        fuzz_json(data + 1, size - 1);
    }

    return 0;
}
