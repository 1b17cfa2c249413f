
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * libFuzzer target: an arbitrary X-Twilio-Signature value through
 * ngx_twilio_signature_wellformed and ngx_twilio_equal.  Properties:
 *
 *   - wellformed(..., 28) implies length 28, and OpenSSL's EVP_DecodeBlock
 *     decodes it to 20 bytes (21 with the zero byte that the padding
 *     stands for) whose re-encoding (EVP_EncodeBlock) equals the input;
 *     the same for wellformed(..., 44): 32 bytes, SHA-256;
 *   - conversely, every 28 (44) character string that is the encoding of
 *     20 (32) bytes is wellformed;
 *   - ngx_twilio_equal(a, b) is exactly "same length and same bytes",
 *     for the input against itself, its halves, and a one-byte change.
 *
 * The first found that wellformed() did not require the unused low bits
 * of the last character to be zero (regression input in
 * util/fuzz/regressions/signature/, fixed in the core since).
 */


#include <openssl/evp.h>

#include "fuzz_common.h"


static void
check_expect(const uint8_t *sig, size_t len, size_t expect, size_t raw)
{
    int            w, dec, enc;
    unsigned char  out[64], again[64];

    w = ngx_twilio_signature_wellformed(sig, len, expect);

    CHECK(w == 0 || w == 1);

    if (len != expect) {
        CHECK(!w);
        return;
    }

    dec = EVP_DecodeBlock(out, sig, (int) len);

    if (w) {
        /* a multiple of 3 bytes: the one '=' stands for a zero byte */
        CHECK(dec == (int) (raw + 1));

        CHECK(out[raw] == 0);

        enc = EVP_EncodeBlock(again, out, (int) raw);
        CHECK(enc == (int) len);

        CHECK(memcmp(again, sig, len) == 0);

    } else if (dec == (int) (raw + 1) && out[raw] == 0) {

        /* not accepted: then it must not be the encoding of raw bytes */

        enc = EVP_EncodeBlock(again, out, (int) raw);
        CHECK(enc != (int) len || memcmp(again, sig, len) != 0);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t    half, i;
    uint8_t  *copy;

    check_expect(data, size, NGX_TWILIO_SHA1_B64_LEN, 20);
    check_expect(data, size, NGX_TWILIO_SHA256_B64_LEN, 32);

    /* equality: length first, then every byte */

    CHECK(ngx_twilio_equal(data, size, data, size));

    half = size / 2;

    CHECK(ngx_twilio_equal(data, half, data + half, size - half)
          == (half == size - half && memcmp(data, data + half, half) == 0));

    copy = malloc(size + 1);
    if (copy == NULL) {
        abort();
    }

    memcpy(copy, data, size);

    if (size) {
        i = fuzz_hash(data, size) % size;
        copy[i] ^= 0x20;
        CHECK(!ngx_twilio_equal(data, size, copy, size));
        copy[i] ^= 0x20;
    }

    CHECK(ngx_twilio_equal(data, size, copy, size));

    copy[size] = 'x';
    CHECK(!ngx_twilio_equal(data, size, copy, size + 1));

    free(copy);

    return 0;
}
