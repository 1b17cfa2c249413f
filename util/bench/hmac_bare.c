
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * The bare-HMAC reference of util/bench/run's micro-benchmark: HMAC-SHA1
 * of a signed string, computed the way ngx_twilio_mac_sign() does it (an
 * EVP_MAC context keyed once, then per call EVP_MAC_init() without a key,
 * one EVP_MAC_update() for the URL and one for the parameters,
 * EVP_MAC_final() and EVP_EncodeBlock()), and nothing else.
 *
 *   hmac_bare [-n N] TOKEN STRING_FILE URL_LEN [BODY_FILE]
 *
 * STRING_FILE holds the signed string S; its first URL_LEN bytes are the
 * URL.  Computes the signature N times (in bench_hmac(), for callgrind's
 * --toggle-collect) and prints it.  With BODY_FILE (JSON bodies) each
 * round also computes the body's SHA-256 (digest fetched once), the least
 * crypto a bodySHA256 check needs.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>


static unsigned char *
slurp(const char *name, size_t *len)
{
    long            size;
    FILE           *f;
    unsigned char  *s;

    f = fopen(name, "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0) {
        perror(name);
        return NULL;
    }

    rewind(f);
    s = malloc(size ? size : 1);
    *len = s ? fread(s, 1, size, f) : 0;
    fclose(f);

    if (s == NULL || *len != (size_t) size) {
        fprintf(stderr, "hmac_bare: cannot read %s\n", name);
        return NULL;
    }

    return s;
}


__attribute__((noinline)) int
bench_hmac(EVP_MAC_CTX *ctx, const unsigned char *s, size_t url_len,
    size_t len, const EVP_MD *sha256, const unsigned char *body,
    size_t body_len, unsigned char *b64)
{
    size_t         mdlen;
    unsigned char  md[EVP_MAX_MD_SIZE];

    if (sha256
        && EVP_Digest(body, body_len, md, NULL, sha256, NULL) != 1)
    {
        return -1;
    }

    if (EVP_MAC_init(ctx, NULL, 0, NULL) != 1
        || EVP_MAC_update(ctx, s, url_len) != 1
        || (len > url_len
            && EVP_MAC_update(ctx, s + url_len, len - url_len) != 1)
        || EVP_MAC_final(ctx, md, &mdlen, sizeof(md)) != 1)
    {
        return -1;
    }

    return EVP_EncodeBlock(b64, md, (int) mdlen);
}


int
main(int argc, char **argv)
{
    int             c;
    long            i, n;
    size_t          url_len, len, body_len;
    EVP_MD         *sha256;
    EVP_MAC        *mac;
    EVP_MAC_CTX    *ctx;
    OSSL_PARAM      params[2];
    unsigned char  *s, *body, b64[64];

    n = 1;

    while ((c = getopt(argc, argv, "n:")) != -1) {
        if (c != 'n') {
            return 2;
        }

        n = atol(optarg);
    }

    if (argc - optind != 3 && argc - optind != 4) {
        fprintf(stderr, "usage: hmac_bare [-n N] TOKEN STRING_FILE "
                "URL_LEN [BODY_FILE]\n");
        return 2;
    }

    s = slurp(argv[optind + 1], &len);
    if (s == NULL) {
        return 2;
    }

    url_len = (size_t) atol(argv[optind + 2]);
    if (url_len > len) {
        fprintf(stderr, "hmac_bare: URL_LEN is past the string\n");
        return 2;
    }

    sha256 = NULL;
    body = NULL;
    body_len = 0;

    if (argc - optind == 4) {
        body = slurp(argv[optind + 3], &body_len);
        sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);

        if (body == NULL || sha256 == NULL) {
            return 2;
        }
    }

    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac);

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA1", 0);
    params[1] = OSSL_PARAM_construct_end();

    if (ctx == NULL
        || EVP_MAC_init(ctx, (unsigned char *) argv[optind],
                        strlen(argv[optind]), params) != 1)
    {
        fprintf(stderr, "hmac_bare: cannot set up HMAC-SHA1\n");
        return 2;
    }

    memset(b64, 0, sizeof(b64));

    for (i = 0; i < n; i++) {
        if (bench_hmac(ctx, s, url_len, len, sha256, body, body_len, b64)
            < 0)
        {
            fprintf(stderr, "hmac_bare: HMAC failed\n");
            return 1;
        }
    }

    printf("%s\n", b64);

    EVP_MAC_CTX_free(ctx);
    EVP_MD_free(sha256);
    free(body);
    free(s);

    return 0;
}
