
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * The nginx glue of the Twilio webhook guard: directives, the access
 * phase handler that reads the request body and validates the request,
 * and the $twilio_guard_result variable.  The checks themselves live in
 * ngx_twilio_guard_core.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_twilio_guard_core.h"


#define NGX_HTTP_TWILIO_GUARD_PENDING  NGX_TWILIO_NREASONS


typedef struct {
    ngx_flag_t                  enable;
    ngx_array_t                *keys;          /* of ngx_twilio_key_t */
    ngx_http_complex_value_t   *url;
    size_t                      max_body;
    ngx_uint_t                  reject_status;

    /* where "twilio_guard on" was set, for errors found when merging */
    ngx_str_t                   enable_file;
    ngx_uint_t                  enable_line;
} ngx_http_twilio_guard_loc_conf_t;


typedef struct {
    ngx_int_t                   status;
    ngx_uint_t                  reason;
    ngx_uint_t                  key;
} ngx_http_twilio_guard_ctx_t;


typedef struct {
    ngx_conf_t                 *cf;
    ngx_array_t                *keys;
} ngx_http_twilio_guard_file_ctx_t;


static ngx_int_t ngx_http_twilio_guard_handler(ngx_http_request_t *r);
static void ngx_http_twilio_guard_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_twilio_guard_check(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx);
static ngx_int_t ngx_http_twilio_guard_signature(ngx_http_request_t *r,
    ngx_str_t *sig);
static ngx_int_t ngx_http_twilio_guard_url(ngx_http_request_t *r,
    ngx_http_twilio_guard_loc_conf_t *lcf, ngx_str_t *url);
static ngx_int_t ngx_http_twilio_guard_body(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_uint_t ngx_http_twilio_guard_is_form(ngx_http_request_t *r);
static ngx_int_t ngx_http_twilio_guard_reject(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx, ngx_uint_t reason, ngx_int_t status,
    const char *fmt, ...);
static void *ngx_http_twilio_guard_alloc(void *pool, size_t size);

static ngx_int_t ngx_http_twilio_guard_result_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

static char *ngx_http_twilio_guard(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_twilio_guard_auth_token(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_twilio_guard_auth_token_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_twilio_guard_reject_status(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_twilio_guard_add_key(ngx_conf_t *cf,
    ngx_array_t *keys, ngx_str_t *account_sid, ngx_str_t *token);
static int ngx_http_twilio_guard_file_token(void *data,
    ngx_twilio_str_t *account_sid, ngx_twilio_str_t *token, size_t line);
static void ngx_http_twilio_guard_mac_cleanup(void *data);

static ngx_int_t ngx_http_twilio_guard_add_variables(ngx_conf_t *cf);
static void *ngx_http_twilio_guard_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_twilio_guard_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_twilio_guard_init(ngx_conf_t *cf);


static ngx_command_t  ngx_http_twilio_guard_commands[] = {

    { ngx_string("twilio_guard"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_twilio_guard,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twilio_guard_loc_conf_t, enable),
      NULL },

    { ngx_string("twilio_guard_auth_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twilio_guard_auth_token,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twilio_guard_auth_token_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twilio_guard_auth_token_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twilio_guard_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twilio_guard_loc_conf_t, url),
      NULL },

    { ngx_string("twilio_guard_max_body"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twilio_guard_loc_conf_t, max_body),
      NULL },

    { ngx_string("twilio_guard_reject_status"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twilio_guard_reject_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twilio_guard_loc_conf_t, reject_status),
      NULL },

      ngx_null_command
};


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

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_twilio_guard_header =
    ngx_string("x-twilio-signature");


/*
 * The access phase handler.
 *
 * The first call checks what needs no body, then starts reading it and
 * returns NGX_DONE: the request now belongs to the body reader, which
 * calls ngx_http_twilio_guard_body_handler() once the body is complete
 * (possibly before ngx_http_read_client_request_body() even returns).
 * That handler stores the verdict in the module context and runs the
 * phases again, which brings the engine back here: the second call
 * answers with the stored verdict, and the access phase checker goes on
 * (NGX_OK), or finalizes the request with the rejection status.
 */

static ngx_int_t
ngx_http_twilio_guard_handler(ngx_http_request_t *r)
{
    ngx_int_t                          rc;
    ngx_str_t                          sig;
    ngx_http_twilio_guard_ctx_t       *ctx;
    ngx_http_twilio_guard_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_twilio_guard_module);

    if (!lcf->enable) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_twilio_guard_module);

    if (ctx) {
        return ctx->status;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_twilio_guard_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->status = NGX_DONE;
    ctx->reason = NGX_HTTP_TWILIO_GUARD_PENDING;

    ngx_http_set_ctx(r, ctx, ngx_http_twilio_guard_module);

    /* what can be decided before the body is read */

    rc = ngx_http_twilio_guard_signature(r, &sig);

    if (rc == NGX_DECLINED) {
        return ngx_http_twilio_guard_reject(r, ctx, NGX_TWILIO_NO_SIGNATURE,
                                            lcf->reject_status,
                                            "no X-Twilio-Signature header");
    }

    if (rc == NGX_BUSY) {
        return ngx_http_twilio_guard_reject(r, ctx,
                                         NGX_TWILIO_SIGNATURE_REPEATED,
                                         lcf->reject_status,
                                         "X-Twilio-Signature header sent "
                                         "more than once");
    }

    if (!ngx_twilio_signature_wellformed(sig.data, sig.len,
                                         NGX_TWILIO_SHA1_B64_LEN))
    {
        return ngx_http_twilio_guard_reject(r, ctx,
                                         NGX_TWILIO_SIGNATURE_MALFORMED,
                                         lcf->reject_status,
                                         "X-Twilio-Signature is not a base64 "
                                         "HMAC-SHA1 (%uz bytes)", sig.len);
    }

    if (r->headers_in.content_length_n > (off_t) lcf->max_body) {
        return ngx_http_twilio_guard_reject(r, ctx, NGX_TWILIO_BODY_TOO_LARGE,
                                         NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                         "body of %O bytes is larger than "
                                         "twilio_guard_max_body %uz",
                                         r->headers_in.content_length_n,
                                         lcf->max_body);
    }

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_twilio_guard_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        /* nginx has logged why; the request ends with rc */
        ctx->status = rc;
        ctx->reason = NGX_TWILIO_BODY_UNAVAILABLE;
        return rc;
    }

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


static void
ngx_http_twilio_guard_body_handler(ngx_http_request_t *r)
{
    ngx_http_twilio_guard_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_twilio_guard_module);

    ctx->status = ngx_http_twilio_guard_check(r, ctx);

    /* keep the body (and its temporary file) for internal redirects */
    r->preserve_body = 1;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


static ngx_int_t
ngx_http_twilio_guard_check(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx)
{
    ngx_int_t                          rc;
    ngx_str_t                          url, body, sig;
    ngx_twilio_result_t                res;
    ngx_twilio_request_t               req;
    ngx_http_twilio_guard_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_twilio_guard_module);

    rc = ngx_http_twilio_guard_body(r, &body);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_twilio_guard_reject(r, ctx, NGX_TWILIO_BODY_UNAVAILABLE,
                                         lcf->reject_status,
                                         "the request body is not available "
                                         "(discarded or not buffered)");
    }

    if (body.len > lcf->max_body) {
        return ngx_http_twilio_guard_reject(r, ctx, NGX_TWILIO_BODY_TOO_LARGE,
                                         NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                         "body of %uz bytes is larger than "
                                         "twilio_guard_max_body %uz",
                                         body.len, lcf->max_body);
    }

    if (ngx_http_twilio_guard_url(r, lcf, &url) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* checked before the body was read: present once and well-formed */
    (void) ngx_http_twilio_guard_signature(r, &sig);

    req.url.data = url.data;
    req.url.len = url.len;
    req.body.data = body.data;
    req.body.len = body.len;
    req.signature.data = sig.data;
    req.signature.len = sig.len;
    req.form = ngx_http_twilio_guard_is_form(r);

    ngx_twilio_validate(&req, lcf->keys->elts, lcf->keys->nelts,
                        ngx_http_twilio_guard_alloc, r->pool, &res);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twilio_guard: %s, url \"%V\", body %uz, %uz MACs",
                   ngx_twilio_reason_names[res.reason], &url, body.len,
                   res.tried);

    switch (res.reason) {

    case NGX_TWILIO_OK:
        ctx->reason = NGX_TWILIO_OK;
        ctx->key = res.key;
        return NGX_OK;

    case NGX_TWILIO_BAD_SIGNATURE:
        return ngx_http_twilio_guard_reject(r, ctx, res.reason,
                                         lcf->reject_status,
                                         "signature does not match url "
                                         "\"%V\" (with or without port) "
                                         "under any of %ui tokens",
                                         &url, lcf->keys->nelts);

    case NGX_TWILIO_BODY_HASH_MISMATCH:
        return ngx_http_twilio_guard_reject(r, ctx, res.reason,
                                         lcf->reject_status,
                                         "SHA-256 of the %uz-byte body does "
                                         "not match bodySHA256 in url \"%V\"",
                                         body.len, &url);

    case NGX_TWILIO_BODY_HASH_MALFORMED:
        return ngx_http_twilio_guard_reject(r, ctx, res.reason,
                                         lcf->reject_status,
                                         "bodySHA256 in url \"%V\" is not "
                                         "64 hex digits, or repeated", &url);

    case NGX_TWILIO_BODY_UNSIGNED:
        return ngx_http_twilio_guard_reject(r, ctx, res.reason,
                                         lcf->reject_status,
                                         "a %uz-byte body that is not a form "
                                         "needs bodySHA256 in url \"%V\"",
                                         body.len, &url);

    case NGX_TWILIO_UNKNOWN_ACCOUNT:
        return ngx_http_twilio_guard_reject(r, ctx, res.reason,
                                         lcf->reject_status,
                                         "no token for the request's "
                                         "AccountSid");

    case NGX_TWILIO_SIGNATURE_MALFORMED:
        return ngx_http_twilio_guard_reject(r, ctx, res.reason,
                                         lcf->reject_status,
                                         "X-Twilio-Signature is not a base64 "
                                         "HMAC-SHA1");

    default: /* NGX_TWILIO_ERROR */
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


/*
 * The X-Twilio-Signature header: NGX_OK, NGX_DECLINED if there is none,
 * NGX_BUSY if it is sent more than once.
 */

static ngx_int_t
ngx_http_twilio_guard_signature(ngx_http_request_t *r, ngx_str_t *sig)
{
    ngx_uint_t        i, n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    n = 0;
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

        if (h[i].key.len != ngx_http_twilio_guard_header.len
            || ngx_strncasecmp(h[i].key.data,
                               ngx_http_twilio_guard_header.data,
                               ngx_http_twilio_guard_header.len)
               != 0)
        {
            continue;
        }

        if (n++ == 0) {
            *sig = h[i].value;
        }
    }

    if (n == 0) {
        return NGX_DECLINED;
    }

    return n == 1 ? NGX_OK : NGX_BUSY;
}


/*
 * The URL Twilio requested: twilio_guard_url, or by default
 * $scheme://$http_host$request_uri, the raw bytes the client sent.
 */

static ngx_int_t
ngx_http_twilio_guard_url(ngx_http_request_t *r,
    ngx_http_twilio_guard_loc_conf_t *lcf, ngx_str_t *url)
{
    u_char     *p;
    ngx_str_t   scheme, host;

    if (lcf->url) {
        return ngx_http_complex_value(r, lcf->url, url);
    }

#if (NGX_HTTP_SSL)
    if (r->connection->ssl) {
        ngx_str_set(&scheme, "https://");

    } else
#endif
    {
        ngx_str_set(&scheme, "http://");
    }

    if (r->headers_in.host) {
        host = r->headers_in.host->value;

    } else {
        ngx_str_null(&host);
    }

    url->len = scheme.len + host.len + r->unparsed_uri.len;
    url->data = ngx_pnalloc(r->pool, url->len);
    if (url->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(url->data, scheme.data, scheme.len);
    p = ngx_cpymem(p, host.data, host.len);
    ngx_memcpy(p, r->unparsed_uri.data, r->unparsed_uri.len);

    return NGX_OK;
}


/*
 * The request body as one piece, whether nginx kept it in memory, in a
 * temporary file, or both.  The buffers themselves are left untouched
 * for the upstream.  NGX_DECLINED: the body exists but is not here.
 */

static ngx_int_t
ngx_http_twilio_guard_body(ngx_http_request_t *r, ngx_str_t *body)
{
    off_t                     size, len;
    u_char                   *p;
    ssize_t                   n;
    ngx_buf_t                *b;
    ngx_chain_t              *cl;
    ngx_http_request_body_t  *rb;

    ngx_str_null(body);

    rb = r->request_body;

    if (rb == NULL) {
        if (r->headers_in.content_length_n > 0 || r->headers_in.chunked) {
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    size = 0;

    for (cl = rb->bufs; cl; cl = cl->next) {
        b = cl->buf;
        size += ngx_buf_in_memory(b) ? b->last - b->pos
                                     : b->file_last - b->file_pos;
    }

    if (r->headers_in.content_length_n >= 0
        && size != r->headers_in.content_length_n)
    {
        return NGX_DECLINED;
    }

    if (size == 0) {
        return NGX_OK;
    }

    if (rb->bufs->next == NULL && ngx_buf_in_memory(rb->bufs->buf)) {
        body->data = rb->bufs->buf->pos;
        body->len = size;
        return NGX_OK;
    }

    body->data = ngx_pnalloc(r->pool, size);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    body->len = size;
    p = body->data;

    for (cl = rb->bufs; cl; cl = cl->next) {
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
            return NGX_ERROR;
        }

        if ((off_t) n != len) {
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                          "twilio_guard: read only %z of %O bytes of the "
                          "body from \"%V\"", n, len, &b->file->name);
            return NGX_ERROR;
        }

        p += n;
    }

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


static ngx_int_t
ngx_http_twilio_guard_reject(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx, ngx_uint_t reason, ngx_int_t status,
    const char *fmt, ...)
{
    u_char   *p, msg[NGX_MAX_ERROR_STR];
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(msg, msg + sizeof(msg), fmt, args);
    va_end(args);

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "twilio_guard: rejected: %s, %*s",
                  ngx_twilio_reason_names[reason], p - msg, msg);

    ctx->reason = reason;
    ctx->status = status;

    return status;
}


static void *
ngx_http_twilio_guard_alloc(void *pool, size_t size)
{
    return ngx_palloc(pool, size);
}


static ngx_int_t
ngx_http_twilio_guard_result_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    const char                   *name;
    ngx_http_twilio_guard_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_twilio_guard_module);

    if (ctx == NULL || ctx->reason >= NGX_HTTP_TWILIO_GUARD_PENDING) {
        v->not_found = 1;
        return NGX_OK;
    }

    name = ngx_twilio_reason_names[ctx->reason];

    v->data = (u_char *) name;
    v->len = ngx_strlen(name);
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static char *
ngx_http_twilio_guard(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_twilio_guard_loc_conf_t *lcf = conf;

    char  *rv;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);

    if (rv == NGX_CONF_OK) {
        lcf->enable_file = cf->conf_file->file.name;
        lcf->enable_line = cf->conf_file->line;
    }

    return rv;
}


static char *
ngx_http_twilio_guard_auth_token(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_twilio_guard_loc_conf_t *lcf = conf;

    ngx_str_t  *value;

    value = cf->args->elts;

    if (!ngx_twilio_token_valid(value[1].data, value[1].len)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid token in \"%V\": a token must be 1 to "
                           "256 printable ASCII characters", &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (lcf->keys == NULL) {
        lcf->keys = ngx_array_create(cf->pool, 2, sizeof(ngx_twilio_key_t));
        if (lcf->keys == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_http_twilio_guard_add_key(cf, lcf->keys, NULL, &value[1])
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_twilio_guard_auth_token_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_twilio_guard_loc_conf_t *lcf = conf;

    size_t                             line;
    u_char                            *buf;
    ssize_t                            n;
    ngx_fd_t                           fd;
    ngx_str_t                         *value, name;
    ngx_uint_t                         count;
    ngx_file_t                         file;
    const char                        *err;
    ngx_file_info_t                    fi;
    ngx_http_twilio_guard_file_ctx_t   fctx;

    value = cf->args->elts;
    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &name);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = name;
    file.log = cf->log;

    buf = NULL;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", &name);
        goto failed;
    }

    if (!ngx_is_file(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is not a regular file", &name);
        goto failed;
    }

    if (ngx_file_access(&fi) & (S_IROTH|S_IWOTH)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "token file \"%V\" is accessible by others "
                           "(mode %04o): make it readable only by its owner "
                           "and nginx's group, e.g. \"chmod 640\"",
                           &name, (unsigned) ngx_file_access(&fi));
        goto failed;
    }

    if (ngx_file_size(&fi) > 1024 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "token file \"%V\" is larger than 1M", &name);
        goto failed;
    }

    buf = ngx_alloc((size_t) ngx_file_size(&fi) + 1, cf->log);
    if (buf == NULL) {
        goto failed;
    }

    n = ngx_read_file(&file, buf, (size_t) ngx_file_size(&fi), 0);

    if (n == NGX_ERROR) {
        goto failed;
    }

    if (lcf->keys == NULL) {
        lcf->keys = ngx_array_create(cf->pool, 2, sizeof(ngx_twilio_key_t));
        if (lcf->keys == NULL) {
            goto failed;
        }
    }

    count = lcf->keys->nelts;

    fctx.cf = cf;
    fctx.keys = lcf->keys;

    if (ngx_twilio_tokens_parse(buf, n, ngx_http_twilio_guard_file_token,
                                &fctx, &line, &err)
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid line %uz in token file \"%V\": %s",
                           line, &name, err);
        goto failed;
    }

    if (lcf->keys->nelts == count) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "token file \"%V\" has no token", &name);
        goto failed;
    }

    ngx_explicit_memzero(buf, n);
    ngx_free(buf);
    ngx_close_file(fd);

    return NGX_CONF_OK;

failed:

    if (buf) {
        ngx_explicit_memzero(buf, ngx_file_size(&fi));
        ngx_free(buf);
    }

    ngx_close_file(fd);

    return NGX_CONF_ERROR;
}


static int
ngx_http_twilio_guard_file_token(void *data, ngx_twilio_str_t *account_sid,
    ngx_twilio_str_t *token, size_t line)
{
    ngx_http_twilio_guard_file_ctx_t *fctx = data;

    ngx_str_t  sid, tok;

    sid.data = account_sid->data;
    sid.len = account_sid->len;
    tok.data = token->data;
    tok.len = token->len;

    return ngx_http_twilio_guard_add_key(fctx->cf, fctx->keys, &sid, &tok)
           == NGX_OK ? 0 : -1;
}


static ngx_int_t
ngx_http_twilio_guard_add_key(ngx_conf_t *cf, ngx_array_t *keys,
    ngx_str_t *account_sid, ngx_str_t *token)
{
    ngx_twilio_key_t    *key;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    key = ngx_array_push(keys);
    if (key == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(key, sizeof(ngx_twilio_key_t));

    if (account_sid && account_sid->len) {
        key->account_sid.data = ngx_pstrdup(cf->pool, account_sid);
        if (key->account_sid.data == NULL) {
            return NGX_ERROR;
        }

        key->account_sid.len = account_sid->len;
    }

    key->mac = ngx_twilio_mac_create(NGX_TWILIO_HMAC_SHA1, token->data,
                                     token->len);
    if (key->mac == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "twilio_guard: cannot set up HMAC-SHA1");
        keys->nelts--;
        return NGX_ERROR;
    }

    cln->handler = ngx_http_twilio_guard_mac_cleanup;
    cln->data = key->mac;

    return NGX_OK;
}


static void
ngx_http_twilio_guard_mac_cleanup(void *data)
{
    ngx_twilio_mac_free(data);
}


static char *
ngx_http_twilio_guard_reject_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_twilio_guard_loc_conf_t *lcf = conf;

    ngx_int_t   status;
    ngx_str_t  *value;

    if (lcf->reject_status != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    status = ngx_atoi(value[1].data, value[1].len);

    if (status < 400 || status > 599) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid status \"%V\" in \"%V\": use a code "
                           "from 400 to 599, e.g. 403",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    lcf->reject_status = status;

    return NGX_CONF_OK;
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


static void *
ngx_http_twilio_guard_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_twilio_guard_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_twilio_guard_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->keys = NULL;
     *     conf->url = NULL;
     *     conf->enable_file = { 0, NULL };
     *     conf->enable_line = 0;
     */

    conf->enable = NGX_CONF_UNSET;
    conf->max_body = NGX_CONF_UNSET_SIZE;
    conf->reject_status = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_http_twilio_guard_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_twilio_guard_loc_conf_t  *prev = parent;
    ngx_http_twilio_guard_loc_conf_t  *conf = child;

    if (conf->enable == NGX_CONF_UNSET) {
        conf->enable_file = prev->enable_file;
        conf->enable_line = prev->enable_line;
    }

    ngx_conf_merge_value(conf->enable, prev->enable, 0);

    if (conf->keys == NULL) {
        conf->keys = prev->keys;
    }

    if (conf->url == NULL) {
        conf->url = prev->url;
    }

    ngx_conf_merge_size_value(conf->max_body, prev->max_body, 64 * 1024);
    ngx_conf_merge_uint_value(conf->reject_status, prev->reject_status,
                              NGX_HTTP_FORBIDDEN);

    if (conf->enable && conf->keys == NULL) {
        /* fail closed: a guard with no token would reject everything */
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"twilio_guard on\" without a token in %V:%ui: add "
                      "\"twilio_guard_auth_token\" or "
                      "\"twilio_guard_auth_token_file\" where it applies",
                      &conf->enable_file, conf->enable_line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_twilio_guard_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_twilio_guard_handler;

    return NGX_OK;
}
