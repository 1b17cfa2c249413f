
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * twilio_guard_zone: the guard's state in shared memory, in the style of
 * the limit_req module.  A slab pool holds entries in red-black trees
 * keyed by a hash of (kind, key), one tree per bucket of hashes (so that a
 * lookup among many entries visits few of them), and in a queue by last
 * use.
 * Expired entries are freed when new ones are allocated; when the zone is
 * full the oldest entry that is not pinned is evicted, counted, and
 * reported at "warn" at most once a minute.  The contents survive a
 * reload that keeps the zone's name and size.
 *
 * Entries are generic: a kind byte (whose state it is), key bytes, a
 * lifetime and 64 bits of state for their user.  Every function but the
 * configuration ones is called with the zone locked, and the lock is held
 * for one lookup-and-update only.
 */


#ifndef _NGX_HTTP_TWILIO_GUARD_ZONE_H_INCLUDED_
#define _NGX_HTTP_TWILIO_GUARD_ZONE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* kinds of entries */
#define NGX_HTTP_TWILIO_GUARD_KIND_REPLAY  1
#define NGX_HTTP_TWILIO_GUARD_KIND_LIMIT   2

#define NGX_HTTP_TWILIO_GUARD_KEY_MAX      512


/*
 * node.data is 1 when the entry was used since it was last put at the
 * head of the queue: the scans for expired and evictable entries, which
 * start at the tail, put such an entry back at the head instead (a
 * "second chance", as in CLOCK), so using an entry writes nothing but
 * that byte, not the two entries around it in the queue.  A pinned entry,
 * which only expiry frees, is moved at once instead (see touch()).
 */

typedef struct {
    ngx_rbtree_node_t                 node;     /* key: hash of the key */
    ngx_queue_t                       queue;    /* by last use, roughly */
    ngx_msec_t                        created;
    ngx_msec_t                        expire;
    uint64_t                          state;    /* the user's */
    u_char                            kind;
    u_char                            pinned;   /* never evicted, expires */
    u_short                           len;
    u_char                            key[1];
} ngx_http_twilio_guard_entry_t;


typedef struct {
    /* the roots of the trees, one per bucket: hash & mask */
    ngx_rbtree_node_t               **roots;
    uint32_t                          mask;
    uint64_t                          seed;        /* of the hash */
    ngx_rbtree_node_t                 sentinel;    /* of all the trees */
    ngx_queue_t                       queue;
    ngx_uint_t                        entries;

    /* evictions: in all, and since the last report */
    ngx_uint_t                        evicted;
    ngx_uint_t                        evicted_recent;
    ngx_msec_t                        reported;    /* when last reported */
    ngx_msec_t                        youngest;    /* age of the youngest
                                                      evicted since then */

    /* entries that found no room even after eviction, for metrics */
    ngx_uint_t                        alloc_failed;
} ngx_http_twilio_guard_zone_sh_t;


typedef struct {
    ngx_http_twilio_guard_zone_sh_t  *sh;
    ngx_slab_pool_t                  *shpool;
    ngx_shm_zone_t                   *shm_zone;

    /* set by twilio_guard_zone; a zone only referred to has none */
    ngx_uint_t                        declared;

    /* where the zone was first referred to, for nginx -t */
    ngx_str_t                         ref_file;
    ngx_uint_t                        ref_line;
    const char                       *ref_directive;

    /* referred to by twilio_guard_replay */
    ngx_uint_t                        replay;

    /* a report due when the zone is unlocked */
    ngx_uint_t                        report;
    ngx_uint_t                        report_evicted;
    ngx_uint_t                        report_total;
    ngx_uint_t                        report_entries;
    ngx_msec_t                        report_youngest;
} ngx_http_twilio_guard_zone_t;


char *ngx_http_twilio_guard_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_shm_zone_t *ngx_http_twilio_guard_zone_ref(ngx_conf_t *cf,
    ngx_str_t *name, const char *directive);
ngx_int_t ngx_http_twilio_guard_zone_check(ngx_conf_t *cf,
    ngx_uint_t *replay);

void ngx_http_twilio_guard_zone_lock(ngx_http_twilio_guard_zone_t *zone);
void ngx_http_twilio_guard_zone_unlock(ngx_http_twilio_guard_zone_t *zone,
    ngx_log_t *log);

uint32_t ngx_http_twilio_guard_zone_hash(ngx_http_twilio_guard_zone_t *zone,
    u_char *key, size_t len);
ngx_http_twilio_guard_entry_t *ngx_http_twilio_guard_zone_lookup(
    ngx_http_twilio_guard_zone_t *zone, ngx_uint_t kind, u_char *key,
    size_t len, uint32_t hash);
ngx_http_twilio_guard_entry_t *ngx_http_twilio_guard_zone_insert(
    ngx_http_twilio_guard_zone_t *zone, ngx_uint_t kind, u_char *key,
    size_t len, uint32_t hash, ngx_msec_t ttl);
void ngx_http_twilio_guard_zone_touch(ngx_http_twilio_guard_zone_t *zone,
    ngx_http_twilio_guard_entry_t *entry);
void ngx_http_twilio_guard_zone_delete(ngx_http_twilio_guard_zone_t *zone,
    ngx_http_twilio_guard_entry_t *entry);


extern ngx_module_t   ngx_http_twilio_guard_module;


#endif /* _NGX_HTTP_TWILIO_GUARD_ZONE_H_INCLUDED_ */
