
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * twilio_guard_metrics: counters of every verdict in shared memory, laid
 * out at configuration time and updated with atomic additions, served in
 * the Prometheus text format.
 */


#ifndef _NGX_HTTP_TWILIO_GUARD_METRICS_H_INCLUDED_
#define _NGX_HTTP_TWILIO_GUARD_METRICS_H_INCLUDED_


#include "ngx_http_twilio_guard_module.h"


/* which limit line refused a number: the label key="..." */
#define NGX_HTTP_TWILIO_GUARD_LIMIT_NUMBER    0
#define NGX_HTTP_TWILIO_GUARD_LIMIT_RANGE     1
#define NGX_HTTP_TWILIO_GUARD_LIMIT_REGION    2
#define NGX_HTTP_TWILIO_GUARD_LIMIT_ALL       3
#define NGX_HTTP_TWILIO_GUARD_LIMIT_VAR       4
#define NGX_HTTP_TWILIO_GUARD_LIMIT_KINDS     5


/* a guarded location's slots: its record, and one per shared key */
typedef struct ngx_http_twilio_guard_metrics_loc_s {
    void                       *metrics;       /* the layout */
    ngx_uint_t                  loc;
    ngx_uint_t                 *keys;          /* by shared key index */
} ngx_http_twilio_guard_metrics_loc_t;


char *ngx_http_twilio_guard_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_twilio_guard_metrics_label(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_twilio_guard_metrics_add(ngx_conf_t *cf,
    ngx_http_twilio_guard_loc_conf_t *lcf);
ngx_int_t ngx_http_twilio_guard_metrics_add_number(ngx_conf_t *cf,
    ngx_http_twilio_guard_loc_conf_t *lcf);
ngx_int_t ngx_http_twilio_guard_metrics_init(ngx_conf_t *cf);

void ngx_http_twilio_guard_metrics_count(
    ngx_http_twilio_guard_loc_conf_t *lcf, ngx_uint_t reason);
void ngx_http_twilio_guard_metrics_number(
    ngx_http_twilio_guard_loc_conf_t *lcf, ngx_uint_t reason,
    ngx_uint_t dry_run, ngx_uint_t limit);
void ngx_http_twilio_guard_metrics_key(ngx_http_twilio_guard_ctx_t *ctx,
    ngx_uint_t key);


#endif /* _NGX_HTTP_TWILIO_GUARD_METRICS_H_INCLUDED_ */
