
/*
 * Copyright (C) ngx_twilio_guard authors
 */


#ifndef _NGX_HTTP_TWILIO_GUARD_MODULE_H_INCLUDED_
#define _NGX_HTTP_TWILIO_GUARD_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_twilio_guard_core.h"


/* the module's version: CHANGES and packages take it from here */
#define NGX_HTTP_TWILIO_GUARD_VERSION  "0.1.1"


#if (nginx_version < 1015007)

/* ngx_explicit_memzero() came with nginx 1.15.7; OpenSSL's does the same */

#include <openssl/crypto.h>

#define ngx_explicit_memzero(buf, n)  OPENSSL_cleanse(buf, n)

#endif


#define NGX_HTTP_TWILIO_GUARD_PENDING  NGX_TWILIO_NREASONS


typedef struct {
    ngx_array_t                *cidrs;         /* of ngx_cidr_t */
    ngx_uint_t                  deny;          /* unsigned deny:1; */
} ngx_http_twilio_guard_rule_t;


typedef struct {
    ngx_str_t                   id;
    ngx_twilio_key_t            key;
} ngx_http_twilio_guard_shared_key_t;


typedef struct {
    ngx_flag_t                  enable;
    ngx_flag_t                  https;
    ngx_flag_t                  forwarded_host; /* X-Forwarded-Host, -Port */
    ngx_flag_t                  dry_run;
    ngx_array_t                *keys;          /* of ngx_twilio_key_t */
    ngx_array_t                *shared_keys;   /* of ..._shared_key_t */
    ngx_array_t                *trusted;       /* of ngx_cidr_t */
    ngx_array_t                *rules;         /* of ..._rule_t */
    ngx_http_complex_value_t   *url;
    size_t                      max_body;
    ngx_uint_t                  max_params;
    ngx_uint_t                  reject_status;
    ngx_uint_t                  log_level;     /* of rejections, dry run */

    /* twilio_guard_replay; NULL when off */
    struct ngx_http_twilio_guard_replay_conf_s  *replay;

    /* twilio_guard_metrics_label, and the location's metrics slots */
    ngx_str_t                   metrics_label;
    struct ngx_http_twilio_guard_metrics_loc_s  *metrics;

    /* where "twilio_guard on" was set, for errors found when merging */
    ngx_str_t                   enable_file;
    ngx_uint_t                  enable_line;

    /* where the first key of this level was set, likewise */
    ngx_str_t                   keys_file;
    ngx_uint_t                  keys_line;
} ngx_http_twilio_guard_loc_conf_t;


typedef struct {
    ngx_int_t                           status;
    ngx_uint_t                          reason;

    /* the configuration that decided; another one decides anew */
    ngx_http_twilio_guard_loc_conf_t   *conf;

    /* the keys that may have signed: auth tokens or one shared key */
    ngx_twilio_key_t                   *keys;
    size_t                              nkeys;

    /* what was checked, for the variables */
    ngx_str_t                           url;
    ngx_str_t                           body;
    ngx_str_t                           key_label;
    ngx_str_t                           account;       /* res.account */
    unsigned                            form_params:1;
    unsigned                            shared_key:1;

    /* the body read: under way, its bytes so far, over max_body */
    off_t                               received;
    unsigned                            reading:1;
    unsigned                            too_large:1;
    /* reason is body_unavailable only until the read completes */
    unsigned                            provisional:1;
} ngx_http_twilio_guard_ctx_t;


void *ngx_http_twilio_guard_find_ctx(ngx_http_request_t *r, ngx_module_t *m,
    ngx_pool_cleanup_pt handler);
ngx_uint_t ngx_http_twilio_guard_header(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *value);
ngx_str_t *ngx_http_twilio_guard_log_value(ngx_http_request_t *r,
    ngx_str_t *value);
ngx_int_t ngx_http_twilio_guard_reject(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx, ngx_uint_t reason, ngx_int_t status,
    const char *fmt, ...);

/* the request body read: its size, and the body as one piece */
ngx_int_t ngx_http_twilio_guard_body_size(ngx_http_request_t *r,
    off_t *size);
ngx_int_t ngx_http_twilio_guard_body(ngx_http_request_t *r, size_t size,
    ngx_str_t *body);

/* the whole body, unread, in the headers' buffer (HTTP/1.x) */
ngx_int_t ngx_http_twilio_guard_preread(ngx_http_request_t *r,
    ngx_str_t *body);

/* the SMS pumping guard's access handler (ngx_http_twilio_guard_sms.c) */
ngx_int_t ngx_http_twilio_guard_sms_init(ngx_conf_t *cf);

void *ngx_http_twilio_guard_create_loc_conf(ngx_conf_t *cf);
char *ngx_http_twilio_guard_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);


extern ngx_command_t  ngx_http_twilio_guard_commands[];
extern ngx_module_t   ngx_http_twilio_guard_module;


#endif /* _NGX_HTTP_TWILIO_GUARD_MODULE_H_INCLUDED_ */
