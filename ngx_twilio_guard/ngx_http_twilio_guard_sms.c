
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * The SMS pumping guard: a location that makes the app send an SMS (a
 * sign-up, a one-time code, "text me a link") names the parameter that
 * carries the phone number; the guard finds it exactly once in the query,
 * a form or a JSON body, normalises it to E.164, applies allow and deny
 * rules by region, prefix or regular expression, and counts it against
 * limits per number, per range, per region, in all, or per any variable,
 * in a twilio_guard_zone (docs/sms-pumping.md).
 *
 * It is its own nginx module (ngx_http_twilio_guard_sms_module), with its
 * own access phase handler, independent of the signature check: it
 * guards an app's public endpoints, where nothing is signed.  Where both
 * guard a location, the signature is checked first.  The pure parts
 * (numbers, regions, form and JSON values) are ngx_twilio_guard_phone.c.
 *
 * Who owns the request when: the handler's first call decides at once
 * when no body is needed, or when the whole body came with the headers
 * (HTTP/1.x, a Content-Length: decided from those bytes, left unread for
 * the proxy, which reads the same ones), or starts reading the body and
 * returns NGX_DONE; the body handler decides, keeps the verdict in the
 * context and runs the phases again, which brings the engine back to the
 * handler, which answers with the verdict.  A failed read is answered by
 * nginx itself (the body handler never runs).  The context is kept in a
 * pool cleanup so that an internal redirect finds it: a request is
 * counted, and decided, once.
 */


#include "ngx_http_twilio_guard_module.h"
#include "ngx_http_twilio_guard_zone.h"
#include "ngx_http_twilio_guard_metrics.h"
#include "ngx_twilio_guard_phone.h"

#include <ngx_md5.h>


/* the largest body the guard reads a number from */
#define NGX_HTTP_TWILIO_GUARD_SMS_BODY_MAX   65536

#define NGX_HTTP_TWILIO_GUARD_SMS_WINDOWS    8

/* the longest key value kept as it is; a longer one is kept as its MD5 */
#define NGX_HTTP_TWILIO_GUARD_SMS_KEY_VALUE  256

/* counters of a window: a bucket index and two counts in 64 bits */
#define NGX_HTTP_TWILIO_GUARD_SMS_COUNT_MAX  0xfffff


/* a literal's length known when compiled */
#define ngx_http_twilio_guard_sms_type(p, len, lit)                          \
    ngx_http_twilio_guard_sms_type_is(p, len, (u_char *) lit, sizeof(lit) - 1)

/* a Content-Type value that is lit, as written, maybe with parameters */
#define ngx_http_twilio_guard_sms_type_at(t, lit)                            \
    ((t)->len >= sizeof(lit) - 1                                             \
     && ngx_memcmp((t)->data, lit, sizeof(lit) - 1) == 0                     \
     && ((t)->len == sizeof(lit) - 1                                         \
         || (t)->data[sizeof(lit) - 1] == ';'                                \
         || (t)->data[sizeof(lit) - 1] == ' '                                \
         || (t)->data[sizeof(lit) - 1] == '\t'))


/* limit keys */
#define NGX_HTTP_TWILIO_GUARD_SMS_NUMBER     'N'
#define NGX_HTTP_TWILIO_GUARD_SMS_RANGE      'R'
#define NGX_HTTP_TWILIO_GUARD_SMS_REGION     'G'
#define NGX_HTTP_TWILIO_GUARD_SMS_ALL        'A'
#define NGX_HTTP_TWILIO_GUARD_SMS_VARIABLE   'V'

/* rules */
#define NGX_HTTP_TWILIO_GUARD_SMS_RULE_ALL     0
#define NGX_HTTP_TWILIO_GUARD_SMS_RULE_REGION  1
#define NGX_HTTP_TWILIO_GUARD_SMS_RULE_PREFIX  2
#define NGX_HTTP_TWILIO_GUARD_SMS_RULE_REGEX   3


typedef struct {
    ngx_uint_t                          count;
    ngx_msec_t                          period;
    ngx_str_t                           text;       /* "3/10m", for logs */
} ngx_http_twilio_guard_sms_window_t;


typedef struct {
    ngx_shm_zone_t                     *zone;
    u_char                              key;        /* 'N', 'R', ... */
    ngx_uint_t                          range;      /* digits dropped */
    ngx_http_complex_value_t           *value;      /* key=$variable */
    ngx_str_t                           key_text;   /* "range:3", for logs */
    ngx_uint_t                          evict;      /* full=evict */
    ngx_uint_t                          nwindows;
    ngx_http_twilio_guard_sms_window_t
                               windows[NGX_HTTP_TWILIO_GUARD_SMS_WINDOWS];
} ngx_http_twilio_guard_sms_limit_t;


typedef struct {
    ngx_uint_t                          deny;
    ngx_uint_t                          type;
    ngx_str_t                           value;      /* region, "+44" */
    ngx_regex_t                        *regex;
} ngx_http_twilio_guard_sms_rule_t;


typedef struct {
    ngx_str_t                           name;       /* of the parameter */
    char                               *default_region;
    ngx_uint_t                          set;        /* the directive seen */
    ngx_array_t                        *rules;      /* of ..._sms_rule_t */
    ngx_array_t                        *limits;     /* of ..._sms_limit_t */
    ngx_flag_t                          dry_run;
    ngx_uint_t                          log_full;
    ngx_uint_t                          var_keys;   /* a key=$variable */
    ngx_http_twilio_guard_zone_t      **zones;      /* of the limits */
    ngx_uint_t                          nzones;     /* in lock order */
} ngx_http_twilio_guard_sms_conf_t;


/* a window of a limit, for this request: its entry's key and its count */
typedef struct {
    ngx_http_twilio_guard_zone_t       *zone;     /* NULL: not counted */
    ngx_http_twilio_guard_sms_limit_t  *limit;
    ngx_http_twilio_guard_entry_t      *entry;    /* the check's, locked */
    ngx_uint_t                          window;
    uint32_t                            hash;
    uint32_t                            bucket;   /* counted in */
    size_t                              len;
    ngx_uint_t                          created;  /* inserted by it */
    ngx_uint_t                          seen;     /* counted elsewhere */
    ngx_uint_t                          tries;    /* upstream tries then */
    u_char                              key[NGX_HTTP_TWILIO_GUARD_KEY_MAX];
} ngx_http_twilio_guard_sms_slot_t;

/* a window's entry: to count in here, or counted by another window */
#define NGX_HTTP_TWILIO_GUARD_SMS_COUNT    0
#define NGX_HTTP_TWILIO_GUARD_SMS_SAME     1   /* of this request */
#define NGX_HTTP_TWILIO_GUARD_SMS_BEFORE   2   /* before a redirect */
#define NGX_HTTP_TWILIO_GUARD_SMS_BACK     3   /* counted, taken back */


typedef struct {
    ngx_int_t                           status;
    ngx_uint_t                          reason;     /* NREASONS: none */
    u_char                              limit;      /* the key that refused */
    ngx_twilio_phone_t                  phone;
    ngx_http_twilio_guard_sms_conf_t   *conf;       /* that decided */
    ngx_http_twilio_guard_sms_slot_t   *counted;    /* in all locations */
    ngx_uint_t                          ncounted;
    ngx_uint_t                          type;       /* of the body */
    unsigned                            parsed:1;
    unsigned                            reading:1;
    unsigned                            again:1;    /* after a redirect */
} ngx_http_twilio_guard_sms_ctx_t;


static ngx_int_t ngx_http_twilio_guard_sms_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_twilio_guard_sms_subrequest_handler(
    ngx_http_request_t *r);
static ngx_uint_t ngx_http_twilio_guard_sms_check_again(
    ngx_http_twilio_guard_sms_ctx_t *ctx,
    ngx_http_twilio_guard_sms_conf_t *scf);
static ngx_uint_t ngx_http_twilio_guard_sms_unread(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_ctx_t *ctx,
    ngx_http_twilio_guard_sms_conf_t *scf);
static ngx_int_t ngx_http_twilio_guard_sms_read(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_ctx_t *ctx);
static void ngx_http_twilio_guard_sms_body_handler(ngx_http_request_t *r);
static ngx_http_twilio_guard_sms_ctx_t *ngx_http_twilio_guard_sms_get_ctx(
    ngx_http_request_t *r);
static void ngx_http_twilio_guard_sms_cleanup(void *data);
static ngx_uint_t ngx_http_twilio_guard_sms_body_type(ngx_http_request_t *r);
static ngx_uint_t ngx_http_twilio_guard_sms_type_is(u_char *p, size_t len,
    u_char *lit, size_t n);
static ngx_int_t ngx_http_twilio_guard_sms_decide(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_ctx_t *ctx);
static void ngx_http_twilio_guard_sms_metrics(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_ctx_t *ctx);
static ngx_int_t ngx_http_twilio_guard_sms_find(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_conf_t *scf,
    ngx_http_twilio_guard_sms_ctx_t *ctx, u_char *value, size_t *len);
static ngx_int_t ngx_http_twilio_guard_sms_body(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_conf_t *scf,
    ngx_http_twilio_guard_sms_ctx_t *ctx, ngx_str_t *body);
static ngx_int_t ngx_http_twilio_guard_sms_body_value(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_conf_t *scf,
    ngx_http_twilio_guard_sms_ctx_t *ctx, u_char *value, size_t *len,
    unsigned *count, int *brc);
static ngx_int_t ngx_http_twilio_guard_sms_rules(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_conf_t *scf,
    ngx_http_twilio_guard_sms_ctx_t *ctx);
static ngx_int_t ngx_http_twilio_guard_sms_limits(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_conf_t *scf,
    ngx_http_twilio_guard_sms_ctx_t *ctx);
static ngx_int_t ngx_http_twilio_guard_sms_key(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_limit_t *limit,
    ngx_http_twilio_guard_sms_ctx_t *ctx, u_char *key, size_t *len);
static void ngx_http_twilio_guard_sms_period(u_char *key, ngx_msec_t period);
static ngx_int_t ngx_http_twilio_guard_sms_keys(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_conf_t *scf,
    ngx_http_twilio_guard_sms_ctx_t *ctx,
    ngx_http_twilio_guard_sms_slot_t **slots, ngx_uint_t *n);
static ngx_uint_t ngx_http_twilio_guard_sms_seen(
    ngx_http_twilio_guard_sms_ctx_t *ctx,
    ngx_http_twilio_guard_sms_slot_t *s, ngx_uint_t k);
static void ngx_http_twilio_guard_sms_take_back(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_ctx_t *ctx);
static void ngx_http_twilio_guard_sms_zone_add(
    ngx_http_twilio_guard_zone_t **zones, ngx_uint_t *m,
    ngx_http_twilio_guard_zone_t *zone);
static ngx_http_twilio_guard_zone_t **ngx_http_twilio_guard_sms_zones(
    ngx_http_request_t *r, ngx_http_twilio_guard_sms_slot_t *s,
    ngx_uint_t n, ngx_uint_t *nzones);
static ngx_int_t ngx_http_twilio_guard_sms_check(
    ngx_http_twilio_guard_sms_slot_t *s, ngx_uint_t n, ngx_uint_t *k,
    ngx_msec_t *retry);
static ngx_int_t ngx_http_twilio_guard_sms_count(
    ngx_http_twilio_guard_sms_slot_t *s, ngx_uint_t n, ngx_uint_t *k);
static uint32_t ngx_http_twilio_guard_sms_window(uint64_t state,
    uint32_t bucket, uint32_t *prev, uint32_t *cur);
static void ngx_http_twilio_guard_sms_uncount(
    ngx_http_twilio_guard_sms_slot_t *s, ngx_uint_t n, ngx_uint_t tries);
static ngx_uint_t ngx_http_twilio_guard_sms_tries(ngx_http_request_t *r);
static void ngx_http_twilio_guard_sms_counted(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_ctx_t *ctx,
    ngx_http_twilio_guard_sms_slot_t *s, ngx_uint_t n);
static ngx_int_t ngx_http_twilio_guard_sms_refuse(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_ctx_t *ctx,
    ngx_http_twilio_guard_sms_slot_t *s, ngx_int_t rc, ngx_msec_t retry);
static ngx_int_t ngx_http_twilio_guard_sms_reject(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_ctx_t *ctx, ngx_uint_t reason,
    ngx_int_t status, const char *fmt, ...);
static u_char *ngx_http_twilio_guard_sms_shown(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_ctx_t *ctx, u_char *buf, size_t size);

static ngx_int_t ngx_http_twilio_guard_sms_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_uint_t ngx_http_twilio_guard_sms_var_keys(ngx_array_t *limits);
static ngx_int_t ngx_http_twilio_guard_sms_lock_order(ngx_conf_t *cf,
    ngx_http_twilio_guard_sms_conf_t *conf);
static void *ngx_http_twilio_guard_sms_create_conf(ngx_conf_t *cf);
static char *ngx_http_twilio_guard_sms_merge_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_twilio_guard_sms_number(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_twilio_guard_sms_rule(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_twilio_guard_sms_limit(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_twilio_guard_sms_add_variables(ngx_conf_t *cf);


static ngx_conf_enum_t  ngx_http_twilio_guard_sms_log[] = {
    { ngx_string("masked"), 0 },
    { ngx_string("full"), 1 },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_twilio_guard_sms_commands[] = {

    { ngx_string("twilio_guard_number"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_twilio_guard_sms_number,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twilio_guard_number_allow"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twilio_guard_sms_rule,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twilio_guard_number_deny"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twilio_guard_sms_rule,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twilio_guard_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_http_twilio_guard_sms_limit,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twilio_guard_number_dry_run"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twilio_guard_sms_conf_t, dry_run),
      NULL },

    { ngx_string("twilio_guard_number_log"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twilio_guard_sms_conf_t, log_full),
      &ngx_http_twilio_guard_sms_log },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_twilio_guard_sms_module_ctx = {
    ngx_http_twilio_guard_sms_add_variables,  /* preconfiguration */
    NULL,                                     /* postconfiguration */

    NULL,                                     /* create main configuration */
    NULL,                                     /* init main configuration */

    NULL,                                     /* create server configuration */
    NULL,                                     /* merge server configuration */

    ngx_http_twilio_guard_sms_create_conf,    /* create location conf */
    ngx_http_twilio_guard_sms_merge_conf      /* merge location conf */
};


ngx_module_t  ngx_http_twilio_guard_sms_module = {
    NGX_MODULE_V1,
    &ngx_http_twilio_guard_sms_module_ctx,    /* module context */
    ngx_http_twilio_guard_sms_commands,       /* module directives */
    NGX_HTTP_MODULE,                          /* module type */
    NULL,                                     /* init master */
    NULL,                                     /* init module */
    NULL,                                     /* init process */
    NULL,                                     /* init thread */
    NULL,                                     /* exit thread */
    NULL,                                     /* exit process */
    NULL,                                     /* exit master */
    NGX_MODULE_V1_PADDING
};


/* what the variables show */
#define NGX_HTTP_TWILIO_GUARD_SMS_VAR_NUMBER  0
#define NGX_HTTP_TWILIO_GUARD_SMS_VAR_CC      1
#define NGX_HTTP_TWILIO_GUARD_SMS_VAR_REGION  2
#define NGX_HTTP_TWILIO_GUARD_SMS_VAR_RESULT  3


static ngx_http_variable_t  ngx_http_twilio_guard_sms_vars[] = {

    { ngx_string("twilio_guard_number"), NULL,
      ngx_http_twilio_guard_sms_variable,
      NGX_HTTP_TWILIO_GUARD_SMS_VAR_NUMBER, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("twilio_guard_number_cc"), NULL,
      ngx_http_twilio_guard_sms_variable,
      NGX_HTTP_TWILIO_GUARD_SMS_VAR_CC, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("twilio_guard_number_region"), NULL,
      ngx_http_twilio_guard_sms_variable,
      NGX_HTTP_TWILIO_GUARD_SMS_VAR_REGION, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("twilio_guard_number_result"), NULL,
      ngx_http_twilio_guard_sms_variable,
      NGX_HTTP_TWILIO_GUARD_SMS_VAR_RESULT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


#define NGX_HTTP_TWILIO_GUARD_SMS_BODY_NONE   0
#define NGX_HTTP_TWILIO_GUARD_SMS_BODY_FORM   1
#define NGX_HTTP_TWILIO_GUARD_SMS_BODY_JSON   2
#define NGX_HTTP_TWILIO_GUARD_SMS_BODY_OTHER  3


static ngx_int_t
ngx_http_twilio_guard_sms_handler(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t                *cln;
    ngx_http_twilio_guard_sms_ctx_t   *ctx;
    ngx_http_twilio_guard_sms_conf_t  *scf;

    scf = ngx_http_get_module_loc_conf(r, ngx_http_twilio_guard_sms_module);

    if (scf->name.len == 0) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_twilio_guard_sms_get_ctx(r);

    if (ctx) {
        if (ctx->reading) {
            /* an error page after a failed read: nginx has answered */
            ctx->reading = 0;
            ctx->status = (r->err_status >= NGX_HTTP_BAD_REQUEST)
                          ? (ngx_int_t) r->err_status : NGX_HTTP_BAD_REQUEST;
        }

        /* one verdict per request, unless this location asks for more */

        if (!ngx_http_twilio_guard_sms_check_again(ctx, scf)) {
            return ctx->status;
        }

        ctx->conf = scf;

        if (ngx_http_twilio_guard_sms_unread(r, ctx, scf)) {
            /* a body left unread before the redirect: read it now */
            ctx->again = 1;
            return ngx_http_twilio_guard_sms_read(r, ctx);
        }

        ctx->status = ngx_http_twilio_guard_sms_decide(r, ctx);

        if (ctx->status >= NGX_HTTP_SPECIAL_RESPONSE) {
            /* refused after a redirect: what it counted before goes */
            ngx_http_twilio_guard_sms_take_back(r, ctx);
        }

        return ctx->status;
    }

    cln = ngx_pool_cleanup_add(r->pool,
                               sizeof(ngx_http_twilio_guard_sms_ctx_t));
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_twilio_guard_sms_cleanup;
    ctx = cln->data;
    ngx_memzero(ctx, sizeof(ngx_http_twilio_guard_sms_ctx_t));
    ctx->reason = NGX_TWILIO_NREASONS;
    ctx->status = NGX_DONE;
    ctx->conf = scf;
    ctx->type = ngx_http_twilio_guard_sms_body_type(r);

    ngx_http_set_ctx(r, ctx, ngx_http_twilio_guard_sms_module);

    if (ngx_http_twilio_guard_sms_unread(r, ctx, scf)) {
        return ngx_http_twilio_guard_sms_read(r, ctx);
    }

    ctx->status = ngx_http_twilio_guard_sms_decide(r, ctx);
    ngx_http_twilio_guard_sms_metrics(r, ctx);

    return ctx->status;
}


/*
 * One verdict per request.  After an internal redirect (try_files, a
 * named location, error_page, X-Accel-Redirect) into another location
 * with twilio_guard_number, the verdict stands unless that location's
 * number configuration differs (other parameter name or default country,
 * other rules, other limits: each level's rules and limits are one list,
 * inherited whole), or it enforces where a dry run let a refused request
 * through.  A rejection stands anywhere.  Limits this request was already
 * counted under are not counted again (see counted_before below).
 */

static ngx_uint_t
ngx_http_twilio_guard_sms_check_again(ngx_http_twilio_guard_sms_ctx_t *ctx,
    ngx_http_twilio_guard_sms_conf_t *scf)
{
    ngx_http_twilio_guard_sms_conf_t  *prev;

    prev = ctx->conf;

    if (prev == scf || prev == NULL
        || ctx->status >= NGX_HTTP_SPECIAL_RESPONSE)
    {
        return 0;
    }

    if (ctx->reason != NGX_TWILIO_OK && !scf->dry_run) {
        return 1;
    }

    return scf->rules != prev->rules
           || scf->limits != prev->limits
           || scf->name.len != prev->name.len
           || ngx_strncmp(scf->name.data, prev->name.data, scf->name.len) != 0
           || scf->default_region != prev->default_region;
}


/*
 * Subrequests skip the access phase: a mirror, SSI include or
 * auth_request into a location with twilio_guard_number would reach its
 * upstream neither checked nor counted.  In the rewrite phase (before the
 * location's "return" or "rewrite"), such a subrequest is served only if
 * its main request passed the number guard; otherwise 403, reason
 * subrequest_unchecked (a dry run only logs it).
 */

static ngx_int_t
ngx_http_twilio_guard_sms_subrequest_handler(ngx_http_request_t *r)
{
    ngx_http_twilio_guard_sms_ctx_t   *ctx;
    ngx_http_twilio_guard_sms_conf_t  *scf;

    if (r == r->main) {
        return NGX_DECLINED;
    }

    scf = ngx_http_get_module_loc_conf(r, ngx_http_twilio_guard_sms_module);

    if (scf->name.len == 0) {
        return NGX_DECLINED;
    }

    /* the main request's verdict, also after it was redirected */
    ctx = ngx_http_twilio_guard_sms_get_ctx(r->main);

    if (ctx && ctx->reason == NGX_TWILIO_OK
        && ctx->status < NGX_HTTP_SPECIAL_RESPONSE)
    {
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "twilio_guard: number: %s: %s, number -, subrequest into "
                  "a location with twilio_guard_number from a request the "
                  "number guard did not pass: name the number in the main "
                  "request's location",
                  scf->dry_run ? "dry run, would reject" : "rejected",
                  ngx_twilio_reason_names[NGX_TWILIO_SUBREQUEST_UNCHECKED]);

    return scf->dry_run ? NGX_DECLINED : NGX_HTTP_FORBIDDEN;
}


/*
 * Whether the body must be read before deciding: a form or JSON body
 * that nobody has read, unless it is all in the headers' buffer (see
 * ngx_http_twilio_guard_preread()) and within the guard's cap.  A
 * location with a key=$variable limit reads it all the same: the
 * variable may come from $request_body (through a map), which only a
 * read body has.
 */

static ngx_uint_t
ngx_http_twilio_guard_sms_unread(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_ctx_t *ctx,
    ngx_http_twilio_guard_sms_conf_t *scf)
{
    ngx_str_t  body;

    if (r->request_body
        || (r->headers_in.content_length_n <= 0 && !r->headers_in.chunked)
        || ctx->type == NGX_HTTP_TWILIO_GUARD_SMS_BODY_OTHER)
    {
        return 0;
    }

    return scf->var_keys
           || r->headers_in.content_length_n
              > NGX_HTTP_TWILIO_GUARD_SMS_BODY_MAX
           || ngx_http_twilio_guard_preread(r, &body) != NGX_OK;
}


/* starts reading the body: the body handler decides */

static ngx_int_t
ngx_http_twilio_guard_sms_read(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_ctx_t *ctx)
{
    ngx_int_t  rc;

    /* the reason if the read fails (nginx answers, no verdict) */
    ctx->reading = 1;
    ctx->reason = NGX_TWILIO_BODY_UNAVAILABLE;

    rc = ngx_http_read_client_request_body(r,
                                        ngx_http_twilio_guard_sms_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        ctx->reading = 0;
        ctx->status = rc;
        return rc;
    }

    /* the body handler runs the phases again, maybe already has */
    ngx_http_finalize_request(r, NGX_DONE);
    return NGX_DONE;
}


static void
ngx_http_twilio_guard_sms_body_handler(ngx_http_request_t *r)
{
    ngx_http_twilio_guard_sms_ctx_t  *ctx;

    ctx = ngx_http_twilio_guard_sms_get_ctx(r);

    ctx->reading = 0;
    ctx->status = ngx_http_twilio_guard_sms_decide(r, ctx);

    if (!ctx->again) {
        ngx_http_twilio_guard_sms_metrics(r, ctx);

    } else if (ctx->status >= NGX_HTTP_SPECIAL_RESPONSE) {
        /* refused after a redirect, as in the handler */
        ngx_http_twilio_guard_sms_take_back(r, ctx);
    }

    /* keep the body (and its temporary file) for internal redirects */
    r->preserve_body = 1;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


/* the context, also after an internal redirect cleared the module's ctx */

static ngx_http_twilio_guard_sms_ctx_t *
ngx_http_twilio_guard_sms_get_ctx(ngx_http_request_t *r)
{
    return ngx_http_twilio_guard_find_ctx(r,
                                          &ngx_http_twilio_guard_sms_module,
                                          ngx_http_twilio_guard_sms_cleanup);
}


static void
ngx_http_twilio_guard_sms_cleanup(void *data)
{
    /* nothing to free: the cleanup only marks where the context is */
}


/* a form, JSON (application/json, or any "+json" type), or another body */

static ngx_uint_t
ngx_http_twilio_guard_sms_body_type(ngx_http_request_t *r)
{
    u_char     *p, *end;
    ngx_str_t   type;

    if (r->headers_in.content_type == NULL) {
        return NGX_HTTP_TWILIO_GUARD_SMS_BODY_OTHER;
    }

    type = r->headers_in.content_type->value;

    /* the usual types, as most clients write them, with no scan */

    if (ngx_http_twilio_guard_sms_type_at(&type, "application/json")) {
        return NGX_HTTP_TWILIO_GUARD_SMS_BODY_JSON;
    }

    if (ngx_http_twilio_guard_sms_type_at(&type,
                                          "application/x-www-form-urlencoded"))
    {
        return NGX_HTTP_TWILIO_GUARD_SMS_BODY_FORM;
    }

    p = type.data;
    end = p + type.len;

    while (p < end && *p != ';' && *p != ' ' && *p != '\t') {
        p++;
    }

    type.len = p - type.data;

    if (ngx_http_twilio_guard_sms_type(type.data, type.len,
                                       "application/x-www-form-urlencoded"))
    {
        return NGX_HTTP_TWILIO_GUARD_SMS_BODY_FORM;
    }

    if (ngx_http_twilio_guard_sms_type(type.data, type.len,
                                       "application/json")
        || (type.len >= sizeof("application/+json") - 1
            && ngx_http_twilio_guard_sms_type(type.data, 12, "application/")
            && ngx_http_twilio_guard_sms_type(type.data + type.len - 5, 5,
                                              "+json")))
    {
        return NGX_HTTP_TWILIO_GUARD_SMS_BODY_JSON;
    }

    return NGX_HTTP_TWILIO_GUARD_SMS_BODY_OTHER;
}


/* whether len bytes at p are lit (of n bytes) in any letter case */

static ngx_uint_t
ngx_http_twilio_guard_sms_type_is(u_char *p, size_t len, u_char *lit,
    size_t n)
{
    if (len != n) {
        return 0;
    }

    /* lower case first, as most clients send it */

    return ngx_memcmp(p, lit, n) == 0 || ngx_strncasecmp(p, lit, n) == 0;
}


/*
 * The verdict: the number found once, valid, allowed, under every limit.
 * Returns NGX_OK, a rejection status, or NGX_DECLINED in a dry run.
 */

static ngx_int_t
ngx_http_twilio_guard_sms_decide(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_ctx_t *ctx)
{
    size_t                             len;
    u_char                             value[NGX_TWILIO_PHONE_INPUT_MAX];
    ngx_int_t                          rc;
    ngx_http_twilio_guard_sms_conf_t  *scf;

    scf = ngx_http_get_module_loc_conf(r, ngx_http_twilio_guard_sms_module);

    ctx->reason = NGX_TWILIO_NREASONS;
    ctx->limit = 0;
    len = sizeof(value);

    rc = ngx_http_twilio_guard_sms_find(r, scf, ctx, value, &len);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_twilio_phone_parse(value, len, scf->default_region, &ctx->phone)
        != 0)
    {
        return ngx_http_twilio_guard_sms_reject(r, ctx,
                                   NGX_TWILIO_NUMBER_INVALID,
                                   NGX_HTTP_BAD_REQUEST,
                                   "\"%V\" is not a phone number in "
                                   "service (E.164, %s)", &scf->name,
                                   ngx_twilio_phone_metadata);
    }

    ctx->parsed = 1;

    rc = ngx_http_twilio_guard_sms_rules(r, scf, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_twilio_guard_sms_limits(r, scf, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx->reason = NGX_TWILIO_OK;

    return NGX_OK;
}


/*
 * The verdict, once, for twilio_guard_metrics: in the record of the
 * location's label, and for "limited" the kind of key that refused
 * (never its value).  No verdict (an internal error): nothing counted.
 */

static void
ngx_http_twilio_guard_sms_metrics(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_ctx_t *ctx)
{
    ngx_uint_t                         limit;
    ngx_http_twilio_guard_sms_conf_t  *scf;
    ngx_http_twilio_guard_loc_conf_t  *lcf;

    if (ctx->reason >= NGX_TWILIO_NREASONS) {
        return;
    }

    scf = ngx_http_get_module_loc_conf(r, ngx_http_twilio_guard_sms_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_twilio_guard_module);

    switch (ctx->limit) {
    case NGX_HTTP_TWILIO_GUARD_SMS_NUMBER:
        limit = NGX_HTTP_TWILIO_GUARD_LIMIT_NUMBER;
        break;
    case NGX_HTTP_TWILIO_GUARD_SMS_RANGE:
        limit = NGX_HTTP_TWILIO_GUARD_LIMIT_RANGE;
        break;
    case NGX_HTTP_TWILIO_GUARD_SMS_REGION:
        limit = NGX_HTTP_TWILIO_GUARD_LIMIT_REGION;
        break;
    case NGX_HTTP_TWILIO_GUARD_SMS_ALL:
        limit = NGX_HTTP_TWILIO_GUARD_LIMIT_ALL;
        break;
    case NGX_HTTP_TWILIO_GUARD_SMS_VARIABLE:
        limit = NGX_HTTP_TWILIO_GUARD_LIMIT_VAR;
        break;
    default:
        limit = NGX_HTTP_TWILIO_GUARD_LIMIT_KINDS;
    }

    ngx_http_twilio_guard_metrics_number(lcf, ctx->reason, scf->dry_run,
                                         limit);
}


/*
 * The parameter's value, present exactly once in the query and the body
 * together.  NGX_OK, or the rejection (or NGX_DECLINED in a dry run).
 */

static ngx_int_t
ngx_http_twilio_guard_sms_find(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_conf_t *scf,
    ngx_http_twilio_guard_sms_ctx_t *ctx, u_char *value, size_t *len)
{
    size_t      qlen, blen, cap;
    u_char      bvalue[NGX_TWILIO_PHONE_INPUT_MAX];
    ngx_int_t   rc;
    ngx_str_t   name, type;
    ngx_uint_t  ntypes;
    unsigned    count;
    int         qrc, brc;

    cap = *len;
    count = 0;

    qlen = cap;
    qrc = NGX_TWILIO_PARAM_MISSING;

    if (r->args.len) {
        qrc = ngx_twilio_form_value(r->args.data, r->args.len,
                                    (char *) scf->name.data, scf->name.len,
                                    value, &qlen, &count);
    }

    /*
     * two Content-Type headers: the guard reads the body as the first
     * says, an application may read it as the last says
     */

    ngx_str_set(&name, "Content-Type");
    ntypes = ngx_http_twilio_guard_header(r, &name, &type);

    if (ntypes > 1) {
        return ngx_http_twilio_guard_sms_reject(r, ctx,
                                   NGX_TWILIO_NUMBER_AMBIGUOUS,
                                   NGX_HTTP_BAD_REQUEST,
                                   "Content-Type is there %ui times: the "
                                   "body could be read as either",
                                   ntypes);
    }

    blen = sizeof(bvalue);

    rc = ngx_http_twilio_guard_sms_body_value(r, scf, ctx, bvalue, &blen,
                                              &count, &brc);
    if (rc != NGX_OK) {
        return rc;
    }

    if (count == 0) {
        return ngx_http_twilio_guard_sms_reject(r, ctx,
                                   NGX_TWILIO_NUMBER_MISSING,
                                   NGX_HTTP_BAD_REQUEST,
                                   "no \"%V\" in the query or the body",
                                   &scf->name);
    }

    if (count > 1) {
        return ngx_http_twilio_guard_sms_reject(r, ctx,
                                   NGX_TWILIO_NUMBER_AMBIGUOUS,
                                   NGX_HTTP_BAD_REQUEST,
                                   "\"%V\" is there %ud times (query and "
                                   "body together)", &scf->name, count);
    }

    if (qrc == NGX_TWILIO_PARAM_MALFORMED
        || brc == NGX_TWILIO_PARAM_MALFORMED)
    {
        return ngx_http_twilio_guard_sms_reject(r, ctx,
                                   NGX_TWILIO_NUMBER_INVALID,
                                   NGX_HTTP_BAD_REQUEST,
                                   "\"%V\" is longer than %uz bytes or not "
                                   "a string", &scf->name, cap);
    }

    if (brc == NGX_TWILIO_PARAM_FOUND) {
        ngx_memcpy(value, bvalue, blen);
        qlen = blen;
    }

    *len = qlen;

    return NGX_OK;
}


/*
 * The parameter in the body, a form or JSON: *brc as the pure readers say
 * (NGX_TWILIO_PARAM_MISSING with no body), *count raised by the times it
 * is there.  NGX_OK, or the rejection (or NGX_DECLINED in a dry run).
 */

static ngx_int_t
ngx_http_twilio_guard_sms_body_value(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_conf_t *scf,
    ngx_http_twilio_guard_sms_ctx_t *ctx, u_char *value, size_t *len,
    unsigned *count, int *brc)
{
    ngx_int_t  rc;
    ngx_str_t  body;

    *brc = NGX_TWILIO_PARAM_MISSING;

    rc = ngx_http_twilio_guard_sms_body(r, scf, ctx, &body);

    if (rc == NGX_DONE) {
        /* no body */
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (ctx->type == NGX_HTTP_TWILIO_GUARD_SMS_BODY_FORM) {

        /*
         * a JSON body sent as a form: a framework that parses JSON
         * whatever the type says reads other members than the "&"
         * pieces the guard reads
         */

        if (ngx_twilio_json_like(body.data, body.len)) {
            return ngx_http_twilio_guard_sms_reject(r, ctx,
                                   NGX_TWILIO_NUMBER_AMBIGUOUS,
                                   NGX_HTTP_BAD_REQUEST,
                                   "a form body that starts as JSON "
                                   "could be read as either");
        }

        *brc = ngx_twilio_form_value(body.data, body.len,
                                     (char *) scf->name.data, scf->name.len,
                                     value, len, count);
        return NGX_OK;
    }

    *brc = ngx_twilio_json_value(body.data, body.len,
                                 (char *) scf->name.data, scf->name.len,
                                 value, len, count);

    if (*brc == NGX_TWILIO_PARAM_MALFORMED && *count == 0) {
        return ngx_http_twilio_guard_sms_reject(r, ctx,
                                   NGX_TWILIO_NUMBER_INVALID,
                                   NGX_HTTP_BAD_REQUEST,
                                   "the JSON body is not one valid "
                                   "object (RFC 8259), or \"%V\" in it "
                                   "is not a string", &scf->name);
    }

    return NGX_OK;
}


/*
 * The body to search, as one piece: the body read (r->request_body), or
 * the bytes that came with the headers when nobody has read it (see
 * ngx_http_twilio_guard_sms_unread()), the same checks for both.
 * NGX_DONE: no body; NGX_OK; or the rejection (NGX_DECLINED in a dry
 * run).
 */

static ngx_int_t
ngx_http_twilio_guard_sms_body(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_conf_t *scf,
    ngx_http_twilio_guard_sms_ctx_t *ctx, ngx_str_t *body)
{
    off_t      size;
    ngx_int_t  rc;

    if (ctx->type == NGX_HTTP_TWILIO_GUARD_SMS_BODY_OTHER
        || (r->request_body == NULL
            && ngx_http_twilio_guard_preread(r, body) != NGX_OK))
    {
        if (r->headers_in.content_length_n <= 0 && !r->headers_in.chunked) {
            return NGX_DONE;
        }

        /* a body the guard does not read could carry the number too */
        return ngx_http_twilio_guard_sms_reject(r, ctx,
                                   NGX_TWILIO_NUMBER_AMBIGUOUS,
                                   NGX_HTTP_BAD_REQUEST,
                                   "a body that is neither a form nor JSON "
                                   "is not searched for \"%V\"",
                                   &scf->name);
    }

    if (r->request_body == NULL) {
        size = body->len;

    } else if (ngx_http_twilio_guard_body_size(r, &size) != NGX_OK) {
        return ngx_http_twilio_guard_sms_reject(r, ctx,
                                   NGX_TWILIO_BODY_UNAVAILABLE,
                                   NGX_HTTP_BAD_REQUEST,
                                   "the request body was not read whole");
    }

    if (size > NGX_HTTP_TWILIO_GUARD_SMS_BODY_MAX) {
        return ngx_http_twilio_guard_sms_reject(r, ctx,
                                   NGX_TWILIO_BODY_TOO_LARGE,
                                   NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                   "a body of %O bytes, over %d, is not "
                                   "searched for \"%V\"", size,
                                   NGX_HTTP_TWILIO_GUARD_SMS_BODY_MAX,
                                   &scf->name);
    }

    if (r->request_body == NULL) {
        return NGX_OK;
    }

    rc = ngx_http_twilio_guard_body(r, (size_t) size, body);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        return ngx_http_twilio_guard_sms_reject(r, ctx,
                                   NGX_TWILIO_BODY_UNAVAILABLE,
                                   NGX_HTTP_INTERNAL_SERVER_ERROR,
                                   "the request body could not be read "
                                   "back");
    }

    return NGX_OK;
}


/* allow and deny rules, in order, the first that matches decides */

static ngx_int_t
ngx_http_twilio_guard_sms_rules(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_conf_t *scf,
    ngx_http_twilio_guard_sms_ctx_t *ctx)
{
    ngx_str_t                          number;
    ngx_uint_t                         i, match;
    ngx_http_twilio_guard_sms_rule_t  *rule;

    if (scf->rules == NULL) {
        return NGX_OK;
    }

    number.data = (u_char *) ctx->phone.e164;
    number.len = ctx->phone.len;

    rule = scf->rules->elts;

    for (i = 0; i < scf->rules->nelts; i++) {

        switch (rule[i].type) {

        case NGX_HTTP_TWILIO_GUARD_SMS_RULE_ALL:
            match = 1;
            break;

        case NGX_HTTP_TWILIO_GUARD_SMS_RULE_REGION:
            match = (ngx_strcmp(rule[i].value.data, ctx->phone.region) == 0);
            break;

        case NGX_HTTP_TWILIO_GUARD_SMS_RULE_PREFIX:
            match = (number.len >= rule[i].value.len
                     && ngx_strncmp(number.data, rule[i].value.data,
                                    rule[i].value.len)
                        == 0);
            break;

        default: /* NGX_HTTP_TWILIO_GUARD_SMS_RULE_REGEX */
            match = (ngx_regex_exec(rule[i].regex, &number, NULL, 0) >= 0);
            break;
        }

        if (!match) {
            continue;
        }

        if (!rule[i].deny) {
            return NGX_OK;
        }

        return ngx_http_twilio_guard_sms_reject(r, ctx,
                                   NGX_TWILIO_NUMBER_DENIED,
                                   NGX_HTTP_FORBIDDEN,
                                   "region %s, denied by rule %ui (\"%V\")",
                                   ctx->phone.region, i + 1,
                                   &rule[i].value);
    }

    return NGX_OK;
}


/*
 * Every limit, in order.  The windows' keys are made first, under no lock
 * (a key=$variable may run any code).  Then the zones of all the limits
 * are locked together, always in the same order (see zone_add()) so that two
 * workers never wait on each other; every window is checked, and only if
 * none refuses is the request counted in every one.  So a request is
 * counted in all windows or in none, exactly under many workers, and a
 * refused request leaves nothing behind: it neither fills a full=reject
 * zone nor pushes the counters of others out of a full=evict one.
 */

static ngx_int_t
ngx_http_twilio_guard_sms_limits(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_conf_t *scf,
    ngx_http_twilio_guard_sms_ctx_t *ctx)
{
    ngx_int_t                           rc;
    ngx_uint_t                          i, k, n, nzones;
    ngx_msec_t                          retry;
    ngx_http_twilio_guard_zone_t      **zones;
    ngx_http_twilio_guard_sms_slot_t   *slots;

    if (scf->limits == NULL) {
        return NGX_OK;
    }

    rc = ngx_http_twilio_guard_sms_keys(r, scf, ctx, &slots, &n);
    if (rc != NGX_OK) {
        return rc;
    }

    /* the location's zones, in lock order, made by the configuration */
    zones = scf->zones;
    nzones = scf->nzones;

    for (i = 0; i < nzones; i++) {
        ngx_http_twilio_guard_zone_lock(zones[i]);
    }

    k = 0;
    retry = 0;

    rc = ngx_http_twilio_guard_sms_check(slots, n, &k, &retry);

    if (rc == NGX_OK) {
        rc = ngx_http_twilio_guard_sms_count(slots, n, &k);
    }

    for (i = 0; i < nzones; i++) {
        ngx_http_twilio_guard_zone_unlock(zones[i], r->connection->log);
    }

    if (rc == NGX_OK) {
        ngx_http_twilio_guard_sms_counted(r, ctx, slots, n);
        return NGX_OK;
    }

    return ngx_http_twilio_guard_sms_refuse(r, ctx, &slots[k], rc, retry);
}


/*
 * The key of every window of every limit, in order, into slots allocated
 * here.  A limit whose key is empty (an empty variable) is not counted:
 * its slots have no zone.
 */

static ngx_int_t
ngx_http_twilio_guard_sms_keys(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_conf_t *scf,
    ngx_http_twilio_guard_sms_ctx_t *ctx,
    ngx_http_twilio_guard_sms_slot_t **slots, ngx_uint_t *n)
{
    ngx_int_t                           rc;
    ngx_uint_t                          i, w, k, max, tries;
    ngx_http_twilio_guard_sms_slot_t   *s;
    ngx_http_twilio_guard_sms_limit_t  *limit;

    limit = scf->limits->elts;
    tries = ngx_http_twilio_guard_sms_tries(r);
    max = 0;

    for (i = 0; i < scf->limits->nelts; i++) {
        max += limit[i].nwindows;
    }

    s = ngx_palloc(r->pool, max * sizeof(ngx_http_twilio_guard_sms_slot_t));
    if (s == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    k = 0;

    for (i = 0; i < scf->limits->nelts; i++) {

        for (w = 0; w < limit[i].nwindows; w++, k++) {
            s[k].zone = limit[i].zone->data;
            s[k].limit = &limit[i];
            s[k].entry = NULL;
            s[k].window = w;
            s[k].created = 0;
            s[k].seen = NGX_HTTP_TWILIO_GUARD_SMS_COUNT;
            s[k].tries = tries;

            if (w > 0) {
                /* the line's value once: its windows differ by period */
                s[k].zone = s[k - w].zone;
                s[k].len = s[k - w].len;
                ngx_memcpy(s[k].key, s[k - w].key, s[k].len);
                rc = NGX_OK;

            } else {
                rc = ngx_http_twilio_guard_sms_key(r, &limit[i], ctx,
                                                   s[k].key, &s[k].len);
            }

            if (rc == NGX_DECLINED || s[k].zone == NULL) {
                /* a key of zero length (an empty variable): not counted */
                s[k].zone = NULL;
                continue;
            }

            if (rc != NGX_OK) {
                ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                              "twilio_guard: number: internal_error: the "
                              "key %V could not be evaluated",
                              &limit[i].key_text);
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ngx_http_twilio_guard_sms_period(s[k].key,
                                             limit[i].windows[w].period);

            s[k].hash = ngx_http_twilio_guard_zone_hash(s[k].zone, s[k].key,
                                                        s[k].len);
            s[k].seen = ngx_http_twilio_guard_sms_seen(ctx, s, k);
        }
    }

    *slots = s;
    *n = k;

    return NGX_OK;
}


/*
 * Whether window k's entry (its zone, key kind, value and period) is
 * counted by another window: an earlier one of this request (the same
 * period twice in a line, or in two lines), or one of a location before
 * an internal redirect.  Such a window is checked, against its own count,
 * but the request is counted in its entry once.
 */

static ngx_uint_t
ngx_http_twilio_guard_sms_seen(ngx_http_twilio_guard_sms_ctx_t *ctx,
    ngx_http_twilio_guard_sms_slot_t *s, ngx_uint_t k)
{
    ngx_uint_t                         i, n;
    ngx_http_twilio_guard_sms_slot_t  *c;

    c = s;
    n = k;

    for ( ;; ) {
        for (i = 0; i < n; i++) {
            if (c[i].zone == s[k].zone
                && c[i].seen == NGX_HTTP_TWILIO_GUARD_SMS_COUNT
                && c[i].hash == s[k].hash
                && c[i].len == s[k].len
                && ngx_memcmp(c[i].key, s[k].key, s[k].len) == 0)
            {
                return (c == s) ? NGX_HTTP_TWILIO_GUARD_SMS_SAME
                                : NGX_HTTP_TWILIO_GUARD_SMS_BEFORE;
            }
        }

        if (c != s || ctx->ncounted == 0) {
            return NGX_HTTP_TWILIO_GUARD_SMS_COUNT;
        }

        c = ctx->counted;
        n = ctx->ncounted;
    }
}


/*
 * The zones of the slots, each once, in the order they are locked in: by
 * name (see ngx_http_twilio_guard_sms_zone_add()).
 */

static ngx_http_twilio_guard_zone_t **
ngx_http_twilio_guard_sms_zones(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_slot_t *s, ngx_uint_t n, ngx_uint_t *nzones)
{
    ngx_uint_t                      k, m;
    ngx_http_twilio_guard_zone_t  **zones;

    zones = ngx_palloc(r->pool, n * sizeof(ngx_http_twilio_guard_zone_t *));
    if (zones == NULL) {
        return NULL;
    }

    m = 0;

    for (k = 0; k < n; k++) {
        if (s[k].zone) {
            ngx_http_twilio_guard_sms_zone_add(zones, &m, s[k].zone);
        }
    }

    *nzones = m;

    return zones;
}


/*
 * Adds a zone to a list of *m sorted by name, if not there yet.  Zones
 * are locked in the order of their names wherever several are locked
 * together, by every worker, of this cycle and of the one before a
 * reload: a zone a reload keeps keeps its name (and its mutex), and no
 * two zones have one name, so no two workers can wait for each other.
 */

static void
ngx_http_twilio_guard_sms_zone_add(ngx_http_twilio_guard_zone_t **zones,
    ngx_uint_t *m, ngx_http_twilio_guard_zone_t *zone)
{
    ngx_int_t   rc;
    ngx_str_t  *a, *b;
    ngx_uint_t  i;

    b = &zone->shm_zone->shm.name;

    for (i = 0; i < *m; i++) {
        a = &zones[i]->shm_zone->shm.name;
        rc = ngx_memn2cmp(a->data, b->data, a->len, b->len);

        if (rc == 0) {
            return;
        }

        if (rc > 0) {
            break;
        }
    }

    ngx_memmove(&zones[i + 1], &zones[i],
                (*m - i) * sizeof(ngx_http_twilio_guard_zone_t *));
    zones[i] = zone;
    (*m)++;
}


/*
 * Checks every window, the zones locked.  A window's state: the index of
 * the current bucket (24 bits; a bucket is one period long), the count of
 * the previous bucket and of the current one (20 bits each).  A request
 * is refused if the two make the window's count or more: any PERIOD-long
 * span ending now lies within the previous and the current bucket, so at
 * most COUNT requests pass in it.
 *
 * NGX_OK, or NGX_BUSY with *k the window that refuses longest and *retry
 * in how many ms a request would pass all of them.  The entries found are
 * kept in the slots for the count.  A refusing entry is moved to the front
 * of its zone's queue, so under full=evict a counter that keeps refusing
 * is the last to go, not the first.
 */

static ngx_int_t
ngx_http_twilio_guard_sms_check(ngx_http_twilio_guard_sms_slot_t *s,
    ngx_uint_t n, ngx_uint_t *k, ngx_msec_t *retry)
{
    uint32_t                             bucket, prev, cur;
    ngx_int_t                            rc;
    ngx_uint_t                           i;
    ngx_msec_t                           now, period, wait;
    ngx_http_twilio_guard_entry_t       *e;
    ngx_http_twilio_guard_sms_window_t  *win;

    now = ngx_current_msec;
    rc = NGX_OK;

    for (i = 0; i < n; i++) {

        if (s[i].zone == NULL) {
            continue;
        }

        win = &s[i].limit->windows[s[i].window];
        period = win->period;
        bucket = (uint32_t) ((now / period) & 0xffffff);

        e = ngx_http_twilio_guard_zone_lookup(s[i].zone,
                                              NGX_HTTP_TWILIO_GUARD_KIND_LIMIT,
                                              s[i].key, s[i].len, s[i].hash);
        s[i].entry = e;

        prev = 0;
        cur = 0;

        if (e) {
            (void) ngx_http_twilio_guard_sms_window(e->state, bucket, &prev,
                                                    &cur);
        }

        /* counted before a redirect: the count holds the request */

        if (s[i].seen == NGX_HTTP_TWILIO_GUARD_SMS_BEFORE
            ? prev + cur <= win->count : prev + cur < win->count)
        {
            continue;
        }

        if (e) {
            ngx_http_twilio_guard_zone_touch(s[i].zone, e);
        }

        /* the window that refuses longest: Retry-After holds for all */

        wait = (cur >= win->count)
               ? ((ngx_msec_t) (now / period) + 2) * period - now
               : ((ngx_msec_t) (now / period) + 1) * period - now;

        if (rc == NGX_OK || wait > *retry) {
            *k = i;
            *retry = wait;
        }

        rc = NGX_BUSY;
    }

    return rc;
}


/*
 * Counts the request in every window, the zones locked, in the entries
 * the check found.  An insertion may free entries to make room (expired
 * ones, or the oldest under full=evict): after one, entries are looked up
 * again.  NGX_OK, or NGX_ERROR with *k the window whose zone is full,
 * and what was counted taken back.
 */

static ngx_int_t
ngx_http_twilio_guard_sms_count(ngx_http_twilio_guard_sms_slot_t *s,
    ngx_uint_t n, ngx_uint_t *k)
{
    uint32_t                        bucket, prev, cur;
    ngx_uint_t                      i, stale;
    ngx_msec_t                      now, period;
    ngx_http_twilio_guard_entry_t  *e;

    now = ngx_current_msec;
    stale = 0;

    for (i = 0; i < n; i++) {

        if (s[i].zone == NULL || s[i].seen != NGX_HTTP_TWILIO_GUARD_SMS_COUNT)
        {
            continue;
        }

        period = s[i].limit->windows[s[i].window].period;
        bucket = (uint32_t) ((now / period) & 0xffffff);

        e = stale ? ngx_http_twilio_guard_zone_lookup(s[i].zone,
                                              NGX_HTTP_TWILIO_GUARD_KIND_LIMIT,
                                              s[i].key, s[i].len, s[i].hash)
                  : s[i].entry;

        if (e == NULL) {
            e = ngx_http_twilio_guard_zone_insert(s[i].zone,
                                              NGX_HTTP_TWILIO_GUARD_KIND_LIMIT,
                                              s[i].key, s[i].len, s[i].hash,
                                              2 * period);
            if (e == NULL) {
                ngx_http_twilio_guard_sms_uncount(s, i, s[i].tries);
                *k = i;
                return NGX_ERROR;
            }

            stale = 1;

            /* full=evict: the oldest counters may go for new ones */
            e->pinned = !s[i].limit->evict;
            e->state = (uint64_t) bucket << 40;
            s[i].created = 1;
        }

        bucket = ngx_http_twilio_guard_sms_window(e->state, bucket, &prev,
                                                  &cur);

        if (cur < NGX_HTTP_TWILIO_GUARD_SMS_COUNT_MAX) {
            cur++;
        }

        e->state = ((uint64_t) bucket << 40) | ((uint64_t) prev << 20) | cur;
        e->expire = now + 2 * period;

        if (!s[i].created) {
            /* a new entry is at the head of the queue already */
            ngx_http_twilio_guard_zone_touch(s[i].zone, e);
        }

        s[i].bucket = bucket;
    }

    return NGX_OK;
}


/*
 * A window's counts in the bucket of now, and the bucket to count in.  A
 * worker whose cached time is a little behind another's may see the
 * bucket before the stored one: it counts in the stored one, so a window
 * never goes back and loses its counts.
 */

static uint32_t
ngx_http_twilio_guard_sms_window(uint64_t state, uint32_t bucket,
    uint32_t *prev, uint32_t *cur)
{
    uint32_t  idx, d;

    idx = (uint32_t) (state >> 40);
    d = (bucket - idx) & 0xffffff;

    *prev = 0;
    *cur = 0;

    if (d == 0 || d >= 0x800000) {
        *prev = (uint32_t) (state >> 20) & 0xfffff;
        *cur = (uint32_t) state & 0xfffff;
        return idx;
    }

    if (d == 1) {
        *prev = (uint32_t) state & 0xfffff;
    }

    return bucket;
}


/*
 * Takes back the counts of the first n slots, the zones locked; only those
 * counted when the request had tried an upstream as many times as now
 * (tries): an upstream tried since may have acted on the request.
 */

static void
ngx_http_twilio_guard_sms_uncount(ngx_http_twilio_guard_sms_slot_t *s,
    ngx_uint_t n, ngx_uint_t tries)
{
    uint32_t                        cur;
    ngx_uint_t                      i;
    ngx_http_twilio_guard_entry_t  *e;

    for (i = 0; i < n; i++) {

        if (s[i].zone == NULL || s[i].seen != NGX_HTTP_TWILIO_GUARD_SMS_COUNT
            || s[i].tries != tries)
        {
            continue;
        }

        s[i].seen = NGX_HTTP_TWILIO_GUARD_SMS_BACK;

        e = ngx_http_twilio_guard_zone_lookup(s[i].zone,
                                              NGX_HTTP_TWILIO_GUARD_KIND_LIMIT,
                                              s[i].key, s[i].len, s[i].hash);

        if (e && (uint32_t) (e->state >> 40) == s[i].bucket) {
            cur = (uint32_t) e->state & 0xfffff;

            if (cur) {
                e->state--;
            }

            /* an entry this request added, and nobody counted in since */
            if (s[i].created && (e->state & 0xffffffffff) == 0) {
                ngx_http_twilio_guard_zone_delete(s[i].zone, e);
            }
        }
    }
}


/*
 * A request refused in a location after an internal redirect: the counts
 * it made in the locations before are taken back, so a refused request
 * leaves nothing counted, wherever it was refused; but not those made
 * before an upstream had the request (error_page after an upstream's
 * error, X-Accel-Redirect): the application may have sent the SMS, and "a
 * request the upstream then fails still counts".
 */

static void
ngx_http_twilio_guard_sms_take_back(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_ctx_t *ctx)
{
    ngx_uint_t                      i, nzones;
    ngx_http_twilio_guard_zone_t  **zones;

    if (ctx->ncounted == 0) {
        return;
    }

    zones = ngx_http_twilio_guard_sms_zones(r, ctx->counted, ctx->ncounted,
                                            &nzones);
    if (zones == NULL) {
        return;
    }

    for (i = 0; i < nzones; i++) {
        ngx_http_twilio_guard_zone_lock(zones[i]);
    }

    ngx_http_twilio_guard_sms_uncount(ctx->counted, ctx->ncounted,
                                      ngx_http_twilio_guard_sms_tries(r));

    for (i = 0; i < nzones; i++) {
        ngx_http_twilio_guard_zone_unlock(zones[i], r->connection->log);
    }
}


/* how many upstream servers the request has tried, in all its locations */

static ngx_uint_t
ngx_http_twilio_guard_sms_tries(ngx_http_request_t *r)
{
    return r->upstream_states ? r->upstream_states->nelts : 0;
}


/* what this request counted, for a location after an internal redirect */

static void
ngx_http_twilio_guard_sms_counted(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_ctx_t *ctx,
    ngx_http_twilio_guard_sms_slot_t *s, ngx_uint_t n)
{
    size_t                             size;
    ngx_uint_t                         i;
    ngx_http_twilio_guard_sms_slot_t  *all;

    for (i = 0; i < n; i++) {
        /* valid under the zones' locks only */
        s[i].entry = NULL;
    }

    if (ctx->ncounted == 0) {
        ctx->counted = s;
        ctx->ncounted = n;
        return;
    }

    size = sizeof(ngx_http_twilio_guard_sms_slot_t);

    all = ngx_palloc(r->pool, (ctx->ncounted + n) * size);
    if (all == NULL) {
        return;
    }

    ngx_memcpy(all, ctx->counted, ctx->ncounted * size);
    ngx_memcpy(all + ctx->ncounted, s, n * size);

    ctx->counted = all;
    ctx->ncounted += n;
}


/*
 * The answer to a request a limit refuses (NGX_BUSY: 429 with Retry-After)
 * or whose zone is full (NGX_ERROR: 503), or NGX_DECLINED in a dry run.
 */

static ngx_int_t
ngx_http_twilio_guard_sms_refuse(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_ctx_t *ctx,
    ngx_http_twilio_guard_sms_slot_t *s, ngx_int_t rc, ngx_msec_t retry)
{
    u_char           *p;
    ngx_table_elt_t  *h;

    if (rc == NGX_ERROR) {
        return ngx_http_twilio_guard_sms_reject(r, ctx,
                                   NGX_TWILIO_LIMIT_UNAVAILABLE,
                                   NGX_HTTP_SERVICE_UNAVAILABLE,
                                   "twilio_guard_zone \"%V\" is full: "
                                   "the counters of key=%V cannot be "
                                   "kept (make the zone larger, or "
                                   "set full=evict)",
                                   &s->zone->shm_zone->shm.name,
                                   &s->limit->key_text);
    }

    ctx->limit = s->limit->key;

    rc = ngx_http_twilio_guard_sms_reject(r, ctx, NGX_TWILIO_LIMITED,
                               NGX_HTTP_TOO_MANY_REQUESTS,
                               "key=%V over %V in zone \"%V\", "
                               "retry after %M ms",
                               &s->limit->key_text,
                               &s->limit->windows[s->window].text,
                               &s->zone->shm_zone->shm.name, retry);

    if (rc == NGX_DECLINED) {
        return rc;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return rc;
    }

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (p == NULL) {
        h->hash = 0;
        return rc;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Retry-After");
    h->value.data = p;
    h->value.len = ngx_sprintf(p, "%M", (retry + 999) / 1000) - p;

    return rc;
}


/*
 * A window's entry key: the key kind, the range, the period (so that
 * the same key counted over 10m and 1d are two entries, and a reload
 * that keeps the line keeps its counters), then the key's value.  The
 * period's 8 bytes are left for ngx_http_twilio_guard_sms_period().
 */

static ngx_int_t
ngx_http_twilio_guard_sms_key(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_limit_t *limit,
    ngx_http_twilio_guard_sms_ctx_t *ctx, u_char *key, size_t *len)
{
    u_char      *p, digest[16], is_long;
    ngx_md5_t    md5;
    ngx_str_t    value;

    is_long = 0;

    switch (limit->key) {

    case NGX_HTTP_TWILIO_GUARD_SMS_NUMBER:
        value.data = (u_char *) ctx->phone.e164;
        value.len = ctx->phone.len;
        break;

    case NGX_HTTP_TWILIO_GUARD_SMS_RANGE:
        value.data = (u_char *) ctx->phone.e164;
        value.len = ctx->phone.len;

        /*
         * at least the "+" and the calling code stay: a number may be
         * shorter than the range (range:12 of "+3545551234"), so the
         * subtraction is never made below them
         */
        if (value.len > 1 + ctx->phone.cc_len + limit->range) {
            value.len -= limit->range;

        } else {
            value.len = ngx_min(value.len, 1 + ctx->phone.cc_len);
        }

        break;

    case NGX_HTTP_TWILIO_GUARD_SMS_REGION:
        value.data = (u_char *) ctx->phone.region;
        value.len = ngx_strlen(ctx->phone.region);
        break;

    case NGX_HTTP_TWILIO_GUARD_SMS_ALL:
        ngx_str_null(&value);
        break;

    default: /* NGX_HTTP_TWILIO_GUARD_SMS_VARIABLE */
        if (ngx_http_complex_value(r, limit->value, &value) != NGX_OK) {
            return NGX_ERROR;
        }

        if (value.len == 0) {
            return NGX_DECLINED;
        }

        break;
    }

    if (value.len > NGX_HTTP_TWILIO_GUARD_SMS_KEY_VALUE) {
        /* a long variable is counted by its MD5: never left uncounted */
        ngx_md5_init(&md5);
        ngx_md5_update(&md5, value.data, value.len);
        ngx_md5_final(digest, &md5);

        value.data = digest;
        value.len = sizeof(digest);
        is_long = 1;
    }

    p = key;
    *p++ = limit->key;
    *p++ = (u_char) limit->range;
    p += 8;

    if (limit->key == NGX_HTTP_TWILIO_GUARD_SMS_VARIABLE) {
        /* key=$a and key=$b count apart; a digest apart from a value */
        p = ngx_cpymem(p, limit->key_text.data, limit->key_text.len);
        *p++ = is_long;
    }

    if (value.len) {
        /* key=all has no value, and its data may be NULL */
        p = ngx_cpymem(p, value.data, value.len);
    }

    *len = p - key;

    return NGX_OK;
}


/*
 * A window's period into its key, after the kind and range: its 8 bytes
 * in the machine's order (the zone is never shared with another machine)
 */

static void
ngx_http_twilio_guard_sms_period(u_char *key, ngx_msec_t period)
{
    uint64_t  v;

    v = period;
    ngx_memcpy(key + 2, &v, sizeof(uint64_t));
}


/*
 * One log line per rejection, with the number masked (its last four
 * digits shown as "*") unless twilio_guard_number_log full.  In a dry run
 * the request goes on, and the line says what would have happened.
 */

static ngx_int_t
ngx_http_twilio_guard_sms_reject(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_ctx_t *ctx, ngx_uint_t reason,
    ngx_int_t status, const char *fmt, ...)
{
    u_char                            *last, msg[NGX_MAX_ERROR_STR],
                                       shown[NGX_TWILIO_PHONE_MAX + 8], *s;
    va_list                            args;
    ngx_http_twilio_guard_sms_conf_t  *scf;

    scf = ngx_http_get_module_loc_conf(r, ngx_http_twilio_guard_sms_module);

    va_start(args, fmt);
    last = ngx_vslprintf(msg, msg + 512, fmt, args);
    va_end(args);

    s = ngx_http_twilio_guard_sms_shown(r, ctx, shown, sizeof(shown));

    ctx->reason = reason;

    if (scf->dry_run) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "twilio_guard: number: dry run, would reject: %s, "
                      "number %*s, %*s", ngx_twilio_reason_names[reason],
                      s - shown, shown, last - msg, msg);
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "twilio_guard: number: rejected: %s, number %*s, %*s",
                  ngx_twilio_reason_names[reason], s - shown, shown,
                  last - msg, msg);

    return status;
}


/* the number for a log line: E.164, masked; "-" before it is known */

static u_char *
ngx_http_twilio_guard_sms_shown(ngx_http_request_t *r,
    ngx_http_twilio_guard_sms_ctx_t *ctx, u_char *buf, size_t size)
{
    size_t                             keep;
    ngx_http_twilio_guard_sms_conf_t  *scf;

    if (!ctx->parsed) {
        *buf = '-';
        return buf + 1;
    }

    scf = ngx_http_get_module_loc_conf(r, ngx_http_twilio_guard_sms_module);

    if (scf->log_full) {
        return ngx_cpymem(buf, ctx->phone.e164, ctx->phone.len);
    }

    keep = ctx->phone.len > 4 ? ctx->phone.len - 4 : 1;

    if (keep < 1 + ctx->phone.cc_len) {
        keep = 1 + ctx->phone.cc_len;
    }

    buf = ngx_cpymem(buf, ctx->phone.e164, keep);

    while (keep++ < ctx->phone.len) {
        *buf++ = '*';
    }

    return buf;
}


/*
 * $twilio_guard_number (E.164, "+" and digits), $twilio_guard_number_cc
 * (digits), $twilio_guard_number_region (letters or "001"), and
 * $twilio_guard_number_result (a reason word): all safe in a header line.
 */

static ngx_int_t
ngx_http_twilio_guard_sms_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                           *p;
    const char                       *name;
    ngx_http_twilio_guard_sms_ctx_t  *ctx;

    ctx = ngx_http_twilio_guard_sms_get_ctx(r);

    if (ctx == NULL
        || (data != NGX_HTTP_TWILIO_GUARD_SMS_VAR_RESULT && !ctx->parsed)
        || (data == NGX_HTTP_TWILIO_GUARD_SMS_VAR_RESULT
            && ctx->reason >= NGX_TWILIO_NREASONS))
    {
        v->not_found = 1;
        return NGX_OK;
    }

    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    switch (data) {

    case NGX_HTTP_TWILIO_GUARD_SMS_VAR_NUMBER:
        v->data = (u_char *) ctx->phone.e164;
        v->len = ctx->phone.len;
        break;

    case NGX_HTTP_TWILIO_GUARD_SMS_VAR_CC:
        v->data = (u_char *) ctx->phone.e164 + 1;
        v->len = ctx->phone.cc_len;
        break;

    case NGX_HTTP_TWILIO_GUARD_SMS_VAR_REGION:
        v->data = (u_char *) ctx->phone.region;
        v->len = ngx_strlen(ctx->phone.region);
        break;

    default:
        name = ngx_twilio_reason_names[ctx->reason];
        p = (u_char *) name;
        v->data = p;
        v->len = ngx_strlen(name);
        break;
    }

    return NGX_OK;
}


/* whether a limit of the list is keyed by a variable */

static ngx_uint_t
ngx_http_twilio_guard_sms_var_keys(ngx_array_t *limits)
{
    ngx_uint_t                          i;
    ngx_http_twilio_guard_sms_limit_t  *limit;

    if (limits == NULL) {
        return 0;
    }

    limit = limits->elts;

    for (i = 0; i < limits->nelts; i++) {
        if (limit[i].key == NGX_HTTP_TWILIO_GUARD_SMS_VARIABLE) {
            return 1;
        }
    }

    return 0;
}


/* the zones of the location's limits, each once, in lock order */

static ngx_int_t
ngx_http_twilio_guard_sms_lock_order(ngx_conf_t *cf,
    ngx_http_twilio_guard_sms_conf_t *conf)
{
    ngx_uint_t                          i, n;
    ngx_http_twilio_guard_sms_limit_t  *limit;

    if (conf->limits == NULL) {
        return NGX_OK;
    }

    n = conf->limits->nelts;

    conf->zones = ngx_palloc(cf->pool,
                             n * sizeof(ngx_http_twilio_guard_zone_t *));
    if (conf->zones == NULL) {
        return NGX_ERROR;
    }

    limit = conf->limits->elts;
    conf->nzones = 0;

    for (i = 0; i < n; i++) {
        ngx_http_twilio_guard_sms_zone_add(conf->zones, &conf->nzones,
                                           limit[i].zone->data);
    }

    return NGX_OK;
}


static void *
ngx_http_twilio_guard_sms_create_conf(ngx_conf_t *cf)
{
    ngx_http_twilio_guard_sms_conf_t  *scf;

    scf = ngx_pcalloc(cf->pool, sizeof(ngx_http_twilio_guard_sms_conf_t));
    if (scf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     scf->name = { 0, NULL };
     *     scf->default_region = NULL;
     *     scf->set = 0;
     */

    scf->rules = NGX_CONF_UNSET_PTR;
    scf->limits = NGX_CONF_UNSET_PTR;
    scf->dry_run = NGX_CONF_UNSET;
    scf->log_full = NGX_CONF_UNSET_UINT;

    return scf;
}


static char *
ngx_http_twilio_guard_sms_merge_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_twilio_guard_sms_conf_t  *prev = parent;
    ngx_http_twilio_guard_sms_conf_t  *conf = child;

    if (!conf->set) {
        conf->name = prev->name;
        conf->default_region = prev->default_region;
        conf->set = prev->set;
    }

    /* a level's rules, and its limits, are one list, inherited whole */
    ngx_conf_merge_ptr_value(conf->rules, prev->rules, NULL);
    ngx_conf_merge_ptr_value(conf->limits, prev->limits, NULL);
    ngx_conf_merge_value(conf->dry_run, prev->dry_run, 0);
    ngx_conf_merge_uint_value(conf->log_full, prev->log_full, 0);

    conf->var_keys = ngx_http_twilio_guard_sms_var_keys(conf->limits);

    if (ngx_http_twilio_guard_sms_lock_order(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->name.len == 0 && (conf->rules || conf->limits)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "twilio_guard_number_allow, _deny and "
                           "twilio_guard_limit need a number: add "
                           "\"twilio_guard_number NAME;\" where they are "
                           "used (e.g. twilio_guard_number To;)");
        return NGX_CONF_ERROR;
    }

    /* a record for twilio_guard_metrics, under the location's label */

    if (conf->name.len
        && ngx_http_twilio_guard_metrics_add_number(cf,
               ngx_http_conf_get_module_loc_conf(cf,
                                                 ngx_http_twilio_guard_module))
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* twilio_guard_number NAME [default_country=CC] | off */

static char *
ngx_http_twilio_guard_sms_number(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_twilio_guard_sms_conf_t  *scf = conf;

    u_char     *p;
    ngx_str_t  *value;
    ngx_int_t   rc;

    if (scf->set) {
        return "is duplicate";
    }

    value = cf->args->elts;
    scf->set = 1;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            return "takes no parameters after \"off\"";
        }

        return NGX_CONF_OK;
    }

    for (p = value[1].data; p < value[1].data + value[1].len; p++) {
        if (*p <= 0x20 || *p >= 0x7f || *p == '&' || *p == '=' || *p == '%'
            || *p == '"' || *p == '\\' || *p == '+')
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter name \"%V\": write the "
                               "name as the app receives it, e.g. To, "
                               "phone, phone_number", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_strlchr(value[1].data, value[1].data + value[1].len, '[')) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter name \"%V\": a name with "
                           "\"[\" is an array or a nested field, which the "
                           "guard does not read: name a parameter at the "
                           "top level of the query, form or JSON object",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (value[1].len > 128) {
        return "is too long a parameter name";
    }

    scf->name = value[1];

    if (cf->args->nelts == 2) {
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value[2].data, "default_country=", 16) != 0
        || value[2].len != 18)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\": write "
                           "default_country=CC, a region code such as US "
                           "or GB", &value[2]);
        return NGX_CONF_ERROR;
    }

    scf->default_region = (char *) value[2].data + 16;

    rc = ngx_twilio_phone_region_national(scf->default_region);

    if (rc == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown region in \"%V\": write an ISO 3166 "
                           "alpha-2 code in capitals, e.g. US, GB, DE",
                           &value[2]);
        return NGX_CONF_ERROR;
    }

    if (rc == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": national numbers of %s take local "
                           "dialling or carrier rules the guard does not "
                           "apply; leave default_country out and have the "
                           "app send numbers in international form (+...)",
                           &value[2], scf->default_region);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* twilio_guard_number_allow | _deny  all | CC | +PREFIX | ~REGEX */

static char *
ngx_http_twilio_guard_sms_rule(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_twilio_guard_sms_conf_t  *scf = conf;

    u_char                            *p, errstr[NGX_MAX_CONF_ERRSTR];
    ngx_str_t                         *value;
    ngx_regex_compile_t                rc;
    ngx_http_twilio_guard_sms_rule_t  *rule;

    value = cf->args->elts;

    if (scf->rules == NGX_CONF_UNSET_PTR) {
        scf->rules = ngx_array_create(cf->pool, 4,
                                  sizeof(ngx_http_twilio_guard_sms_rule_t));
        if (scf->rules == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    rule = ngx_array_push(scf->rules);
    if (rule == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(rule, sizeof(ngx_http_twilio_guard_sms_rule_t));

    rule->deny = (cmd->name.len == sizeof("twilio_guard_number_deny") - 1);
    rule->value = value[1];

    if (ngx_strcmp(value[1].data, "all") == 0) {
        rule->type = NGX_HTTP_TWILIO_GUARD_SMS_RULE_ALL;
        return NGX_CONF_OK;
    }

    if (value[1].len > 1 && value[1].data[0] == '~') {
        ngx_memzero(&rc, sizeof(ngx_regex_compile_t));

        rc.pattern.data = value[1].data + 1;
        rc.pattern.len = value[1].len - 1;
        rc.pool = cf->pool;
        rc.err.len = NGX_MAX_CONF_ERRSTR;
        rc.err.data = errstr;

        if (ngx_regex_compile(&rc) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V", &rc.err);
            return NGX_CONF_ERROR;
        }

        rule->type = NGX_HTTP_TWILIO_GUARD_SMS_RULE_REGEX;
        rule->regex = rc.regex;
        return NGX_CONF_OK;
    }

    if (value[1].len >= 2 && value[1].len <= 16 && value[1].data[0] == '+') {
        for (p = value[1].data + 1; p < value[1].data + value[1].len; p++) {
            if (*p < '0' || *p > '9') {
                goto invalid;
            }
        }

        rule->type = NGX_HTTP_TWILIO_GUARD_SMS_RULE_PREFIX;
        return NGX_CONF_OK;
    }

    if (value[1].len == 2
        && ngx_twilio_phone_region_national((char *) value[1].data) != -1)
    {
        rule->type = NGX_HTTP_TWILIO_GUARD_SMS_RULE_REGION;
        return NGX_CONF_OK;
    }

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid rule \"%V\": write a region (US, GB: ISO "
                       "3166 alpha-2 in capitals), a prefix (+44, +1876), "
                       "\"all\", or a regular expression (~^\\+88)",
                       &value[1]);

    return NGX_CONF_ERROR;
}


/*
 * twilio_guard_limit zone=NAME key=number|range[:N]|region|all|$var
 *     COUNT/PERIOD ... [full=reject|evict];
 */

static char *
ngx_http_twilio_guard_sms_limit(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_twilio_guard_sms_conf_t  *scf = conf;

    u_char                              *slash;
    ngx_int_t                            n, count;
    ngx_str_t                           *value, s;
    ngx_uint_t                           i;
    ngx_http_compile_complex_value_t     ccv;
    ngx_http_twilio_guard_sms_limit_t   *limit;
    ngx_http_twilio_guard_sms_window_t  *win;

    value = cf->args->elts;

    if (scf->limits == NGX_CONF_UNSET_PTR) {
        scf->limits = ngx_array_create(cf->pool, 4,
                                 sizeof(ngx_http_twilio_guard_sms_limit_t));
        if (scf->limits == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    limit = ngx_array_push(scf->limits);
    if (limit == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(limit, sizeof(ngx_http_twilio_guard_sms_limit_t));

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            if (s.len == 0 || limit->zone) {
                goto invalid;
            }

            limit->zone = ngx_http_twilio_guard_zone_ref(cf, &s,
                                                        "twilio_guard_limit");
            if (limit->zone == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "key=", 4) == 0) {
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            if (limit->key) {
                goto invalid;
            }

            limit->key_text = s;

            if (ngx_strcmp(s.data, "number") == 0) {
                limit->key = NGX_HTTP_TWILIO_GUARD_SMS_NUMBER;

            } else if (ngx_strcmp(s.data, "region") == 0) {
                limit->key = NGX_HTTP_TWILIO_GUARD_SMS_REGION;

            } else if (ngx_strcmp(s.data, "all") == 0) {
                limit->key = NGX_HTTP_TWILIO_GUARD_SMS_ALL;

            } else if (ngx_strcmp(s.data, "range") == 0) {
                limit->key = NGX_HTTP_TWILIO_GUARD_SMS_RANGE;
                limit->range = 3;
                ngx_str_set(&limit->key_text, "range:3");

            } else if (ngx_strncmp(s.data, "range:", 6) == 0) {
                n = ngx_atoi(s.data + 6, s.len - 6);

                if (n < 1 || n > 12) {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "invalid range in \"%V\": write how "
                                       "many last digits a range leaves "
                                       "out, 1 to 12, e.g. key=range:3",
                                       &value[i]);
                    return NGX_CONF_ERROR;
                }

                limit->key = NGX_HTTP_TWILIO_GUARD_SMS_RANGE;
                limit->range = (ngx_uint_t) n;

            } else if (s.len > 1 && s.data[0] == '$') {
                if (s.len > 200) {
                    return "has too long a key (at most 200 characters)";
                }

                limit->key = NGX_HTTP_TWILIO_GUARD_SMS_VARIABLE;

                limit->value = ngx_palloc(cf->pool,
                                          sizeof(ngx_http_complex_value_t));
                if (limit->value == NULL) {
                    return NGX_CONF_ERROR;
                }

                ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

                ccv.cf = cf;
                ccv.value = &s;
                ccv.complex_value = limit->value;

                if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
                    return NGX_CONF_ERROR;
                }

            } else {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid key in \"%V\": write number, "
                                   "range, range:N, region, all, or a "
                                   "variable such as $binary_remote_addr",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strcmp(value[i].data, "full=reject") == 0) {
            limit->evict = 0;
            continue;
        }

        if (ngx_strcmp(value[i].data, "full=evict") == 0) {
            limit->evict = 1;
            continue;
        }

        slash = ngx_strlchr(value[i].data, value[i].data + value[i].len, '/');

        if (slash == NULL) {
            goto invalid;
        }

        count = ngx_atoi(value[i].data, slash - value[i].data);

        s.data = slash + 1;
        s.len = value[i].data + value[i].len - s.data;

        n = ngx_parse_time(&s, 0);

        if (count < 1 || count > NGX_HTTP_TWILIO_GUARD_SMS_COUNT_MAX - 1
            || n == NGX_ERROR || n < 10)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid window \"%V\": write COUNT/PERIOD, "
                               "a count from 1 to %d and a period such as "
                               "30s, 10m, 1h, 1d", &value[i],
                               NGX_HTTP_TWILIO_GUARD_SMS_COUNT_MAX - 1);
            return NGX_CONF_ERROR;
        }

        if (limit->nwindows == NGX_HTTP_TWILIO_GUARD_SMS_WINDOWS) {
            return "has too many windows (at most 8 a line)";
        }

        win = &limit->windows[limit->nwindows++];
        win->count = (ngx_uint_t) count;
        win->period = (ngx_msec_t) n;
        win->text = value[i];
    }

    if (limit->zone == NULL || limit->key == 0 || limit->nwindows == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twilio_guard_limit\" needs zone=NAME (a "
                           "twilio_guard_zone), key=KEY and at least one "
                           "COUNT/PERIOD, e.g. twilio_guard_limit zone=sms "
                           "key=number 3/10m 10/1d;");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\": write zone=NAME key=KEY "
                       "COUNT/PERIOD... [full=reject|evict]", &value[i]);

    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_twilio_guard_sms_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_twilio_guard_sms_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/*
 * Called by ngx_http_twilio_guard_module's postconfiguration before it
 * registers its own handler: the access phase runs a phase's handlers in
 * the reverse order of registration, so the signature (where one is
 * checked) goes first, whatever the order of the modules.
 */

ngx_int_t
ngx_http_twilio_guard_sms_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_twilio_guard_sms_handler;

    /* the rewrite phase, which subrequests run (before a "return") */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_twilio_guard_sms_subrequest_handler;

    return NGX_OK;
}
