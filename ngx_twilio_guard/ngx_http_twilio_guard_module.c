
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * The nginx glue of the Twilio webhook guard: directives, the access
 * phase handler that reads the request body and validates the request,
 * and the variables.  The checks themselves live in
 * ngx_twilio_guard_core.c; configuration reading in
 * ngx_http_twilio_guard_conf.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twilio_guard_module.h"
#include "ngx_http_twilio_guard_replay.h"
#include "ngx_http_twilio_guard_metrics.h"


/* how much of a URL or header value a log line shows */
#define NGX_HTTP_TWILIO_GUARD_LOG_VALUE  256

/* how long a rejection message may be, whatever its arguments */
#define NGX_HTTP_TWILIO_GUARD_LOG_MSG    1024


/* what a twilio_guard_trusted_proxy says about the URL Twilio requested */

typedef struct {
    ngx_str_t                   peer;          /* the address that connected */
    ngx_str_t                   scheme;        /* "http", "https" or empty */
    ngx_str_t                   host;          /* X-Forwarded-Host or empty */
    ngx_str_t                   port;          /* X-Forwarded-Port or empty */
    ngx_str_t                   bad_name;      /* the malformed header */
    ngx_str_t                   bad_value;
    ngx_uint_t                  proto_lines;   /* X-Forwarded-Proto lines */
    unsigned                    trusted:1;
    unsigned                    host_port:1;   /* the host has a ":port" */
} ngx_http_twilio_guard_fwd_t;


static ngx_int_t ngx_http_twilio_guard_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_twilio_guard_subrequest_handler(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_twilio_guard_replay_again(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx, ngx_http_twilio_guard_loc_conf_t *lcf);
static ngx_uint_t ngx_http_twilio_guard_check_again(
    ngx_http_twilio_guard_ctx_t *ctx, ngx_http_twilio_guard_loc_conf_t *lcf);
static ngx_int_t ngx_http_twilio_guard_before_body(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx);
static ngx_http_twilio_guard_ctx_t *ngx_http_twilio_guard_get_ctx(
    ngx_http_request_t *r);
static void ngx_http_twilio_guard_cleanup(void *data);
static void ngx_http_twilio_guard_read_over(ngx_http_twilio_guard_ctx_t *ctx);
static void ngx_http_twilio_guard_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_twilio_guard_unread(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx, ngx_int_t status);
static ngx_int_t ngx_http_twilio_guard_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_twilio_guard_headers(ngx_http_request_t *r,
    ngx_http_twilio_guard_loc_conf_t *lcf, ngx_http_twilio_guard_ctx_t *ctx);
static ngx_int_t ngx_http_twilio_guard_keys(ngx_http_request_t *r,
    ngx_http_twilio_guard_loc_conf_t *lcf, ngx_http_twilio_guard_ctx_t *ctx);
static ngx_int_t ngx_http_twilio_guard_check_body(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx);
static ngx_int_t ngx_http_twilio_guard_check(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx, ngx_str_t *body);
static void ngx_http_twilio_guard_request(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx, ngx_str_t *sig, ngx_str_t *body,
    ngx_twilio_request_t *req);
static ngx_int_t ngx_http_twilio_guard_rejected(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx, ngx_twilio_result_t *res,
    ngx_twilio_request_t *req);
static void ngx_http_twilio_guard_validate(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx, ngx_twilio_request_t *req,
    ngx_twilio_result_t *res);
static ngx_int_t ngx_http_twilio_guard_fail(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx, ngx_uint_t reason, const char *what);
static ngx_int_t ngx_http_twilio_guard_address(ngx_http_request_t *r,
    ngx_http_twilio_guard_loc_conf_t *lcf);
static ngx_int_t ngx_http_twilio_guard_cidr_match(struct sockaddr *sa,
    ngx_array_t *cidrs);
static ngx_int_t ngx_http_twilio_guard_authority(ngx_http_request_t *r,
    ngx_str_t *authority);
static ngx_uint_t ngx_http_twilio_guard_trusted(ngx_http_request_t *r,
    ngx_http_twilio_guard_loc_conf_t *lcf, ngx_str_t *peer);
static ngx_int_t ngx_http_twilio_guard_forwarded_read(ngx_http_request_t *r,
    ngx_http_twilio_guard_loc_conf_t *lcf, ngx_http_twilio_guard_fwd_t *fwd);
static ngx_int_t ngx_http_twilio_guard_forwarded_https(ngx_http_request_t *r,
    ngx_http_twilio_guard_loc_conf_t *lcf, ngx_http_twilio_guard_ctx_t *ctx);
static ngx_uint_t ngx_http_twilio_guard_forwarded(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *value);
static ngx_int_t ngx_http_twilio_guard_host_valid(ngx_str_t *host,
    ngx_uint_t *has_port);
static ngx_uint_t ngx_http_twilio_guard_port_valid(u_char *p, size_t len);
static ngx_int_t ngx_http_twilio_guard_url(ngx_http_request_t *r,
    ngx_http_twilio_guard_loc_conf_t *lcf, ngx_str_t *url);
static ngx_uint_t ngx_http_twilio_guard_is_form(ngx_http_request_t *r);
static void *ngx_http_twilio_guard_alloc(void *pool, size_t size);

static ngx_int_t ngx_http_twilio_guard_param(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx, ngx_str_t *name, ngx_str_t *value);
static void ngx_http_twilio_guard_set_value(ngx_http_variable_value_t *v,
    u_char *data, size_t len);
static ngx_int_t ngx_http_twilio_guard_result_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_twilio_guard_token_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_twilio_guard_account_variable(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_twilio_guard_param_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

static ngx_int_t ngx_http_twilio_guard_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_twilio_guard_init(ngx_conf_t *cf);


/* the checks' scratch pool: small forms fit, larger ones allocate more */
#define NGX_HTTP_TWILIO_GUARD_SCRATCH_SIZE  4096


static ngx_http_request_body_filter_pt  ngx_http_twilio_guard_next_body_filter;


static ngx_http_module_t  ngx_http_twilio_guard_module_ctx = {
    ngx_http_twilio_guard_add_variables,   /* preconfiguration */
    ngx_http_twilio_guard_init,            /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_twilio_guard_create_loc_conf, /* create location configuration */
    ngx_http_twilio_guard_merge_loc_conf   /* merge location configuration */
};


ngx_module_t  ngx_http_twilio_guard_module = {
    NGX_MODULE_V1,
    &ngx_http_twilio_guard_module_ctx,     /* module context */
    ngx_http_twilio_guard_commands,        /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_twilio_guard_vars[] = {

    { ngx_string("twilio_guard_result"), NULL,
      ngx_http_twilio_guard_result_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("twilio_guard_token"), NULL,
      ngx_http_twilio_guard_token_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("twilio_account_sid"), NULL,
      ngx_http_twilio_guard_account_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("twilio_param_"), NULL,
      ngx_http_twilio_guard_param_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_twilio_guard_signature_header =
    ngx_string("X-Twilio-Signature");
static ngx_str_t  ngx_http_twilio_guard_settings_header =
    ngx_string("X-Twilio-Webhooks-Signature-Settings");
static ngx_str_t  ngx_http_twilio_guard_content_type =
    ngx_string("Content-Type");
static ngx_str_t  ngx_http_twilio_guard_xf_proto =
    ngx_string("X-Forwarded-Proto");
static ngx_str_t  ngx_http_twilio_guard_xf_host =
    ngx_string("X-Forwarded-Host");
static ngx_str_t  ngx_http_twilio_guard_xf_port =
    ngx_string("X-Forwarded-Port");
static ngx_str_t  ngx_http_twilio_guard_realip_var =
    ngx_string("realip_remote_addr");


/*
 * The access phase handler.
 *
 * The first call checks what needs no body: the address, HTTPS, the
 * signature headers, the announced size, and what the URL alone decides
 * (with bodySHA256 only the URL is signed, so a forged request is
 * rejected here, its body unread).  Then it starts reading the body and
 * returns NGX_DONE: the request now belongs to nginx's body reader, and
 * comes back one of two ways.
 *
 * The body is complete: nginx calls ngx_http_twilio_guard_body_handler()
 * (possibly before ngx_http_read_client_request_body() even returns).
 * That handler stores the verdict in the module context and runs the
 * phases again, which brings the engine back here: the second call
 * answers with the stored verdict, and the access phase checker goes on
 * (NGX_OK), or finalizes the request with the rejection status.
 *
 * The read fails (the client's error or timeout, a body over
 * client_max_body_size or twilio_guard_max_body, a body that cannot be
 * stored): nginx finalizes the request with an error status itself, and
 * the body handler never runs.  The context keeps the reason
 * (body_unavailable unless the body filter below knew better).  If an
 * error_page sends that answer through a guarded location, the engine
 * comes back here with the read still marked as under way: the request
 * is answered with nginx's status (in a dry run the error page is served
 * as without the guard), never checked with part of its body, never left
 * waiting.
 *
 * While the body is read, ngx_http_twilio_guard_body_filter() counts it
 * and stops the read as soon as it is over twilio_guard_max_body.
 *
 * Subrequests never get here: nginx skips the access phase for them.
 * The context outlives internal redirects (see get_ctx below), so the
 * variables keep working after one.  A request gets one verdict: a
 * guarded location reached by a redirect checks it again only if it
 * asks for more than the location that decided (see check_again below).
 */

static ngx_int_t
ngx_http_twilio_guard_handler(ngx_http_request_t *r)
{
    ngx_int_t                          rc;
    ngx_pool_cleanup_t                *cln;
    ngx_http_twilio_guard_ctx_t       *ctx;
    ngx_http_twilio_guard_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_twilio_guard_module);

    if (!lcf->enable) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_twilio_guard_get_ctx(r);

    if (ctx && ctx->reading) {
        /* an error page after a failed body read */
        return ngx_http_twilio_guard_unread(r, ctx, r->err_status);
    }

    if (ctx && !ngx_http_twilio_guard_check_again(ctx, lcf)) {

        if (ctx->reason == NGX_TWILIO_OK && ctx->status == NGX_OK
            && lcf->replay && lcf->replay != ctx->conf->replay)
        {
            return ngx_http_twilio_guard_replay_again(r, ctx, lcf);
        }

        return ctx->status;
    }

    if (ctx == NULL) {
        cln = ngx_pool_cleanup_add(r->pool,
                                   sizeof(ngx_http_twilio_guard_ctx_t));
        if (cln == NULL) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "twilio_guard: internal_error: no memory for "
                          "the request's context");
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        cln->handler = ngx_http_twilio_guard_cleanup;
        ctx = cln->data;

        ngx_http_set_ctx(r, ctx, ngx_http_twilio_guard_module);
    }

    ngx_memzero(ctx, sizeof(ngx_http_twilio_guard_ctx_t));

    ctx->status = NGX_DONE;
    ctx->reason = NGX_HTTP_TWILIO_GUARD_PENDING;
    ctx->conf = lcf;

    rc = ngx_http_twilio_guard_headers(r, lcf, ctx);

    if (rc == NGX_OK) {
        rc = ngx_http_twilio_guard_before_body(r, ctx);
    }

    if (rc != NGX_OK) {
        /* a rejection, or NGX_DECLINED in a dry run */
        ctx->status = rc;
        return rc;
    }

    /* the reason the request ends with if the read never completes */

    ctx->reading = 1;

    if (ctx->reason == NGX_HTTP_TWILIO_GUARD_PENDING) {
        ctx->reason = NGX_TWILIO_BODY_UNAVAILABLE;
        ctx->provisional = 1;
    }

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_twilio_guard_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        /* the read failed at once: nginx answers rc */
        (void) ngx_http_twilio_guard_unread(r, ctx, rc);
        return rc;
    }

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


/*
 * Subrequests skip the access phase: auth_request, SSI or mirror into a
 * guarded location would run it unchecked.  In the rewrite phase (before
 * the location's "return" or "rewrite"), a subrequest in a guarded
 * location is served only if its main request passed the guard (a mirror
 * of a checked request); otherwise 403, as subrequest_unchecked.  A dry
 * run only logs it.
 */

static ngx_int_t
ngx_http_twilio_guard_subrequest_handler(ngx_http_request_t *r)
{
    ngx_http_twilio_guard_ctx_t       *ctx;
    ngx_http_twilio_guard_loc_conf_t  *lcf;

    if (r == r->main) {
        return NGX_DECLINED;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_twilio_guard_module);

    if (!lcf->enable) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_twilio_guard_get_ctx(r->main);

    if (ctx && ctx->reason == NGX_TWILIO_OK
        && ctx->status < NGX_HTTP_SPECIAL_RESPONSE)
    {
        return NGX_DECLINED;
    }

    ngx_log_error(lcf->log_level, r->connection->log, 0,
                  "twilio_guard: %s: %s, subrequest \"%V\" into a guarded "
                  "location from a request the guard did not pass: check "
                  "the signature in the main request's location (auth_request "
                  "cannot)",
                  lcf->dry_run ? "dry run, would reject" : "rejected",
                  ngx_twilio_reason_names[NGX_TWILIO_SUBREQUEST_UNCHECKED],
                  ngx_http_twilio_guard_log_value(r, &r->uri));

    return lcf->dry_run ? NGX_DECLINED : NGX_HTTP_FORBIDDEN;
}


/*
 * One verdict per request.  After an internal redirect (error_page,
 * try_files, a named location, X-Accel-Redirect) into another guarded
 * location the verdict stands; the request is checked again only where
 * the new location asks for more: other keys (a location's keys are one
 * set, inherited as a whole), other address rules, HTTPS where it was not
 * required or with other trusted proxies, or enforcement where a dry run
 * let a failed request through.  A rejection stands anywhere.  A request
 * that passed and reaches a replay guard the deciding location did not
 * have gets that check alone (see replay_again below).
 *
 * Not another twilio_guard_url or twilio_guard_forwarded_host: they say
 * which URL Twilio signed, not how strictly to check; the URL the request
 * passed under was the one its first location declared, and a target
 * reached by try_files or X-Accel-Redirect usually sees another URI,
 * under which a genuine request would fail.
 */

static ngx_uint_t
ngx_http_twilio_guard_check_again(ngx_http_twilio_guard_ctx_t *ctx,
    ngx_http_twilio_guard_loc_conf_t *lcf)
{
    ngx_http_twilio_guard_loc_conf_t  *prev;

    prev = ctx->conf;

    if (prev == lcf || ctx->status >= NGX_HTTP_SPECIAL_RESPONSE) {
        return 0;
    }

    if (ctx->reason != NGX_TWILIO_OK && !lcf->dry_run) {
        return 1;
    }

    return lcf->keys != prev->keys
           || lcf->shared_keys != prev->shared_keys
           || lcf->rules != prev->rules
           || (lcf->https && (!prev->https || lcf->trusted != prev->trusted));
}


/*
 * A request that passed, redirected into a location with a replay guard
 * the deciding one did not have (the README's split: the public location
 * guarded, the replay guard where the request is proxied): the verdict
 * stands, and the replay check runs here, under this location's guard.
 * Its own entry, if the zone is the same, is not a copy.
 */

static ngx_int_t
ngx_http_twilio_guard_replay_again(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx, ngx_http_twilio_guard_loc_conf_t *lcf)
{
    ngx_int_t  rc;
    ngx_str_t  sig;

    (void) ngx_http_twilio_guard_header(r,
                                       &ngx_http_twilio_guard_signature_header,
                                       &sig);

    /* a rejection here is this request's verdict */
    ctx->reason = NGX_HTTP_TWILIO_GUARD_PENDING;

    rc = ngx_http_twilio_guard_replay_check(r, ctx, lcf->replay, &sig);

    if (rc == NGX_OK) {
        ctx->reason = NGX_TWILIO_OK;
        return NGX_OK;
    }

    if (ctx->reason == NGX_HTTP_TWILIO_GUARD_PENDING) {
        /* failed before a rejection was written: logged as an alert */
        ctx->reason = NGX_TWILIO_ERROR;
        ctx->status = rc;
    }

    return rc;
}


/*
 * What the URL decides before the body is read.  With bodySHA256 only the
 * URL is signed: a forged signature is rejected here, and only a request
 * that passed has its body read and hashed.  A body that is not a form
 * and has no bodySHA256 can never pass: rejected unread.  NGX_OK: read
 * the body.
 */

static ngx_int_t
ngx_http_twilio_guard_before_body(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx)
{
    ngx_int_t         rc;
    ngx_str_t         host;
    ngx_uint_t        has_port;
    ngx_twilio_str_t  hex;

    /*
     * The default URL takes the Host header as sent, and nginx lets "#",
     * "?", "@" and '"' through: the host must be a host, or the query the
     * signature covers would not be the query the application reads.
     */

    if (ctx->conf->url == NULL) {
        if (r->headers_in.host) {
            host = r->headers_in.host->value;

        } else {
            (void) ngx_http_twilio_guard_authority(r, &host);
        }

        if (ngx_http_twilio_guard_host_valid(&host, &has_port) != NGX_OK) {
            rc = ngx_http_twilio_guard_reject(r, ctx,
                                              NGX_TWILIO_HOST_MALFORMED,
                                              ctx->conf->reject_status,
                                              "the Host header \"%V\" is not "
                                              "a host name or address with "
                                              "an optional port",
                                              ngx_http_twilio_guard_log_value(
                                                                 r, &host));
            if (rc != NGX_DECLINED) {
                return rc;
            }
        }
    }

    if (ngx_http_twilio_guard_url(r, ctx->conf, &ctx->url) != NGX_OK) {
        return ngx_http_twilio_guard_fail(r, ctx, NGX_TWILIO_ERROR,
                                          "the URL to check could not be "
                                          "built");
    }

    if (ngx_twilio_url_body_hash(ctx->url.data, ctx->url.len, &hex)
        == NGX_TWILIO_HASH_NONE
        && (ngx_http_twilio_guard_is_form(r)
            || (r->headers_in.content_length_n <= 0
                && !r->headers_in.chunked)))
    {
        /* the body is part of the signed string, or there is none */
        return NGX_OK;
    }

    rc = ngx_http_twilio_guard_check(r, ctx, NULL);

    return (rc == NGX_AGAIN) ? NGX_OK : rc;
}


/*
 * What can be decided before the body is read: the address, the host,
 * HTTPS and the forwarded headers, the signature headers and the
 * announced body size.  Selects the keys.
 * Returns NGX_OK to go on and read the body, a rejection status, or
 * NGX_DECLINED where a dry run cannot check further.
 */

static ngx_int_t
ngx_http_twilio_guard_headers(ngx_http_request_t *r,
    ngx_http_twilio_guard_loc_conf_t *lcf, ngx_http_twilio_guard_ctx_t *ctx)
{
    ngx_int_t   rc;
    ngx_str_t   sig, authority, ct;
    ngx_uint_t  n;

    if (ngx_http_twilio_guard_address(r, lcf) != NGX_OK) {
        rc = ngx_http_twilio_guard_reject(r, ctx, NGX_TWILIO_IP_DENIED,
                                          lcf->reject_status,
                                          "address %V is denied by the "
                                          "twilio_guard_allow/deny rules",
                                          &r->connection->addr_text);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    if (ngx_http_twilio_guard_authority(r, &authority) != NGX_OK) {
        rc = ngx_http_twilio_guard_reject(r, ctx, NGX_TWILIO_HOST_MISMATCH,
                                          lcf->reject_status,
                                          "the request target names the "
                                          "host \"%V\", the Host header "
                                          "\"%V\"",
                                          ngx_http_twilio_guard_log_value(r,
                                                                 &authority),
                                          ngx_http_twilio_guard_log_value(r,
                                               &r->headers_in.host->value));
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    rc = ngx_http_twilio_guard_forwarded_https(r, lcf, ctx);

    if (rc != NGX_OK) {
        return rc;
    }

    n = ngx_http_twilio_guard_header(r,
                                     &ngx_http_twilio_guard_signature_header,
                                     &sig);
    if (n == 0) {
        return ngx_http_twilio_guard_reject(r, ctx, NGX_TWILIO_NO_SIGNATURE,
                                            lcf->reject_status,
                                            "no X-Twilio-Signature header");
    }

    if (n > 1) {
        return ngx_http_twilio_guard_reject(r, ctx,
                                            NGX_TWILIO_SIGNATURE_REPEATED,
                                            lcf->reject_status,
                                            "X-Twilio-Signature header sent "
                                            "%ui times", n);
    }

    rc = ngx_http_twilio_guard_keys(r, lcf, ctx);

    if (rc != NGX_OK) {
        return rc;
    }

    if (!ngx_twilio_signature_wellformed(sig.data, sig.len,
                                         ctx->shared_key
                                         ? NGX_TWILIO_SHA256_B64_LEN
                                         : NGX_TWILIO_SHA1_B64_LEN))
    {
        return ngx_http_twilio_guard_reject(r, ctx,
                                            NGX_TWILIO_SIGNATURE_MALFORMED,
                                            lcf->reject_status,
                                            "X-Twilio-Signature is not a "
                                            "base64 HMAC-%s (%uz bytes)",
                                            ctx->shared_key ? "SHA256"
                                                            : "SHA1",
                                            sig.len);
    }

    /*
     * nginx reads the first Content-Type, some applications the last
     * (gunicorn): form for one, JSON for the other
     */

    n = ngx_http_twilio_guard_header(r, &ngx_http_twilio_guard_content_type,
                                     &ct);
    if (n > 1) {
        return ngx_http_twilio_guard_reject(r, ctx,
                                            NGX_TWILIO_CONTENT_TYPE_REPEATED,
                                            lcf->reject_status,
                                            "Content-Type header sent %ui "
                                            "times", n);
    }

    if (r->headers_in.content_length_n > (off_t) lcf->max_body) {
        return ngx_http_twilio_guard_reject(r, ctx, NGX_TWILIO_BODY_TOO_LARGE,
                                            NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                            "body of %O bytes is larger "
                                            "than twilio_guard_max_body %uz",
                                            r->headers_in.content_length_n,
                                            lcf->max_body);
    }

    return NGX_OK;
}


/*
 * The keys that may have signed: the shared key named by
 * X-Twilio-Webhooks-Signature-Settings, or the location's auth tokens.
 */

static ngx_int_t
ngx_http_twilio_guard_keys(ngx_http_request_t *r,
    ngx_http_twilio_guard_loc_conf_t *lcf, ngx_http_twilio_guard_ctx_t *ctx)
{
    ngx_int_t                            rc;
    ngx_str_t                            settings, id;
    ngx_uint_t                           i, n;
    ngx_twilio_str_t                     key_id;
    ngx_http_twilio_guard_shared_key_t  *sk;

    n = ngx_http_twilio_guard_header(r,
                                     &ngx_http_twilio_guard_settings_header,
                                     &settings);

    if (n > 1) {
        return ngx_http_twilio_guard_reject(r, ctx,
                                            NGX_TWILIO_SETTINGS_MALFORMED,
                                            lcf->reject_status,
                                            "X-Twilio-Webhooks-Signature-"
                                            "Settings header sent %ui times",
                                            n);
    }

    if (n == 1) {

        /* a shared key (Twilio Webhook Rules, public beta) */

        rc = ngx_twilio_signature_settings(settings.data, settings.len,
                                           &key_id);

        if (rc == NGX_TWILIO_SETTINGS_MALFORMED) {
            return ngx_http_twilio_guard_reject(r, ctx, rc,
                                            lcf->reject_status,
                                            "X-Twilio-Webhooks-Signature-"
                                            "Settings \"%V\" is not "
                                            "\"key=ID,algorithm=HMAC_SHA256\"",
                                            ngx_http_twilio_guard_log_value(r,
                                                                 &settings));
        }

        if (rc == NGX_TWILIO_UNSUPPORTED_ALG) {
            return ngx_http_twilio_guard_reject(r, ctx, rc,
                                            lcf->reject_status,
                                            "X-Twilio-Webhooks-Signature-"
                                            "Settings \"%V\" names an "
                                            "algorithm other than "
                                            "HMAC_SHA256",
                                            ngx_http_twilio_guard_log_value(r,
                                                                 &settings));
        }

        sk = lcf->shared_keys ? lcf->shared_keys->elts : NULL;

        for (i = 0; sk && i < lcf->shared_keys->nelts; i++) {
            if (sk[i].id.len == key_id.len
                && ngx_strncmp(sk[i].id.data, key_id.data, key_id.len) == 0)
            {
                ctx->keys = &sk[i].key;
                ctx->nkeys = 1;
                ctx->key_label = sk[i].id;
                ctx->shared_key = 1;
                break;
            }
        }

        if (ctx->keys == NULL) {
            id.data = key_id.data;
            id.len = key_id.len;

            return ngx_http_twilio_guard_reject(r, ctx,
                                            NGX_TWILIO_UNKNOWN_KEY,
                                            lcf->reject_status,
                                            "no twilio_guard_shared_key "
                                            "with id \"%V\"",
                                            ngx_http_twilio_guard_log_value(r,
                                                                       &id));
        }

    } else if (lcf->keys) {
        ctx->keys = lcf->keys->elts;
        ctx->nkeys = lcf->keys->nelts;

    } else {
        return ngx_http_twilio_guard_reject(r, ctx, NGX_TWILIO_BAD_SIGNATURE,
                                            lcf->reject_status,
                                            "no auth token here, only "
                                            "shared-key signatures are "
                                            "accepted");
    }

    return NGX_OK;
}


/*
 * An internal redirect zeroes the request's module contexts; like the
 * realip module, find ours again through the pool cleanup it lives in.
 * Subrequests share the pool, so they see the main request's verdict.
 */

static ngx_http_twilio_guard_ctx_t *
ngx_http_twilio_guard_get_ctx(ngx_http_request_t *r)
{
    return ngx_http_twilio_guard_find_ctx(r, &ngx_http_twilio_guard_module,
                                          ngx_http_twilio_guard_cleanup);
}


/*
 * The context of module m, found again through the pool cleanup (with
 * the given handler) it lives in when an internal redirect has cleared
 * the request's module contexts.  The SMS guard's context is kept the
 * same way.
 */

void *
ngx_http_twilio_guard_find_ctx(ngx_http_request_t *r, ngx_module_t *m,
    ngx_pool_cleanup_pt handler)
{
    void                *ctx;
    ngx_pool_cleanup_t  *cln;

    ctx = r->ctx[m->ctx_index];

    if (ctx || !(r->internal || r->filter_finalize)) {
        return ctx;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == handler) {
            r->ctx[m->ctx_index] = cln->data;
            return cln->data;
        }
    }

    return NULL;
}


static void
ngx_http_twilio_guard_cleanup(void *data)
{
    ngx_http_twilio_guard_ctx_t  *ctx = data;

    /*
     * nothing to free: the cleanup only marks where the context is (the
     * check's scratch memory went with its own pool at the verdict).
     * A body read that never ended (the client went away, a timeout)
     * ends here with its provisional reason: counted now.
     */

    if (ctx->provisional && ctx->conf) {
        ngx_http_twilio_guard_metrics_count(ctx->conf,
                                            NGX_TWILIO_BODY_UNAVAILABLE);
    }
}


/* the body read is over: the provisional body_unavailable goes */

static void
ngx_http_twilio_guard_read_over(ngx_http_twilio_guard_ctx_t *ctx)
{
    ctx->reading = 0;

    if (ctx->provisional) {
        ctx->provisional = 0;
        ctx->reason = NGX_HTTP_TWILIO_GUARD_PENDING;
    }
}


static void
ngx_http_twilio_guard_body_handler(ngx_http_request_t *r)
{
    ngx_http_twilio_guard_ctx_t  *ctx;

    ctx = ngx_http_twilio_guard_get_ctx(r);

    ngx_http_twilio_guard_read_over(ctx);

    ctx->status = ngx_http_twilio_guard_check_body(r, ctx);

    /* keep the body (and its temporary file) for internal redirects */
    r->preserve_body = 1;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


/*
 * The body read ended without the body: nginx answers with status, and
 * has logged why.  The reason is body_unavailable, unless the body filter
 * already recorded a better one.  In a dry run nginx's answer (or its
 * error page) goes on as it would without the guard.
 */

static ngx_int_t
ngx_http_twilio_guard_unread(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx, ngx_int_t status)
{
    ngx_http_twilio_guard_loc_conf_t  *lcf;

    ngx_http_twilio_guard_read_over(ctx);

    if (status < NGX_HTTP_BAD_REQUEST) {
        /* an error page that changed the status, e.g. "=200" */
        status = NGX_HTTP_BAD_REQUEST;
    }

    if (ctx->reason == NGX_HTTP_TWILIO_GUARD_PENDING) {
        return ngx_http_twilio_guard_reject(r, ctx,
                                            NGX_TWILIO_BODY_UNAVAILABLE,
                                            status,
                                            "the request body could not "
                                            "be read, nginx answers %i",
                                            status);
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_twilio_guard_module);

    ctx->status = lcf->dry_run ? NGX_DECLINED : status;

    return ctx->status;
}


/*
 * The request body filter: counts the body of the request whose body the
 * guard is reading.  Past twilio_guard_max_body the read stops with 413:
 * nothing more is read, kept or copied.  A body nginx could not store
 * (client_body_temp_path) is recorded here, where the failure is seen.
 */

static ngx_int_t
ngx_http_twilio_guard_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_int_t                     rc;
    ngx_chain_t                  *cl;
    ngx_http_twilio_guard_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_twilio_guard_module);

    if (ctx == NULL || !ctx->reading) {
        return ngx_http_twilio_guard_next_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {
        ctx->received += ngx_buf_size(cl->buf);
    }

    if (ctx->received > (off_t) ctx->conf->max_body
        && !ctx->too_large
        && ctx->reason != NGX_TWILIO_BODY_TOO_LARGE)
    {
        ctx->too_large = 1;

        if (ctx->provisional) {
            ctx->provisional = 0;
            ctx->reason = NGX_HTTP_TWILIO_GUARD_PENDING;
        }

        rc = ngx_http_twilio_guard_reject(r, ctx, NGX_TWILIO_BODY_TOO_LARGE,
                                          NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                          "body larger than "
                                          "twilio_guard_max_body %uz, "
                                          "reading stopped at %O bytes",
                                          ctx->conf->max_body,
                                          ctx->received);
        if (rc != NGX_DECLINED) {
            r->lingering_close = 1;
            return rc;
        }
    }

    rc = ngx_http_twilio_guard_next_body_filter(r, in);

    if (rc == NGX_HTTP_INTERNAL_SERVER_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "twilio_guard: body_unavailable: nginx could not "
                      "store the request body (see the error before; can "
                      "the workers write client_body_temp_path?)");

        if (ctx->provisional || ctx->reason == NGX_HTTP_TWILIO_GUARD_PENDING)
        {
            ctx->provisional = 0;
            ctx->reason = NGX_TWILIO_BODY_UNAVAILABLE;
            ngx_http_twilio_guard_metrics_count(ctx->conf, ctx->reason);
        }

        ctx->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return rc;
}


/*
 * The body is read: its size against twilio_guard_max_body before any
 * copy, then the whole check.
 */

static ngx_int_t
ngx_http_twilio_guard_check_body(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx)
{
    off_t                              size;
    ngx_int_t                          rc;
    ngx_str_t                          body;
    ngx_http_twilio_guard_loc_conf_t  *lcf;

    lcf = ctx->conf;

    if (ngx_http_twilio_guard_body_size(r, &size) != NGX_OK) {
        return ngx_http_twilio_guard_reject(r, ctx, NGX_TWILIO_BODY_UNAVAILABLE,
                                            lcf->reject_status,
                                            "the request body is not "
                                            "available (discarded before "
                                            "the guard ran, or not read "
                                            "whole)");
    }

    if (size > (off_t) lcf->max_body) {

        if (ctx->too_large || ctx->reason == NGX_TWILIO_BODY_TOO_LARGE) {
            /* a dry run, told already */
            return NGX_DECLINED;
        }

        return ngx_http_twilio_guard_reject(r, ctx, NGX_TWILIO_BODY_TOO_LARGE,
                                            NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                            "body of %O bytes is larger "
                                            "than twilio_guard_max_body %uz",
                                            size, lcf->max_body);
    }

    rc = ngx_http_twilio_guard_body(r, (size_t) size, &body);

    if (rc == NGX_ERROR) {
        return ngx_http_twilio_guard_fail(r, ctx, NGX_TWILIO_ERROR,
                                          "no memory for a copy of the "
                                          "body");
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_twilio_guard_fail(r, ctx, NGX_TWILIO_BODY_UNAVAILABLE,
                                          "the body could not be read "
                                          "back from its temporary file");
    }

    return ngx_http_twilio_guard_check(r, ctx, &body);
}


/*
 * The signature check.  Before the body is read (body NULL), what the URL
 * alone decides: NGX_AGAIN when that passed and the body is to be read.
 * Then the whole check, with the body.
 */

static ngx_int_t
ngx_http_twilio_guard_check(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx, ngx_str_t *body)
{
    ngx_int_t             rc;
    ngx_str_t             sig;
    ngx_twilio_result_t   res;
    ngx_twilio_request_t  req;

    (void) ngx_http_twilio_guard_header(r,
                                       &ngx_http_twilio_guard_signature_header,
                                       &sig);

    ngx_http_twilio_guard_request(r, ctx, &sig, body, &req);

    ngx_http_twilio_guard_validate(r, ctx, &req, &res);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twilio_guard: %s, url \"%V\", body %uz, %uz MACs",
                   ngx_twilio_reason_names[res.reason],
                   ngx_http_twilio_guard_log_value(r, &ctx->url),
                   req.body.len, res.tried);

    if (res.reason != NGX_TWILIO_OK) {
        return ngx_http_twilio_guard_rejected(r, ctx, &res, &req);
    }

    if (body == NULL) {
        /* the URL's signature holds: now the body, and its hash */
        return NGX_AGAIN;
    }

    ngx_http_twilio_guard_metrics_key(ctx, res.key);

    if (!ctx->shared_key) {
        ctx->key_label.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (ctx->key_label.data == NULL) {
            return ngx_http_twilio_guard_fail(r, ctx, NGX_TWILIO_ERROR,
                                              "no memory for the key label");
        }

        ctx->key_label.len = ngx_sprintf(ctx->key_label.data, "%uz",
                                         res.key + 1)
                             - ctx->key_label.data;
    }

    if (ctx->reason != NGX_HTTP_TWILIO_GUARD_PENDING) {
        /* a dry run that failed an earlier check */
        return NGX_DECLINED;
    }

    rc = ngx_http_twilio_guard_replay_check(r, ctx, ctx->conf->replay, &sig);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx->reason = NGX_TWILIO_OK;
    ngx_http_twilio_guard_metrics_count(ctx->conf, NGX_TWILIO_OK);

    return NGX_OK;
}


/*
 * What the core checks: the URL, the signature, the form flag, the
 * request's own query (where AccountSid claims are read), and the body,
 * or before the body is read (body NULL) only whether one follows.
 */

static void
ngx_http_twilio_guard_request(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx, ngx_str_t *sig, ngx_str_t *body,
    ngx_twilio_request_t *req)
{
    u_char            *q, *last;
    ngx_twilio_str_t   hex;

    ngx_memzero(req, sizeof(ngx_twilio_request_t));

    req->url.data = ctx->url.data;
    req->url.len = ctx->url.len;
    req->signature.data = sig->data;
    req->signature.len = sig->len;
    req->form = ngx_http_twilio_guard_is_form(r);
    req->alg = ctx->shared_key ? NGX_TWILIO_HMAC_SHA256
                               : NGX_TWILIO_HMAC_SHA1;
    req->max_params = ctx->conf->max_params;

    /*
     * AccountSid claims are read in the query the application gets (the
     * raw request target's, "#" included), whatever URL was signed
     */

    last = r->unparsed_uri.data + r->unparsed_uri.len;
    q = ngx_strlchr(r->unparsed_uri.data, last, '?');

    req->query.data = q ? q + 1 : last;
    req->query.len = last - req->query.data;

    if (body) {
        req->body.data = body->data;
        req->body.len = body->len;

        ctx->body = *body;
        ctx->form_params = req->form
                           && ngx_twilio_url_body_hash(ctx->url.data,
                                                       ctx->url.len, &hex)
                              == NGX_TWILIO_HASH_NONE;
        return;
    }

    /* nonzero when a body follows */

    req->body_later = 1;

    if (r->headers_in.chunked) {
        req->body.len = 1;

    } else if (r->headers_in.content_length_n > 0) {
        req->body.len = (size_t) r->headers_in.content_length_n;
    }
}


/* a rejection by the core: its log line, and the status */

static ngx_int_t
ngx_http_twilio_guard_rejected(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx, ngx_twilio_result_t *res,
    ngx_twilio_request_t *req)
{
    ngx_str_t                         *url;
    ngx_http_twilio_guard_loc_conf_t  *lcf;

    lcf = ctx->conf;

    /* the URL as log lines show it: escaped, and cut */
    url = ngx_http_twilio_guard_log_value(r, &ctx->url);

    switch (res->reason) {

    case NGX_TWILIO_BAD_SIGNATURE:
        return ngx_http_twilio_guard_reject(r, ctx, res->reason,
                                            lcf->reject_status,
                                            "signature does not match url "
                                            "\"%V\" (with or without port) "
                                            "under any of %uz %s", url,
                                            ctx->nkeys,
                                            ctx->shared_key ? "shared keys"
                                                            : "tokens");

    case NGX_TWILIO_BODY_HASH_MISMATCH:
        return ngx_http_twilio_guard_reject(r, ctx, res->reason,
                                            lcf->reject_status,
                                            "SHA-256 of the %uz-byte body "
                                            "does not match bodySHA256 in "
                                            "url \"%V\"", req->body.len, url);

    case NGX_TWILIO_BODY_HASH_MALFORMED:
        return ngx_http_twilio_guard_reject(r, ctx, res->reason,
                                            lcf->reject_status,
                                            "bodySHA256 in url \"%V\" is "
                                            "not 64 hex digits, or repeated",
                                            url);

    case NGX_TWILIO_BODY_UNSIGNED:
        return ngx_http_twilio_guard_reject(r, ctx, res->reason,
                                            lcf->reject_status,
                                            "a body that is not a form "
                                            "needs bodySHA256 in url \"%V\"",
                                            url);

    case NGX_TWILIO_TOO_MANY_PARAMS:
        return ngx_http_twilio_guard_reject(r, ctx, res->reason,
                                            lcf->reject_status,
                                            "form body has more than "
                                            "twilio_guard_max_params %ui "
                                            "parameters", lcf->max_params);

    case NGX_TWILIO_UNKNOWN_ACCOUNT:
        return ngx_http_twilio_guard_reject(r, ctx, res->reason,
                                            lcf->reject_status,
                                            "no token for the request's "
                                            "AccountSid");

    case NGX_TWILIO_ACCOUNT_AMBIGUOUS:
        return ngx_http_twilio_guard_reject(r, ctx, res->reason,
                                            lcf->reject_status,
                                            "the request names more than "
                                            "one AccountSid, or JSON "
                                            "members named AccountSid "
                                            "disagree");

    case NGX_TWILIO_JSON_MALFORMED:
        return ngx_http_twilio_guard_reject(r, ctx, res->reason,
                                            lcf->reject_status,
                                            "the %uz-byte body signed by "
                                            "bodySHA256 is not a form nor "
                                            "well-formed JSON, and tokens "
                                            "bound to accounts need its "
                                            "AccountSid", req->body.len);

    default: /* NGX_TWILIO_ERROR */
        return ngx_http_twilio_guard_fail(r, ctx, NGX_TWILIO_ERROR,
                                          "the signature check failed "
                                          "(out of memory, or an OpenSSL "
                                          "error logged before)");
    }
}


/*
 * ngx_twilio_validate() in a pool of its own: the parsed parameters and
 * canonical strings (two to three times the body) are needed until the
 * verdict, not until the upstream answers.  What the variables need
 * later is in the request pool (url, body, key label), or must be copied
 * there before the scratch pool goes.
 */

static void
ngx_http_twilio_guard_validate(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx, ngx_twilio_request_t *req,
    ngx_twilio_result_t *res)
{
    ngx_pool_t  *pool;

    pool = ngx_create_pool(NGX_HTTP_TWILIO_GUARD_SCRATCH_SIZE,
                           r->connection->log);
    if (pool == NULL) {
        res->reason = NGX_TWILIO_ERROR;
        res->key = 0;
        res->tried = 0;
        return;
    }

    ngx_twilio_validate(req, ctx->keys, ctx->nkeys,
                        ngx_http_twilio_guard_alloc, pool, res);

    /* the claimed account may point into the scratch pool */

    ngx_str_null(&ctx->account);

    if (res->account.len) {
        ctx->account.data = ngx_pnalloc(r->pool, res->account.len);

        if (ctx->account.data == NULL) {
            res->reason = NGX_TWILIO_ERROR;

        } else {
            ngx_memcpy(ctx->account.data, res->account.data,
                       res->account.len);
            ctx->account.len = res->account.len;
        }
    }

    ngx_destroy_pool(pool);
}


/*
 * The guard could not do its work (memory, OpenSSL, a temporary file):
 * one alert line naming what failed, the reason recorded, 500.  A dry
 * run lets the request go on.
 */

static ngx_int_t
ngx_http_twilio_guard_fail(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx, ngx_uint_t reason, const char *what)
{
    ngx_http_twilio_guard_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_twilio_guard_module);

    ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                  "twilio_guard: %s: %s%s", ngx_twilio_reason_names[reason],
                  what, lcf->dry_run ? " (dry run, let through)" : "");

    if (ctx->reason == NGX_HTTP_TWILIO_GUARD_PENDING) {
        ctx->reason = reason;
        ngx_http_twilio_guard_metrics_count(lcf, reason);
    }

    ctx->status = lcf->dry_run ? NGX_DECLINED
                               : NGX_HTTP_INTERNAL_SERVER_ERROR;

    return ctx->status;
}


/*
 * twilio_guard_allow and twilio_guard_deny, in order, first match wins,
 * against the client address (after the realip module, if any).
 */

static ngx_int_t
ngx_http_twilio_guard_address(ngx_http_request_t *r,
    ngx_http_twilio_guard_loc_conf_t *lcf)
{
    ngx_uint_t                     i;
    ngx_http_twilio_guard_rule_t  *rule;

    if (lcf->rules == NULL) {
        return NGX_OK;
    }

    rule = lcf->rules->elts;

    for (i = 0; i < lcf->rules->nelts; i++) {
        if (ngx_http_twilio_guard_cidr_match(r->connection->sockaddr,
                                             rule[i].cidrs)
            == NGX_OK)
        {
            return rule[i].deny ? NGX_DECLINED : NGX_OK;
        }
    }

    return NGX_OK;
}


/*
 * ngx_cidr_match(), which already takes an IPv4-mapped IPv6 address
 * (::ffff:192.0.2.1, how a dual-stack "listen [::]:443 ipv6only=off"
 * socket sees an IPv4 client) as the IPv4 address, plus the other half
 * of that rule: an IPv4-mapped range (::ffff:192.0.2.0/120, a prefix of
 * 96 bits or more) is the IPv4 range 192.0.2.0/24.  So one client
 * matches the same rules whichever socket it came in on.
 */

static ngx_int_t
ngx_http_twilio_guard_cidr_match(struct sockaddr *sa, ngx_array_t *cidrs)
{
#if (NGX_HAVE_INET6)
    u_char               *p;
    in_addr_t             addr, net, mask;
    ngx_uint_t            i;
    ngx_cidr_t           *cidr;
    struct in6_addr      *in6;

    static const u_char   prefix96[12] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
    };
#endif

    if (ngx_cidr_match(sa, cidrs) == NGX_OK) {
        return NGX_OK;
    }

#if (NGX_HAVE_INET6)

    switch (sa->sa_family) {

    case AF_INET:
        addr = ((struct sockaddr_in *) sa)->sin_addr.s_addr;
        break;

    case AF_INET6:
        in6 = &((struct sockaddr_in6 *) sa)->sin6_addr;

        if (!IN6_IS_ADDR_V4MAPPED(in6)) {
            return NGX_DECLINED;
        }

        ngx_memcpy(&addr, &in6->s6_addr[12], sizeof(in_addr_t));
        break;

    default:
        return NGX_DECLINED;
    }

    cidr = cidrs->elts;

    for (i = 0; i < cidrs->nelts; i++) {

        if (cidr[i].family != AF_INET6
            || !IN6_IS_ADDR_V4MAPPED(&cidr[i].u.in6.addr)
            || ngx_memcmp(cidr[i].u.in6.mask.s6_addr, prefix96, 12) != 0)
        {
            continue;
        }

        p = cidr[i].u.in6.addr.s6_addr;
        ngx_memcpy(&net, &p[12], sizeof(in_addr_t));

        p = cidr[i].u.in6.mask.s6_addr;
        ngx_memcpy(&mask, &p[12], sizeof(in_addr_t));

        if ((addr & mask) == net) {
            return NGX_OK;
        }
    }

#endif

    return NGX_DECLINED;
}


/*
 * An absolute-form request target ("POST http://a.example/sms HTTP/1.1")
 * or an HTTP/2 or HTTP/3 ":authority" names the host nginx routes on,
 * while the default URL takes the Host header.  When both are present
 * they must name the same host and port (letter case aside): otherwise a
 * signature captured at one virtual host could be replayed at another.
 * authority is set to the request target's host, if any.
 */

static ngx_int_t
ngx_http_twilio_guard_authority(ngx_http_request_t *r, ngx_str_t *authority)
{
    u_char     *p, *last;
    ngx_str_t  *host;

    ngx_str_null(authority);

    if (r->host_start == NULL || r->host_end == NULL) {
        return NGX_OK;
    }

    /*
     * in a request line the port follows the host: nginx before 1.25
     * marks its end (r->port_end), later versions do not, so it is read
     * here, within the line; an HTTP/2 or HTTP/3 authority is whole
     */

    p = r->host_end;
    last = r->request_line.data + r->request_line.len;

    if (p >= r->request_line.data && p < last && *p == ':') {
        do {
            p++;
        } while (p < last && *p >= '0' && *p <= '9');
    }

    authority->data = r->host_start;
    authority->len = p - r->host_start;

    if (r->headers_in.host == NULL) {
        return NGX_OK;
    }

    host = &r->headers_in.host->value;

    if (host->len == authority->len
        && ngx_strncasecmp(host->data, authority->data, host->len) == 0)
    {
        return NGX_OK;
    }

    return NGX_DECLINED;
}


/*
 * Whether the peer that connected to nginx is a twilio_guard_trusted_proxy.
 * The realip module replaces the client address early, so the peer is
 * taken from $realip_remote_addr, the address before that replacement;
 * peer is set to its text, for log lines.
 */

static ngx_uint_t
ngx_http_twilio_guard_trusted(ngx_http_request_t *r,
    ngx_http_twilio_guard_loc_conf_t *lcf, ngx_str_t *peer)
{
    ngx_addr_t                  addr;
    ngx_http_variable_value_t  *vv;
#if (NGX_HAVE_UNIX_DOMAIN)
    struct sockaddr             sa;
#endif

    *peer = r->connection->addr_text;

    if (lcf->trusted == NULL) {
        return 0;
    }

    vv = ngx_http_get_variable(r, &ngx_http_twilio_guard_realip_var,
                               ngx_hash_key(
                                   ngx_http_twilio_guard_realip_var.data,
                                   ngx_http_twilio_guard_realip_var.len));

    if (vv == NULL || vv->not_found || vv->len == 0
        || (vv->len == r->connection->addr_text.len
            && ngx_strncmp(vv->data, r->connection->addr_text.data, vv->len)
               == 0))
    {
        return ngx_http_twilio_guard_cidr_match(r->connection->sockaddr,
                                                lcf->trusted)
               == NGX_OK;
    }

    peer->data = vv->data;
    peer->len = vv->len;

#if (NGX_HAVE_UNIX_DOMAIN)
    if (vv->len == 5 && ngx_strncmp(vv->data, "unix:", 5) == 0) {
        ngx_memzero(&sa, sizeof(struct sockaddr));
        sa.sa_family = AF_UNIX;

        return ngx_cidr_match(&sa, lcf->trusted) == NGX_OK;
    }
#endif

    if (ngx_parse_addr(r->pool, &addr, vv->data, vv->len) != NGX_OK) {
        return 0;
    }

    return ngx_http_twilio_guard_cidr_match(addr.sockaddr, lcf->trusted)
           == NGX_OK;
}


/*
 * What a trusted proxy says about the URL Twilio requested.  Only what
 * the configuration uses is read: the scheme for twilio_guard_https over
 * plain HTTP and for the default URL; the host and port for the default
 * URL with twilio_guard_forwarded_host on (not every proxy overwrites
 * what the client sent in them).  Each header must be well
 * formed (see ngx_http_twilio_guard_forwarded); NGX_DECLINED names the
 * first one that is not in fwd->bad, and leaves it out of fwd.
 */

static ngx_int_t
ngx_http_twilio_guard_forwarded_read(ngx_http_request_t *r,
    ngx_http_twilio_guard_loc_conf_t *lcf, ngx_http_twilio_guard_fwd_t *fwd)
{
    ngx_int_t   rc;
    ngx_str_t   v;
    ngx_uint_t  url, has_port;

    ngx_memzero(fwd, sizeof(ngx_http_twilio_guard_fwd_t));

    fwd->proto_lines = ngx_http_twilio_guard_header(r,
                                            &ngx_http_twilio_guard_xf_proto,
                                            &v);

    fwd->trusted = ngx_http_twilio_guard_trusted(r, lcf, &fwd->peer);

    if (!fwd->trusted) {
        return NGX_OK;
    }

    url = (lcf->url == NULL);
    rc = NGX_OK;

    if (url || (lcf->https && r->connection->ssl == NULL)) {

        if (ngx_http_twilio_guard_forwarded(r, &ngx_http_twilio_guard_xf_proto,
                                            &v))
        {
            if (v.len == 4 && ngx_strncasecmp(v.data, (u_char *) "http", 4)
                              == 0)
            {
                ngx_str_set(&fwd->scheme, "http");

            } else if (v.len == 5
                       && ngx_strncasecmp(v.data, (u_char *) "https", 5) == 0)
            {
                ngx_str_set(&fwd->scheme, "https");

            } else {
                fwd->bad_name = ngx_http_twilio_guard_xf_proto;
                fwd->bad_value = v;
                rc = NGX_DECLINED;
            }
        }
    }

    if (!url || !lcf->forwarded_host) {
        return rc;
    }

    if (ngx_http_twilio_guard_forwarded(r, &ngx_http_twilio_guard_xf_host,
                                        &v))
    {
        if (ngx_http_twilio_guard_host_valid(&v, &has_port) == NGX_OK) {
            fwd->host = v;
            fwd->host_port = has_port;

        } else if (rc == NGX_OK) {
            fwd->bad_name = ngx_http_twilio_guard_xf_host;
            fwd->bad_value = v;
            rc = NGX_DECLINED;
        }
    }

    if (ngx_http_twilio_guard_forwarded(r, &ngx_http_twilio_guard_xf_port,
                                        &v))
    {
        if (ngx_http_twilio_guard_port_valid(v.data, v.len)) {
            fwd->port = v;

        } else if (rc == NGX_OK) {
            fwd->bad_name = ngx_http_twilio_guard_xf_port;
            fwd->bad_value = v;
            rc = NGX_DECLINED;
        }
    }

    return rc;
}


/*
 * The forwarded headers before the body is read: each one used must be
 * well formed (forwarded_malformed), and HTTPS, when required, must be
 * the connection's or a trusted proxy's (not_https).  The not_https line
 * says which of the three usual mistakes it was.  Returns NGX_OK to go
 * on (also in a dry run), or the status to reject with.
 */

static ngx_int_t
ngx_http_twilio_guard_forwarded_https(ngx_http_request_t *r,
    ngx_http_twilio_guard_loc_conf_t *lcf, ngx_http_twilio_guard_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_http_twilio_guard_fwd_t  fwd;

    rc = ngx_http_twilio_guard_forwarded_read(r, lcf, &fwd);

    if (rc != NGX_OK) {
        rc = ngx_http_twilio_guard_reject(r, ctx,
                                      NGX_TWILIO_FORWARDED_MALFORMED,
                                      lcf->reject_status,
                                      "%V \"%V\" from the trusted proxy %V "
                                      "is not %s", &fwd.bad_name,
                                      ngx_http_twilio_guard_log_value(r,
                                                            &fwd.bad_value),
                                      &fwd.peer,
                                      fwd.bad_name.data
                                      == ngx_http_twilio_guard_xf_proto.data
                                      ? "\"http\" or \"https\""
                                      : fwd.bad_name.data
                                        == ngx_http_twilio_guard_xf_host.data
                                        ? "a host name or address with an "
                                          "optional port"
                                        : "a port number");
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    if (!lcf->https || r->connection->ssl) {
        return NGX_OK;
    }

    if (fwd.scheme.len == 5) {
        /* a trusted proxy says "https" */
        return NGX_OK;
    }

    if (fwd.trusted) {
        rc = ngx_http_twilio_guard_reject(r, ctx, NGX_TWILIO_NOT_HTTPS,
                                      lcf->reject_status,
                                      "request did not arrive over HTTPS "
                                      "(twilio_guard_https on), and the "
                                      "trusted proxy %V %s", &fwd.peer,
                                      fwd.scheme.len
                                      ? "says \"X-Forwarded-Proto: http\""
                                      : "sent no X-Forwarded-Proto");

    } else if (fwd.proto_lines) {
        rc = ngx_http_twilio_guard_reject(r, ctx, NGX_TWILIO_NOT_HTTPS,
                                      lcf->reject_status,
                                      "request did not arrive over HTTPS "
                                      "(twilio_guard_https on); its "
                                      "X-Forwarded-Proto is ignored because "
                                      "%V is not a twilio_guard_trusted_proxy",
                                      &fwd.peer);

    } else {
        rc = ngx_http_twilio_guard_reject(r, ctx, NGX_TWILIO_NOT_HTTPS,
                                      lcf->reject_status,
                                      "request did not arrive over HTTPS "
                                      "(twilio_guard_https on), and has no "
                                      "X-Forwarded-Proto");
    }

    return (rc == NGX_DECLINED) ? NGX_OK : rc;
}


/*
 * The last element of the last X-Forwarded-* header line: what the
 * trusted proxy itself wrote, since a proxy appends to what it received
 * (the realip module reads X-Forwarded-For the same way).  Returns
 * whether the header is present; an empty element is returned as such,
 * and is malformed.
 */

static ngx_uint_t
ngx_http_twilio_guard_forwarded(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
    u_char  *p, *last;

    if (ngx_http_twilio_guard_header(r, name, value) == 0) {
        return 0;
    }

    last = value->data + value->len;

    for (p = last; p > value->data && p[-1] != ','; p--) {
        /* void */
    }

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
        last--;
    }

    value->data = p;
    value->len = last - p;

    return 1;
}


/*
 * A host for the default URL (the Host header, or X-Forwarded-Host): a
 * host name (RFC 3986 reg-name: letters, digits,
 * "-._~!$&'()*+;=" and %XX) or an IP literal in brackets, then an
 * optional ":port".  has_port says whether the port is there.
 */

static ngx_int_t
ngx_http_twilio_guard_host_valid(ngx_str_t *host, ngx_uint_t *has_port)
{
    u_char  *p, *last, c;

    if (host->len == 0) {
        /* no Host header: its data may be NULL */
        return NGX_DECLINED;
    }

    p = host->data;
    last = p + host->len;

    if (*p == '[') {
        for (p++; p < last && *p != ']'; p++) {
            c = (u_char) (*p | 0x20);

            if (!((*p >= '0' && *p <= '9') || (c >= 'a' && c <= 'f')
                  || *p == ':' || *p == '.'))
            {
                return NGX_DECLINED;
            }
        }

        if (p == last || p == host->data + 1) {
            return NGX_DECLINED;
        }

        p++;

    } else {
        for ( /* void */ ; p < last && *p != ':'; p++) {
            c = (u_char) (*p | 0x20);

            if ((c >= 'a' && c <= 'z') || (*p >= '0' && *p <= '9')) {
                continue;
            }

            if (*p == '%') {
                if (last - p < 3
                    || ngx_hextoi(p + 1, 2) == NGX_ERROR)
                {
                    return NGX_DECLINED;
                }

                p += 2;
                continue;
            }

            if (*p == '\0' || ngx_strchr("-._~!$&'()*+;=", *p) == NULL) {
                return NGX_DECLINED;
            }
        }

        if (p == host->data) {
            return NGX_DECLINED;
        }
    }

    if (p == last) {
        *has_port = 0;
        return NGX_OK;
    }

    if (*p != ':' || !ngx_http_twilio_guard_port_valid(p + 1, last - p - 1)) {
        return NGX_DECLINED;
    }

    *has_port = 1;

    return NGX_OK;
}


/* a port: 1 to 5 digits, 1 to 65535 */

static ngx_uint_t
ngx_http_twilio_guard_port_valid(u_char *p, size_t len)
{
    ngx_int_t  n;

    if (len == 0 || len > 5) {
        return 0;
    }

    n = ngx_atoi(p, len);

    return n >= 1 && n <= 65535;
}


/*
 * The number of times the header is present; value is the last one.
 */

ngx_uint_t
ngx_http_twilio_guard_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
    ngx_uint_t        i, n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    n = 0;
    ngx_str_null(value);

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        /* the name as written, as most clients send it, then any case */

        if (h[i].key.len != name->len
            || (ngx_memcmp(h[i].key.data, name->data, name->len) != 0
                && ngx_strncasecmp(h[i].key.data, name->data, name->len)
                   != 0))
        {
            continue;
        }

        *value = h[i].value;
        n++;
    }

    return n;
}


/*
 * The URL Twilio requested: twilio_guard_url, or by default
 * $scheme://$http_host$request_uri, the raw bytes the client sent (the
 * request target's authority where there is no Host header, as HTTP/2
 * and HTTP/3 allow), checked by ngx_http_twilio_guard_host_valid()
 * before.  From a trusted proxy, a well-formed X-Forwarded-Proto stands
 * in for the scheme, and with twilio_guard_forwarded_host on, well-formed
 * X-Forwarded-Host and -Port for the host and port nginx sees; a
 * malformed one has been rejected before (in a dry run it is left out).
 */

static ngx_int_t
ngx_http_twilio_guard_url(ngx_http_request_t *r,
    ngx_http_twilio_guard_loc_conf_t *lcf, ngx_str_t *url)
{
    u_char                       *p;
    ngx_str_t                     scheme, host, port;
    ngx_uint_t                    has_port;
    ngx_http_twilio_guard_fwd_t   fwd;

    if (lcf->url) {
        return ngx_http_complex_value(r, lcf->url, url);
    }

#if (NGX_HTTP_SSL)
    if (r->connection->ssl) {
        ngx_str_set(&scheme, "https");

    } else
#endif
    {
        ngx_str_set(&scheme, "http");
    }

    if (r->headers_in.host) {
        host = r->headers_in.host->value;

    } else {
        (void) ngx_http_twilio_guard_authority(r, &host);
    }

    ngx_str_null(&port);

    (void) ngx_http_twilio_guard_forwarded_read(r, lcf, &fwd);

    if (fwd.scheme.len) {
        scheme = fwd.scheme;
    }

    if (fwd.host.len) {
        host = fwd.host;
        has_port = fwd.host_port;

    } else {
        /* nginx has validated the Host header: a port follows a ':' */
        p = (host.len && host.data[0] == '[')
            ? ngx_strlchr(host.data, host.data + host.len, ']') : host.data;

        has_port = (p && ngx_strlchr(p, host.data + host.len, ':') != NULL);
    }

    if (fwd.port.len && !has_port) {
        port = fwd.port;
    }

    url->len = scheme.len + sizeof("://") - 1 + host.len
               + (port.len ? port.len + 1 : 0) + r->unparsed_uri.len;
    url->data = ngx_pnalloc(r->pool, url->len);
    if (url->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(url->data, scheme.data, scheme.len);
    p = ngx_cpymem(p, "://", sizeof("://") - 1);
    p = ngx_cpymem(p, host.data, host.len);

    if (port.len) {
        *p++ = ':';
        p = ngx_cpymem(p, port.data, port.len);
    }

    ngx_memcpy(p, r->unparsed_uri.data, r->unparsed_uri.len);

    return NGX_OK;
}


/*
 * The size of the request body as nginx read it, before anything is
 * copied.  NGX_DECLINED: there is a body, but not here whole (discarded
 * before the guard ran, or a read that did not complete).
 */

ngx_int_t
ngx_http_twilio_guard_body_size(ngx_http_request_t *r, off_t *size)
{
    ngx_buf_t                *b;
    ngx_uint_t                announced;
    ngx_chain_t              *cl;
    ngx_http_request_body_t  *rb;

    *size = 0;

    announced = r->headers_in.content_length_n > 0 || r->headers_in.chunked;

    rb = r->request_body;

    if (rb == NULL) {
        return announced ? NGX_DECLINED : NGX_OK;
    }

    if (rb->rest > 0 || (rb->rest < 0 && announced)) {
        /* the read stopped before the end */
        return NGX_DECLINED;
    }

    for (cl = rb->bufs; cl; cl = cl->next) {
        b = cl->buf;
        *size += ngx_buf_in_memory(b) ? b->last - b->pos
                                      : b->file_last - b->file_pos;
    }

    if (r->headers_in.content_length_n >= 0
        && *size != r->headers_in.content_length_n)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * The request body as one piece, whether nginx kept it in memory, in a
 * temporary file, or both; size is what body_size() found, already
 * checked against twilio_guard_max_body.  The buffers themselves are left
 * untouched for the upstream.  NGX_DECLINED: the temporary file could not
 * be read back; NGX_ERROR: no memory.
 */

ngx_int_t
ngx_http_twilio_guard_body(ngx_http_request_t *r, size_t size,
    ngx_str_t *body)
{
    off_t         len;
    u_char       *p;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    ngx_str_null(body);

    if (size == 0) {
        return NGX_OK;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && ngx_buf_in_memory(cl->buf)) {
        body->data = cl->buf->pos;
        body->len = size;
        return NGX_OK;
    }

    body->data = ngx_pnalloc(r->pool, size);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    body->len = size;
    p = body->data;

    for ( /* void */ ; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        len = b->file_last - b->file_pos;

        if (len == 0) {
            continue;
        }

        n = ngx_read_file(b->file, p, (size_t) len, b->file_pos);

        if (n == NGX_ERROR) {
            return NGX_DECLINED;
        }

        if ((off_t) n != len) {
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                          "twilio_guard: read only %z of %O bytes of the "
                          "body from \"%V\"", n, len, &b->file->name);
            return NGX_DECLINED;
        }

        p += n;
    }

    return NGX_OK;
}


/*
 * The request body when nginx already has it whole in the buffer it read
 * the request headers into, and nobody has read or discarded it yet: the
 * first Content-Length bytes there, never more (a pipelined request may
 * follow).  Whoever reads the body later (a proxy) takes the same bytes
 * from there.  HTTP/1.x with a Content-Length only; HTTP/2 and HTTP/3
 * bodies come through their own code.  NGX_DECLINED: not so, read the
 * body with ngx_http_read_client_request_body().
 */

ngx_int_t
ngx_http_twilio_guard_preread(ngx_http_request_t *r, ngx_str_t *body)
{
    off_t       len;
    ngx_buf_t  *b;

    len = r->headers_in.content_length_n;
    b = r->header_in;

    if (r != r->main
        || r->request_body
        || r->discard_body
        || r->http_version >= NGX_HTTP_VERSION_20
        || r->headers_in.chunked
        || len <= 0
        || b == NULL
        || len > b->last - b->pos)
    {
        return NGX_DECLINED;
    }

    body->data = b->pos;
    body->len = (size_t) len;

    return NGX_OK;
}


static ngx_uint_t
ngx_http_twilio_guard_is_form(ngx_http_request_t *r)
{
    u_char     *p, *last;
    ngx_str_t  *ct;

    static const char  form[] = "application/x-www-form-urlencoded";

    if (r->headers_in.content_type == NULL) {
        return 0;
    }

    ct = &r->headers_in.content_type->value;

    /* media type parameters such as "; charset=UTF-8" do not count */

    last = ct->data + ct->len;

    p = ngx_strlchr(ct->data, last, ';');
    if (p == NULL) {
        p = last;
    }

    while (p > ct->data && (p[-1] == ' ' || p[-1] == '\t')) {
        p--;
    }

    return (size_t) (p - ct->data) == sizeof(form) - 1
           && ngx_strncasecmp(ct->data, (u_char *) form, sizeof(form) - 1)
              == 0;
}


/*
 * Logs a rejection at twilio_guard_log_level and records its reason.
 * Returns the status to answer with, or NGX_DECLINED in a dry run, where
 * nothing is rejected.  A request is counted once: in a dry run only the
 * first reason (the one $twilio_guard_result shows) is logged, others go
 * to the debug log.  The message is made safe for a log line whatever
 * the arguments: bytes outside printable ASCII are written as \xHH, and
 * it is cut at NGX_HTTP_TWILIO_GUARD_LOG_MSG bytes.  Values from the
 * request should still go through ngx_http_twilio_guard_log_value().
 */

ngx_int_t
ngx_http_twilio_guard_reject(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx, ngx_uint_t reason, ngx_int_t status,
    const char *fmt, ...)
{
    u_char                            *m, *last, *p, *end,
                                       msg[NGX_MAX_ERROR_STR],
                                       safe[NGX_HTTP_TWILIO_GUARD_LOG_MSG
                                            + sizeof("...(cut)")];
    va_list                            args;
    ngx_uint_t                         first;
    ngx_http_twilio_guard_loc_conf_t  *lcf;

    static u_char  hex[] = "0123456789ABCDEF";

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_twilio_guard_module);

    va_start(args, fmt);
    last = ngx_vslprintf(msg, msg + sizeof(msg), fmt, args);
    va_end(args);

    p = safe;
    end = safe + NGX_HTTP_TWILIO_GUARD_LOG_MSG;

    for (m = msg; m < last && end - p >= 4; m++) {

        if (*m >= 0x20 && *m < 0x7f) {
            *p++ = *m;
            continue;
        }

        *p++ = '\\';
        *p++ = 'x';
        *p++ = hex[*m >> 4];
        *p++ = hex[*m & 0xf];
    }

    if (m < last) {
        p = ngx_cpymem(p, "...(cut)", sizeof("...(cut)") - 1);
    }

    first = (ctx->reason == NGX_HTTP_TWILIO_GUARD_PENDING);

    if (first) {
        ctx->reason = reason;
        ngx_http_twilio_guard_metrics_count(lcf, reason);
    }

    if (lcf->dry_run) {
        if (first) {
            ngx_log_error(lcf->log_level, r->connection->log, 0,
                          "twilio_guard: dry run, would reject: %s, %*s",
                          ngx_twilio_reason_names[reason], p - safe, safe);

        } else {
            ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "twilio_guard: dry run, would also reject: %s, %*s",
                           ngx_twilio_reason_names[reason], p - safe, safe);
        }

        ctx->status = NGX_DECLINED;
        return NGX_DECLINED;
    }

    ngx_log_error(lcf->log_level, r->connection->log, 0,
                  "twilio_guard: rejected: %s, %*s",
                  ngx_twilio_reason_names[reason], p - safe, safe);

    ctx->status = status;

    return status;
}


/*
 * A URL or header value fit for a log line, between quotes: bytes
 * outside printable ASCII, '"' and '\' are written as \xHH, and after
 * NGX_HTTP_TWILIO_GUARD_LOG_VALUE bytes the rest is replaced by
 * "...(cut, N bytes)", N the value's whole length.
 */

ngx_str_t *
ngx_http_twilio_guard_log_value(ngx_http_request_t *r, ngx_str_t *value)
{
    u_char     *p, *end, *s, *last;
    ngx_str_t  *out;

    static ngx_str_t  failed = ngx_string("(not shown: out of memory)");
    static u_char     hex[] = "0123456789ABCDEF";

    out = ngx_palloc(r->pool, sizeof(ngx_str_t)
                              + NGX_HTTP_TWILIO_GUARD_LOG_VALUE
                              + sizeof("...(cut,  bytes)") + NGX_SIZE_T_LEN);
    if (out == NULL) {
        return &failed;
    }

    out->data = (u_char *) (out + 1);

    p = out->data;
    end = p + NGX_HTTP_TWILIO_GUARD_LOG_VALUE;

    /* an empty value may have no data at all */

    s = value->data;
    last = value->len ? s + value->len : s;

    for ( /* void */ ; s < last && end - p >= 4; s++) {

        if (*s >= 0x20 && *s < 0x7f && *s != '"' && *s != '\\') {
            *p++ = *s;
            continue;
        }

        *p++ = '\\';
        *p++ = 'x';
        *p++ = hex[*s >> 4];
        *p++ = hex[*s & 0xf];
    }

    if (s < last) {
        p = ngx_sprintf(p, "...(cut, %uz bytes)", value->len);
    }

    out->len = p - out->data;

    return out;
}


static void *
ngx_http_twilio_guard_alloc(void *pool, size_t size)
{
    return ngx_palloc(pool, size);
}


/*
 * $twilio_param_NAME: the core finds the parameter (first match, letter
 * case ignored, see ngx_twilio_param_lookup()); its decoded value is
 * escaped for export (ngx_twilio_export_escape()), so that it is safe in
 * a header line.
 */

static ngx_int_t
ngx_http_twilio_guard_param(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx, ngx_str_t *name, ngx_str_t *value)
{
    u_char                *decoded;
    size_t                 len;
    ngx_twilio_str_t       raw;
    ngx_twilio_request_t   req;

    ngx_memzero(&req, sizeof(ngx_twilio_request_t));

    req.url.data = ctx->url.data;
    req.url.len = ctx->url.len;
    req.body.data = ctx->body.data;
    req.body.len = ctx->body.len;
    req.form = ctx->form_params;

    if (!ngx_twilio_param_lookup(&req, name->data, name->len, &raw)) {
        return NGX_DECLINED;
    }

    decoded = ngx_pnalloc(r->pool, raw.len + 1);
    if (decoded == NULL) {
        return NGX_ERROR;
    }

    len = ngx_twilio_unescape(decoded, raw.data, raw.len);

    value->len = ngx_twilio_export_escape(NULL, decoded, len);
    value->data = ngx_pnalloc(r->pool, value->len + 1);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    value->len = ngx_twilio_export_escape(value->data, decoded, len);

    return NGX_OK;
}


static void
ngx_http_twilio_guard_set_value(ngx_http_variable_value_t *v, u_char *data,
    size_t len)
{
    v->data = data;
    v->len = len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
}


/* a reason word of ngx_twilio_reason_names[]: [a-z_] only */

static ngx_int_t
ngx_http_twilio_guard_result_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    const char                   *name;
    ngx_http_twilio_guard_ctx_t  *ctx;

    ctx = ngx_http_twilio_guard_get_ctx(r);

    if (ctx == NULL || ctx->reason >= NGX_HTTP_TWILIO_GUARD_PENDING) {
        v->not_found = 1;
        return NGX_OK;
    }

    name = ngx_twilio_reason_names[ctx->reason];

    ngx_http_twilio_guard_set_value(v, (u_char *) name, ngx_strlen(name));

    return NGX_OK;
}


/*
 * A token's 1-based position, or the id of a configured shared key,
 * which ngx_twilio_token_valid() allows as printable ASCII only.
 */

static ngx_int_t
ngx_http_twilio_guard_token_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_twilio_guard_ctx_t  *ctx;

    ctx = ngx_http_twilio_guard_get_ctx(r);

    if (ctx == NULL || ctx->reason != NGX_TWILIO_OK
        || ctx->key_label.len == 0)
    {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_twilio_guard_set_value(v, ctx->key_label.data,
                                    ctx->key_label.len);

    return NGX_OK;
}


/*
 * The account the core decided (ngx_twilio_validate()): the well-formed
 * AccountSid the request claims, whether or not it passed, or the account
 * of the token that validated a request claiming none.  "AC" and 32 hex
 * digits, or nothing: safe in a header line as it is.
 */

static ngx_int_t
ngx_http_twilio_guard_account_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_twilio_guard_ctx_t  *ctx;

    ctx = ngx_http_twilio_guard_get_ctx(r);

    if (ctx == NULL || ctx->account.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_twilio_guard_set_value(v, ctx->account.data, ctx->account.len);

    return NGX_OK;
}


/* $twilio_param_NAME: only for requests that passed */

static ngx_int_t
ngx_http_twilio_guard_param_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t *var = (ngx_str_t *) data;

    ngx_int_t                     rc;
    ngx_str_t                     name, value;
    ngx_http_twilio_guard_ctx_t  *ctx;

    ctx = ngx_http_twilio_guard_get_ctx(r);

    if (ctx == NULL || ctx->reason != NGX_TWILIO_OK) {
        v->not_found = 1;
        return NGX_OK;
    }

    name.data = var->data + sizeof("twilio_param_") - 1;
    name.len = var->len - (sizeof("twilio_param_") - 1);

    rc = ngx_http_twilio_guard_param(r, ctx, &name, &value);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_twilio_guard_set_value(v, value.data, value.len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_twilio_guard_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_twilio_guard_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_twilio_guard_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    /* registered first, the SMS guard runs after the signature check */
    if (ngx_http_twilio_guard_sms_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_twilio_guard_handler;

    /*
     * the rewrite phase, which subrequests run: registered after the
     * rewrite module's, ours runs before it, so before a "return"
     */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_twilio_guard_subrequest_handler;

    ngx_http_twilio_guard_next_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_twilio_guard_body_filter;

    /* once per configuration load: which build of the module runs */
    ngx_log_error(NGX_LOG_NOTICE, cf->log, 0,
                  "twilio_guard: ngx_twilio_guard/"
                  NGX_HTTP_TWILIO_GUARD_VERSION " loaded");

    if (ngx_http_twilio_guard_replay_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_twilio_guard_metrics_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}
