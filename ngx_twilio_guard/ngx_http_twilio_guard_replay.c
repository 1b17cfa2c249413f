
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * The replay guard.  A request whose signature is valid is recorded in a
 * twilio_guard_zone, keyed by what an attacker cannot change: the decoded
 * signature bytes and the key or token that verified them.  The entry is
 * first "in flight", owned by this request until it ends (past
 * twilio_guard_replay's inflight= time, a copy may take it over if the
 * owning worker died); once the status is known, the entry is kept for
 * the window if it is 2xx or 3xx, or if the client left after the
 * upstream got the request, and removed otherwise, so that Twilio's
 * retry after a failure gets through.  Entries stay pinned: none is
 * evicted inside its window, and a full zone answers 503.  The
 * lookup and the insertion happen under the zone's lock: of N identical
 * requests at the same moment, one gets the entry and N - 1 are replays.
 *
 * Who owns what when: the access phase (ngx_http_twilio_guard_check())
 * calls ngx_http_twilio_guard_replay_check() once the signature is valid;
 * it inserts the entry and adds a pool cleanup holding the key.  The
 * header filter settles the entry by the response's status, before the
 * client sees it; the log phase settles it for a request that ended with
 * no response (the client gone: 499).  The pool cleanup runs after the log
 * phase and removes the entry of a request that was never logged, as a
 * failure.  The entry is found again by its key, and
 * changed only if it still carries this request's owner id: it may have
 * expired in between, and another request may hold it now.
 */


#include "ngx_http_twilio_guard_replay.h"
#include "ngx_http_twilio_guard_zone.h"


typedef struct {
    ngx_http_twilio_guard_zone_t  *zone;
    ngx_msec_t                     window;
    uint64_t                       owner;
    uint32_t                       hash;
    ngx_uint_t                     settled;    /* unsigned settled:1; */
    size_t                         len;
    u_char                        *key;
} ngx_http_twilio_guard_replay_t;


static ngx_int_t ngx_http_twilio_guard_replay_key(
    ngx_http_twilio_guard_ctx_t *ctx, ngx_str_t *sig, u_char *key,
    size_t *len);
static ngx_http_twilio_guard_replay_t *ngx_http_twilio_guard_replay_find(
    ngx_http_request_t *r, ngx_http_twilio_guard_zone_t *zone, u_char *key,
    size_t len);
static ngx_int_t ngx_http_twilio_guard_replay_reject(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx,
    ngx_http_twilio_guard_replay_conf_t *rcf, ngx_msec_t age,
    ngx_uint_t inflight);
static ngx_int_t ngx_http_twilio_guard_replay_header_filter(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_twilio_guard_replay_log_handler(
    ngx_http_request_t *r);
static ngx_uint_t ngx_http_twilio_guard_replay_owner_alive(uint64_t owner);
static void ngx_http_twilio_guard_replay_settle_all(ngx_http_request_t *r);
static void ngx_http_twilio_guard_replay_cleanup(void *data);
static void ngx_http_twilio_guard_replay_settle(
    ngx_http_twilio_guard_replay_t *rp, ngx_uint_t ok, ngx_log_t *log);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


static ngx_str_t  ngx_http_twilio_guard_idempotency_header =
    ngx_string("I-Twilio-Idempotency-Token");


/* the most of the idempotency token shown in a log line */


/*
 * twilio_guard_replay zone=name [window=time] [status=code]
 *     [inflight=time];
 * twilio_guard_replay off;
 */

char *
ngx_http_twilio_guard_replay(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_twilio_guard_loc_conf_t  *lcf = conf;

    ngx_int_t                             n;
    ngx_str_t                            *value, s;
    ngx_uint_t                            i;
    ngx_http_twilio_guard_replay_conf_t  *rcf;

    if (lcf->replay != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        lcf->replay = NULL;
        return NGX_CONF_OK;
    }

    rcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_twilio_guard_replay_conf_t));
    if (rcf == NULL) {
        return NGX_CONF_ERROR;
    }

    rcf->window = 3600 * 1000;
    rcf->inflight = 60 * 1000;
    rcf->status = NGX_HTTP_CONFLICT;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            if (s.len == 0) {
                goto invalid;
            }

            rcf->zone = ngx_http_twilio_guard_zone_ref(cf, &s,
                                                       "twilio_guard_replay");
            if (rcf->zone == NULL) {
                return NGX_CONF_ERROR;
            }

            ((ngx_http_twilio_guard_zone_t *) rcf->zone->data)->replay = 1;

            continue;
        }

        if (ngx_strncmp(value[i].data, "window=", 7) == 0
            || ngx_strncmp(value[i].data, "inflight=", 9) == 0)
        {
            s.data = (u_char *) ngx_strlchr(value[i].data,
                                            value[i].data + value[i].len,
                                            '=') + 1;
            s.len = value[i].data + value[i].len - s.data;

            n = ngx_parse_time(&s, 0);

            if (n == NGX_ERROR || n == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid time in \"%V\": write a "
                                   "duration above zero, e.g. 1h, 90s, "
                                   "500ms", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (value[i].data[0] == 'w') {
                rcf->window = (ngx_msec_t) n;

            } else {
                rcf->inflight = (ngx_msec_t) n;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "status=", 7) == 0) {
            n = ngx_atoi(value[i].data + 7, value[i].len - 7);

            if (n < 400 || n > 599) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid status in \"%V\": write a code "
                                   "between 400 and 599", &value[i]);
                return NGX_CONF_ERROR;
            }

            rcf->status = (ngx_uint_t) n;
            continue;
        }

        goto invalid;
    }

    if (rcf->zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twilio_guard_replay\" needs zone=NAME, a zone "
                           "declared with \"twilio_guard_zone NAME:SIZE\" "
                           "in the http block");
        return NGX_CONF_ERROR;
    }

    if (cf->cmd_type == NGX_HTTP_LOC_CONF) {
        rcf->file = cf->conf_file->file.name;
        rcf->line = cf->conf_file->line;
    }

    lcf->replay = rcf;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\": write zone=NAME "
                       "[window=TIME] [status=CODE] [inflight=TIME], "
                       "or \"off\"", &value[i]);

    return NGX_CONF_ERROR;
}


/*
 * At the end of the http block: zones declared; the header filter and
 * the log phase handler, where any guard records requests, only where
 * twilio_guard_replay is used (limits alone do not need them).
 */

ngx_int_t
ngx_http_twilio_guard_replay_init(ngx_conf_t *cf)
{
    ngx_uint_t                  replay;
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    if (ngx_http_twilio_guard_zone_check(cf, &replay) != NGX_OK) {
        return NGX_ERROR;
    }

    if (replay == 0) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_twilio_guard_replay_log_handler;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_twilio_guard_replay_header_filter;

    return NGX_OK;
}


/*
 * Called once the signature is valid and nothing else failed.  Returns
 * NGX_OK (recorded, or no replay guard here), the rejection status, or
 * NGX_DECLINED in a dry run.
 */

ngx_int_t
ngx_http_twilio_guard_replay_check(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx,
    ngx_http_twilio_guard_replay_conf_t *rcf, ngx_str_t *sig)
{
    size_t                                len;
    u_char                                key[NGX_HTTP_TWILIO_GUARD_KEY_MAX];
    uint32_t                              hash;
    ngx_msec_t                            age;
    ngx_uint_t                            inflight;
    ngx_pool_cleanup_t                   *cln;
    ngx_http_twilio_guard_zone_t         *zone;
    ngx_http_twilio_guard_entry_t        *e;
    ngx_http_twilio_guard_replay_t       *rp;

    static uint32_t  seq;

    if (rcf == NULL || rcf == NGX_CONF_UNSET_PTR) {
        return NGX_OK;
    }

    zone = rcf->zone->data;

    if (ngx_http_twilio_guard_replay_key(ctx, sig, key, &len) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "twilio_guard: no replay key for a valid signature");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the request's own entry, checked again after an internal redirect */

    if (ngx_http_twilio_guard_replay_find(r, zone, key, len)) {
        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_twilio_guard_replay_t)
                                        + len);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rp = cln->data;

    /* the request holds the entry only once inserted */
    rp->zone = NULL;
    rp->window = rcf->window;
    rp->owner = ((uint64_t) ngx_pid << 32) | ++seq;
    rp->hash = ngx_http_twilio_guard_zone_hash(zone, key, len);
    rp->settled = 1;
    rp->len = len;
    rp->key = (u_char *) rp + sizeof(ngx_http_twilio_guard_replay_t);
    ngx_memcpy(rp->key, key, len);

    cln->handler = ngx_http_twilio_guard_replay_cleanup;

    hash = rp->hash;
    age = 0;
    inflight = 0;

    ngx_http_twilio_guard_zone_lock(zone);

    e = ngx_http_twilio_guard_zone_lookup(zone,
                                          NGX_HTTP_TWILIO_GUARD_KIND_REPLAY,
                                          key, len, hash);
    if (e) {
        age = ngx_current_msec - e->created;
        inflight = (e->state != 0);

        if (inflight && age >= rcf->inflight
            && !ngx_http_twilio_guard_replay_owner_alive(e->state))
        {
            /* its worker died with the request: never settled */
            ngx_http_twilio_guard_zone_delete(zone, e);
            e = NULL;
        }
    }

    if (e) {
        ngx_http_twilio_guard_zone_unlock(zone, r->connection->log);

        return ngx_http_twilio_guard_replay_reject(r, ctx, rcf, age,
                                                   inflight);
    }

    /*
     * In flight for the window at most: while its worker lives, the
     * request settles its entry when it ends, however long the upstream
     * takes (proxy_read_timeout may be above inflight=)
     */

    e = ngx_http_twilio_guard_zone_insert(zone,
                                          NGX_HTTP_TWILIO_GUARD_KIND_REPLAY,
                                          key, len, hash,
                                          ngx_max(rcf->window,
                                                  rcf->inflight));
    if (e) {
        e->state = rp->owner;
        rp->zone = zone;
        rp->settled = 0;
    }

    ngx_http_twilio_guard_zone_unlock(zone, r->connection->log);

    if (e == NULL) {
        /* fail closed: a request that cannot be recorded is not let in */
        return ngx_http_twilio_guard_reject(r, ctx,
                                            NGX_TWILIO_REPLAY_UNAVAILABLE,
                                            NGX_HTTP_SERVICE_UNAVAILABLE,
                                            "twilio_guard_zone \"%V\" has "
                                            "no room for the request: "
                                            "every entry is in flight or "
                                            "inside its window; make the "
                                            "zone larger (window x peak "
                                            "rate x about 128 bytes)",
                                            &zone->shm_zone->shm.name);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twilio_guard: replay entry %uD in flight, owner %uL",
                   hash, rp->owner);

    return NGX_OK;
}


/*
 * Whether the worker that owns an entry in flight still runs: a live one
 * settles its entries when their requests end, a dead one never will.
 * The owner id carries the worker's pid.
 */

static ngx_uint_t
ngx_http_twilio_guard_replay_owner_alive(uint64_t owner)
{
    ngx_pid_t  pid;

    pid = (ngx_pid_t) (owner >> 32);

    if (pid == ngx_pid) {
        return 1;
    }

    return kill(pid, 0) == 0 || ngx_errno == NGX_EPERM;
}


/*
 * What identifies a signed request: the signature's bytes, and which key
 * verified them.  A shared key is named by its id.  An auth token is
 * named by no more than "a token": its number ($twilio_guard_token) is
 * its place in the configuration, which a reload for a rotation changes,
 * and entries must outlive reloads.  Two tokens giving the same 160-bit
 * HMAC for two requests is not a case to plan for.
 */

static ngx_int_t
ngx_http_twilio_guard_replay_key(ngx_http_twilio_guard_ctx_t *ctx,
    ngx_str_t *sig, u_char *key, size_t *len)
{
    ngx_str_t  id, dst;

    if (ctx->shared_key) {
        id = ctx->key_label;

    } else {
        ngx_str_null(&id);
    }

    if (id.len > 0xffff
        || 3 + id.len + ngx_base64_decoded_length(sig->len)
           > NGX_HTTP_TWILIO_GUARD_KEY_MAX)
    {
        return NGX_ERROR;
    }

    key[0] = ctx->shared_key ? 's' : 't';
    key[1] = (u_char) (id.len >> 8);
    key[2] = (u_char) id.len;

    if (id.len) {
        ngx_memcpy(key + 3, id.data, id.len);
    }

    dst.data = key + 3 + id.len;

    if (ngx_decode_base64(&dst, sig) != NGX_OK) {
        return NGX_ERROR;
    }

    *len = 3 + id.len + dst.len;

    return NGX_OK;
}


static ngx_http_twilio_guard_replay_t *
ngx_http_twilio_guard_replay_find(ngx_http_request_t *r,
    ngx_http_twilio_guard_zone_t *zone, u_char *key, size_t len)
{
    ngx_pool_cleanup_t              *cln;
    ngx_http_twilio_guard_replay_t  *rp;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {

        if (cln->handler != ngx_http_twilio_guard_replay_cleanup) {
            continue;
        }

        rp = cln->data;

        if (rp->zone == zone && rp->len == len
            && ngx_memcmp(rp->key, key, len) == 0)
        {
            return rp;
        }
    }

    return NULL;
}


static ngx_int_t
ngx_http_twilio_guard_replay_reject(ngx_http_request_t *r,
    ngx_http_twilio_guard_ctx_t *ctx,
    ngx_http_twilio_guard_replay_conf_t *rcf, ngx_msec_t age,
    ngx_uint_t inflight)
{
    ngx_str_t  token;

    /*
     * not signed, so it decides nothing; shown to help reading logs,
     * escaped and cut like every value a client sends
     */

    if (ngx_http_twilio_guard_header(r,
                                     &ngx_http_twilio_guard_idempotency_header,
                                     &token)
        == 0)
    {
        ngx_str_set(&token, "-");
    }

    return ngx_http_twilio_guard_reject(r, ctx, NGX_TWILIO_REPLAYED,
                                        rcf->status,
                                        "the same signature under %s \"%V\" "
                                        "was first seen %M ms ago and %s, "
                                        "idempotency token \"%V\"",
                                        ctx->shared_key ? "shared key"
                                                        : "token",
                                        &ctx->key_label, age,
                                        inflight ? "is still in flight"
                                                 : "succeeded",
                                        ngx_http_twilio_guard_log_value(r,
                                                                  &token));
}


/*
 * The status of the response decides: 2xx and 3xx keep the entry for the
 * window, and so does a client gone after the upstream got the request;
 * anything else (4xx, 5xx from the upstream or from nginx) removes it, so
 * that a retry reaches the upstream.  This is done in the header
 * filter, before the client can see the status and send its retry, and
 * in the log phase for requests that end without a response (499: the
 * client went away first).
 */

static ngx_int_t
ngx_http_twilio_guard_replay_header_filter(ngx_http_request_t *r)
{
    if (r == r->main) {
        ngx_http_twilio_guard_replay_settle_all(r);
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_twilio_guard_replay_log_handler(ngx_http_request_t *r)
{
    ngx_http_twilio_guard_replay_settle_all(r);

    return NGX_OK;
}


static void
ngx_http_twilio_guard_replay_settle_all(ngx_http_request_t *r)
{
    ngx_uint_t                       ok, status;
    ngx_pool_cleanup_t              *cln;
    ngx_http_twilio_guard_replay_t  *rp;

    status = r->err_status ? r->err_status : r->headers_out.status;
    ok = (status >= 200 && status < 400);

    /*
     * The client left (499, or no status at all) after the request was
     * sent to the upstream: the application may have acted on it, and
     * its answer is unknown.  The entry stands, as after a success:
     * forgetting it would let a captured request through again each time
     * its sender gives up before the answer.
     */

    if (!ok
        && (status == NGX_HTTP_CLIENT_CLOSED_REQUEST || status == 0)
        && r->upstream && r->upstream->request_sent)
    {
        ok = 1;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {

        if (cln->handler != ngx_http_twilio_guard_replay_cleanup) {
            continue;
        }

        rp = cln->data;

        if (!rp->settled) {
            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "twilio_guard: status %ui, replay entry %s",
                           status, ok ? "kept" : "removed");

            ngx_http_twilio_guard_replay_settle(rp, ok, r->connection->log);
        }
    }
}


/* a request freed without a log phase: its entry goes, as after a failure */

static void
ngx_http_twilio_guard_replay_cleanup(void *data)
{
    ngx_http_twilio_guard_replay_t  *rp = data;

    if (!rp->settled) {
        ngx_http_twilio_guard_replay_settle(rp, 0, ngx_cycle->log);
    }
}


static void
ngx_http_twilio_guard_replay_settle(ngx_http_twilio_guard_replay_t *rp,
    ngx_uint_t ok, ngx_log_t *log)
{
    ngx_http_twilio_guard_zone_t   *zone;
    ngx_http_twilio_guard_entry_t  *e;

    zone = rp->zone;
    rp->settled = 1;

    ngx_http_twilio_guard_zone_lock(zone);

    e = ngx_http_twilio_guard_zone_lookup(zone,
                                          NGX_HTTP_TWILIO_GUARD_KIND_REPLAY,
                                          rp->key, rp->len, rp->hash);

    /* an entry that expired in flight may belong to another request now */

    if (e && e->state == rp->owner) {

        if (ok) {
            /*
             * still pinned: an entry inside its window is never evicted
             * (others' signed requests could otherwise push it out, and
             * its copy through); a full zone refuses new requests instead
             */
            e->state = 0;
            e->expire = ngx_current_msec + rp->window;
            ngx_http_twilio_guard_zone_touch(zone, e);

        } else {
            ngx_http_twilio_guard_zone_delete(zone, e);
        }
    }

    ngx_http_twilio_guard_zone_unlock(zone, log);
}
