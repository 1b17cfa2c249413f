
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * twilio_guard_replay: each signed request reaches the upstream once
 * within a window, and again after a failure.
 */


#ifndef _NGX_HTTP_TWILIO_GUARD_REPLAY_H_INCLUDED_
#define _NGX_HTTP_TWILIO_GUARD_REPLAY_H_INCLUDED_


#include "ngx_http_twilio_guard_module.h"


typedef struct ngx_http_twilio_guard_replay_conf_s {
    ngx_shm_zone_t             *zone;
    ngx_msec_t                  window;
    ngx_msec_t                  inflight;
    ngx_uint_t                  status;

    /* where it was set, if in a location: for nginx -t */
    ngx_str_t                   file;
    ngx_uint_t                  line;
} ngx_http_twilio_guard_replay_conf_t;


char *ngx_http_twilio_guard_replay(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_twilio_guard_replay_init(ngx_conf_t *cf);
ngx_int_t ngx_http_twilio_guard_replay_check(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx,
    ngx_http_twilio_guard_replay_conf_t *rcf, ngx_str_t *sig);


#endif /* _NGX_HTTP_TWILIO_GUARD_REPLAY_H_INCLUDED_ */
