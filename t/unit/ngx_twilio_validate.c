
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * Runs the pure core's ngx_twilio_validate() on one request given on the
 * command line, for tests and benchmarks that need no nginx:
 *
 *   ngx_twilio_validate [-n N] [-f] [-s] [-p MAX] [-k [SID:]TOKEN]...
 *       URL BODY SIGNATURE
 *
 * -f: the body is a urlencoded form; -s: keys are HMAC-SHA256 shared keys;
 * -p: at most MAX form parameters (twilio_guard_max_params; default: no
 * cap); BODY "@file" reads a file; -n N repeats the validation N times
 * (for callgrind).  Prints the reason word and exits 0 for "ok", 1
 * otherwise.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ngx_twilio_guard_core.h"


typedef struct {
    u_char  *start;
    u_char  *pos;
    u_char  *end;
} arena_t;


static void *
arena_alloc(void *pool, size_t size)
{
    u_char   *p;
    arena_t  *a = pool;

    size = (size + 15) & ~(size_t) 15;

    if ((size_t) (a->end - a->pos) < size) {
        return NULL;
    }

    p = a->pos;
    a->pos += size;

    return p;
}


static int
read_arg(const char *arg, ngx_twilio_str_t *s)
{
    FILE  *f;
    long   n;

    if (arg[0] != '@') {
        s->data = (u_char *) arg;
        s->len = strlen(arg);
        return 0;
    }

    f = fopen(arg + 1, "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
        perror(arg + 1);
        return -1;
    }

    rewind(f);

    s->data = malloc(n ? n : 1);
    s->len = fread(s->data, 1, n, f);
    fclose(f);

    return s->len == (size_t) n ? 0 : -1;
}


int
main(int argc, char **argv)
{
    int                   c, form, alg;
    char                 *colon;
    long                  i, repeat, max_params;
    size_t                nkeys, size;
    arena_t               arena;
    ngx_twilio_key_t      keys[16];
    ngx_twilio_result_t   res;
    ngx_twilio_request_t  req;

    form = 0;
    alg = NGX_TWILIO_HMAC_SHA1;
    repeat = 1;
    max_params = 0;
    nkeys = 0;

    while ((c = getopt(argc, argv, "fsn:p:k:")) != -1) {
        switch (c) {

        case 'f':
            form = 1;
            break;

        case 's':
            alg = NGX_TWILIO_HMAC_SHA256;
            break;

        case 'n':
            repeat = atol(optarg);
            break;

        case 'p':
            max_params = atol(optarg);
            break;

        case 'k':
            if (nkeys == 16) {
                return 2;
            }

            memset(&keys[nkeys], 0, sizeof(ngx_twilio_key_t));

            colon = strchr(optarg, ':');

            if (colon && optarg[0] == 'A' && optarg[1] == 'C') {
                keys[nkeys].account_sid.data = (u_char *) optarg;
                keys[nkeys].account_sid.len = colon - optarg;
                optarg = colon + 1;
            }

            keys[nkeys].mac = ngx_twilio_mac_create(alg,
                                                    (u_char *) optarg,
                                                    strlen(optarg));
            if (keys[nkeys].mac == NULL) {
                fprintf(stderr, "bad key\n");
                return 2;
            }

            nkeys++;
            break;

        default:
            return 2;
        }
    }

    if (argc - optind != 3) {
        fprintf(stderr, "usage: ngx_twilio_validate [-n N] [-f] [-s] "
                "[-p MAX] [-k [SID:]TOKEN]... URL BODY SIGNATURE\n");
        return 2;
    }

    memset(&req, 0, sizeof(req));
    req.form = form;
    req.alg = alg;
    req.max_params = max_params > 0 ? (size_t) max_params : 0;

    if (read_arg(argv[optind], &req.url) != 0
        || read_arg(argv[optind + 1], &req.body) != 0
        || read_arg(argv[optind + 2], &req.signature) != 0)
    {
        return 2;
    }

    /*
     * the core's bound (util/fuzz/fuzz_validate.c): up to four parameter
     * entries and a few bytes per body byte, two URLs
     */

    size = (4 * sizeof(ngx_twilio_param_t) + 8) * req.body.len
           + 4 * req.url.len + 65536;

    arena.start = malloc(size);
    if (arena.start == NULL) {
        return 2;
    }

    arena.end = arena.start + size;

    res.reason = NGX_TWILIO_ERROR;

    for (i = 0; i < repeat; i++) {
        arena.pos = arena.start;
        ngx_twilio_validate(&req, keys, nkeys, arena_alloc, &arena, &res);
    }

    printf("%s", ngx_twilio_reason_names[res.reason]);

    if (res.reason == NGX_TWILIO_OK) {
        printf(" key=%zu", res.key);
    }

    printf("\n");

    return res.reason == NGX_TWILIO_OK ? 0 : 1;
}
