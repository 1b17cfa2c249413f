
/*
 * Copyright (C) ngx_twilio_guard authors
 */


#include "ngx_http_twilio_guard_zone.h"

#include <openssl/rand.h>


/* entries looked at from the LRU tail: to expire, and to evict */
#define NGX_HTTP_TWILIO_GUARD_EXPIRE_SCAN  3
#define NGX_HTTP_TWILIO_GUARD_EVICT_SCAN   64

/* entries used since they were queued put back at the head, at most */
#define NGX_HTTP_TWILIO_GUARD_REQUEUE_SCAN 1024

/* a bucket of hashes, with its tree, for every this many bytes of zone */
#define NGX_HTTP_TWILIO_GUARD_BUCKET_BYTES 512

/* evictions are reported at most this often */
#define NGX_HTTP_TWILIO_GUARD_REPORT       60000


static ngx_http_twilio_guard_zone_t *ngx_http_twilio_guard_zone_get(
    ngx_conf_t *cf, ngx_shm_zone_t *shm_zone);
static ngx_int_t ngx_http_twilio_guard_zone_init(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_twilio_guard_zone_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_inline void ngx_http_twilio_guard_zone_tree(
    ngx_http_twilio_guard_zone_sh_t *sh, uint32_t hash, ngx_rbtree_t *tree);
static ngx_inline void ngx_http_twilio_guard_zone_requeue(
    ngx_http_twilio_guard_zone_t *zone, ngx_http_twilio_guard_entry_t *entry);
static void ngx_http_twilio_guard_zone_expire(
    ngx_http_twilio_guard_zone_t *zone, ngx_msec_t now);
static ngx_uint_t ngx_http_twilio_guard_zone_evict(
    ngx_http_twilio_guard_zone_t *zone, ngx_msec_t now);
static void ngx_http_twilio_guard_zone_free(ngx_http_twilio_guard_zone_t *zone,
    ngx_http_twilio_guard_entry_t *entry);


/* twilio_guard_zone name:size; */

char *
ngx_http_twilio_guard_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char                        *p;
    ssize_t                        size;
    ngx_str_t                     *value, name, s;
    ngx_shm_zone_t                *shm_zone;
    ngx_http_twilio_guard_zone_t  *zone;

    value = cf->args->elts;

    p = (u_char *) ngx_strlchr(value[1].data, value[1].data + value[1].len,
                               ':');

    if (p == NULL || p == value[1].data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone \"%V\": write name:size, "
                           "e.g. \"twilio_guard_zone twilio:10m\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data;
    name.len = p - value[1].data;

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid size \"%V\" of zone \"%V\": write a "
                           "number of bytes, with k or m, e.g. 10m",
                           &s, &name);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small: %z bytes, at least "
                           "%uz are needed", &name, size, 8 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_twilio_guard_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone = ngx_http_twilio_guard_zone_get(cf, shm_zone);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (zone->declared) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate twilio_guard_zone \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    zone->declared = 1;
    shm_zone->init = ngx_http_twilio_guard_zone_init;

    return NGX_CONF_OK;
}


/*
 * A zone named by another directive (twilio_guard_replay zone=...), which
 * may come before twilio_guard_zone; ngx_http_twilio_guard_zone_check()
 * finds those never declared.
 */

ngx_shm_zone_t *
ngx_http_twilio_guard_zone_ref(ngx_conf_t *cf, ngx_str_t *name,
    const char *directive)
{
    ngx_shm_zone_t                *shm_zone;
    ngx_http_twilio_guard_zone_t  *zone;

    shm_zone = ngx_shared_memory_add(cf, name, 0,
                                     &ngx_http_twilio_guard_module);
    if (shm_zone == NULL) {
        return NULL;
    }

    zone = ngx_http_twilio_guard_zone_get(cf, shm_zone);
    if (zone == NULL) {
        return NULL;
    }

    if (zone->ref_line == 0) {
        zone->ref_file = cf->conf_file->file.name;
        zone->ref_line = cf->conf_file->line;
        zone->ref_directive = directive;
    }

    return shm_zone;
}


static ngx_http_twilio_guard_zone_t *
ngx_http_twilio_guard_zone_get(ngx_conf_t *cf, ngx_shm_zone_t *shm_zone)
{
    ngx_http_twilio_guard_zone_t  *zone;

    if (shm_zone->data) {
        return shm_zone->data;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_twilio_guard_zone_t));
    if (zone == NULL) {
        return NULL;
    }

    zone->shm_zone = shm_zone;
    shm_zone->data = zone;

    return zone;
}


/*
 * At the end of the http block: every zone referred to is declared.
 * Counts the zones twilio_guard_replay refers to.
 */

ngx_int_t
ngx_http_twilio_guard_zone_check(ngx_conf_t *cf, ngx_uint_t *replay)
{
    ngx_uint_t                     i;
    ngx_list_part_t               *part;
    ngx_shm_zone_t                *shm_zone;
    ngx_http_twilio_guard_zone_t  *zone;

    *replay = 0;

    part = &cf->cycle->shared_memory.part;
    shm_zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            shm_zone = part->elts;
            i = 0;
        }

        if (shm_zone[i].tag != &ngx_http_twilio_guard_module) {
            continue;
        }

        zone = shm_zone[i].data;

        if (zone == NULL) {
            continue;
        }

        if (zone->replay) {
            (*replay)++;
        }

        if (zone->declared) {
            continue;
        }

        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "unknown zone \"%V\" in \"%s\" in %V:%ui: declare it "
                      "in the http block with \"twilio_guard_zone %V:10m\"",
                      &shm_zone[i].shm.name, zone->ref_directive,
                      &zone->ref_file, zone->ref_line, &shm_zone[i].shm.name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * After a reload that keeps the zone's name and size, nginx passes the
 * old cycle's zone as data: its memory, and its entries, are kept.
 */

static ngx_int_t
ngx_http_twilio_guard_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_twilio_guard_zone_t  *ozone = data;

    size_t                         len;
    ngx_uint_t                     i, n;
    ngx_http_twilio_guard_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;
        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_alloc(zone->shpool,
                              sizeof(ngx_http_twilio_guard_zone_sh_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(zone->sh, sizeof(ngx_http_twilio_guard_zone_sh_t));

    zone->shpool->data = zone->sh;

    /*
     * buckets: a power of two, one per NGX_HTTP_TWILIO_GUARD_BUCKET_BYTES
     * (8 bytes of every 512 for the roots); a zone full of 128-byte
     * entries has about four in each tree
     */

    for (n = 1;
         n * 2 <= shm_zone->shm.size / NGX_HTTP_TWILIO_GUARD_BUCKET_BYTES;
         n *= 2)
    {
        /* void */
    }

    zone->sh->roots = ngx_slab_alloc(zone->shpool,
                                     n * sizeof(ngx_rbtree_node_t *));
    if (zone->sh->roots == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_sentinel_init(&zone->sh->sentinel);

    for (i = 0; i < n; i++) {
        zone->sh->roots[i] = &zone->sh->sentinel;
    }

    zone->sh->mask = (uint32_t) (n - 1);

    /* a secret seed: keys cannot be chosen to fill one bucket */

    if (RAND_bytes((u_char *) &zone->sh->seed, sizeof(uint64_t)) != 1) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "twilio_guard_zone \"%V\": RAND_bytes() failed",
                      &shm_zone->shm.name);
        return NGX_ERROR;
    }

    ngx_queue_init(&zone->sh->queue);

    len = sizeof(" in twilio_guard_zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in twilio_guard_zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is answered by eviction, not by a "no memory" line */
    zone->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_http_twilio_guard_zone_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t              **p;
    ngx_http_twilio_guard_entry_t   *e, *et;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            e = (ngx_http_twilio_guard_entry_t *) node;
            et = (ngx_http_twilio_guard_entry_t *) temp;

            if (e->kind != et->kind) {
                p = (e->kind < et->kind) ? &temp->left : &temp->right;

            } else {
                p = (ngx_memn2cmp(e->key, et->key, e->len, et->len) < 0)
                    ? &temp->left : &temp->right;
            }
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/*
 * The hash of a key in the zone: eight bytes at a time, each multiplied
 * in (under 1 instruction a byte; a CRC32 takes 5), from the zone's
 * secret seed, so that which keys share a bucket cannot be known from
 * outside.  The same in every worker, and across a reload that keeps the
 * zone.
 */

uint32_t
ngx_http_twilio_guard_zone_hash(ngx_http_twilio_guard_zone_t *zone,
    u_char *key, size_t len)
{
    size_t    i;
    uint32_t  a, b;
    uint64_t  h, w;

    h = zone->sh->seed ^ ((uint64_t) len * 0x9e3779b97f4a7c15ULL);

    if (len >= 8) {

        for ( /* void */ ; len > 8; key += 8, len -= 8) {
            ngx_memcpy(&w, key, 8);
            h = (h ^ w) * 0xff51afd7ed558ccdULL;
            h ^= h >> 32;
        }

        /* the last 8 bytes, some of them hashed already */
        ngx_memcpy(&w, key + len - 8, 8);

    } else if (len >= 4) {
        ngx_memcpy(&a, key, 4);
        ngx_memcpy(&b, key + len - 4, 4);
        w = ((uint64_t) a << 32) | b;

    } else {
        w = 0;

        for (i = 0; i < len; i++) {
            w = (w << 8) | key[i];
        }
    }

    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
    h *= 0xff51afd7ed558ccdULL;

    return (uint32_t) (h >> 32);
}


/*
 * The tree of a hash's bucket, to insert into or delete from; the caller
 * stores tree->root back into the bucket after.  No function pointer is
 * kept in shared memory.
 */

static ngx_inline void
ngx_http_twilio_guard_zone_tree(ngx_http_twilio_guard_zone_sh_t *sh,
    uint32_t hash, ngx_rbtree_t *tree)
{
    tree->root = sh->roots[hash & sh->mask];
    tree->sentinel = &sh->sentinel;
    tree->insert = ngx_http_twilio_guard_zone_insert_value;
}


void
ngx_http_twilio_guard_zone_lock(ngx_http_twilio_guard_zone_t *zone)
{
    ngx_shmtx_lock(&zone->shpool->mutex);
}


/* unlocks, then reports evictions if one is due */

void
ngx_http_twilio_guard_zone_unlock(ngx_http_twilio_guard_zone_t *zone,
    ngx_log_t *log)
{
    ngx_uint_t  report;

    report = zone->report;
    zone->report = 0;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (!report) {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "twilio_guard_zone \"%V\" is full: %ui entries evicted "
                  "in the last minute (%ui in all), the youngest %M ms "
                  "old, so entries are kept that long at least, not their "
                  "whole window; the zone holds %ui entries: make it larger",
                  &zone->shm_zone->shm.name, zone->report_evicted,
                  zone->report_total, zone->report_youngest,
                  zone->report_entries);
}


/* the entry of (kind, key), NULL if there is none or it has expired */

ngx_http_twilio_guard_entry_t *
ngx_http_twilio_guard_zone_lookup(ngx_http_twilio_guard_zone_t *zone,
    ngx_uint_t kind, u_char *key, size_t len, uint32_t hash)
{
    ngx_int_t                       rc;
    ngx_rbtree_node_t              *node, *sentinel;
    ngx_http_twilio_guard_entry_t  *e;

    node = zone->sh->roots[hash & zone->sh->mask];
    sentinel = &zone->sh->sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        /* hash == node->key */

        e = (ngx_http_twilio_guard_entry_t *) node;

        rc = (ngx_int_t) kind - (ngx_int_t) e->kind;

        if (rc == 0) {
            rc = ngx_memn2cmp(key, e->key, len, e->len);
        }

        if (rc == 0) {
            if ((ngx_msec_int_t) (e->expire - ngx_current_msec) <= 0) {
                ngx_http_twilio_guard_zone_free(zone, e);
                return NULL;
            }

            return e;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/*
 * A new entry, pinned, most recent in the LRU queue, living ttl ms; its
 * state is zero.  Frees expired entries first; when the zone is full,
 * evicts the oldest ones not pinned.  NULL if nothing could make room.
 */

ngx_http_twilio_guard_entry_t *
ngx_http_twilio_guard_zone_insert(ngx_http_twilio_guard_zone_t *zone,
    ngx_uint_t kind, u_char *key, size_t len, uint32_t hash, ngx_msec_t ttl)
{
    size_t                          size;
    ngx_msec_t                      now;
    ngx_rbtree_t                    tree;
    ngx_http_twilio_guard_entry_t  *e;

    if (len > NGX_HTTP_TWILIO_GUARD_KEY_MAX) {
        return NULL;
    }

    now = ngx_current_msec;
    size = offsetof(ngx_http_twilio_guard_entry_t, key) + len;

    ngx_http_twilio_guard_zone_expire(zone, now);

    for ( ;; ) {
        e = ngx_slab_alloc_locked(zone->shpool, size);

        if (e) {
            break;
        }

        if (!ngx_http_twilio_guard_zone_evict(zone, now)) {
            zone->sh->alloc_failed++;
            return NULL;
        }
    }

    e->node.key = hash;
    e->created = now;
    e->expire = now + ttl;
    e->state = 0;
    e->kind = (u_char) kind;
    e->pinned = 1;
    e->len = (u_short) len;
    ngx_memcpy(e->key, key, len);

    ngx_http_twilio_guard_zone_tree(zone->sh, hash, &tree);
    ngx_rbtree_insert(&tree, &e->node);
    zone->sh->roots[hash & zone->sh->mask] = tree.root;

    e->node.data = 0;
    ngx_queue_insert_head(&zone->sh->queue, &e->queue);

    zone->sh->entries++;

    return e;
}


/*
 * An entry used: marked, and moved to the head of the queue only when a
 * scan from the tail reaches it (see the entry's node.data).  Moving it
 * now would write into its two neighbours in the queue, most often not in
 * any cache when the zone holds many entries.
 *
 * A pinned entry (full=reject counters, replay entries) is moved now: it
 * leaves by expiry only, which looks from the tail, and its lifetime runs
 * from its last use.  Marked, it would stay where it was until a scan put
 * it at the head, ahead of entries used after it that expire later; once
 * expired it would be freed only after those, and a full zone would
 * refuse meanwhile (t/124 FINDING C).
 */

void
ngx_http_twilio_guard_zone_touch(ngx_http_twilio_guard_zone_t *zone,
    ngx_http_twilio_guard_entry_t *entry)
{
    if (entry->pinned) {
        ngx_queue_remove(&entry->queue);
        ngx_queue_insert_head(&zone->sh->queue, &entry->queue);
        return;
    }

    entry->node.data = 1;
}


/* an entry used since it was queued, found by a scan: to the head */

static ngx_inline void
ngx_http_twilio_guard_zone_requeue(ngx_http_twilio_guard_zone_t *zone,
    ngx_http_twilio_guard_entry_t *entry)
{
    entry->node.data = 0;
    ngx_queue_remove(&entry->queue);
    ngx_queue_insert_head(&zone->sh->queue, &entry->queue);
}


void
ngx_http_twilio_guard_zone_delete(ngx_http_twilio_guard_zone_t *zone,
    ngx_http_twilio_guard_entry_t *entry)
{
    ngx_http_twilio_guard_zone_free(zone, entry);
}


/*
 * Expiry on allocation: the few entries at the tail, if their time is up;
 * one used since it was queued goes back to the head.
 */

static void
ngx_http_twilio_guard_zone_expire(ngx_http_twilio_guard_zone_t *zone,
    ngx_msec_t now)
{
    ngx_uint_t                      n;
    ngx_queue_t                    *q;
    ngx_http_twilio_guard_entry_t  *e;

    for (n = 0; n < NGX_HTTP_TWILIO_GUARD_EXPIRE_SCAN; n++) {

        if (ngx_queue_empty(&zone->sh->queue)) {
            return;
        }

        q = ngx_queue_last(&zone->sh->queue);
        e = ngx_queue_data(q, ngx_http_twilio_guard_entry_t, queue);

        if ((ngx_msec_int_t) (e->expire - now) <= 0) {
            ngx_http_twilio_guard_zone_free(zone, e);
            continue;
        }

        if (!e->node.data) {
            return;
        }

        ngx_http_twilio_guard_zone_requeue(zone, e);
    }
}


/*
 * The zone is full: frees one entry from the queue's tail, an expired one,
 * or else the least recently used one not pinned (an entry used since it
 * was queued goes back to the head instead), which is counted as an
 * eviction (reported at most once a minute, with the age of the youngest
 * evicted: the window the zone really keeps).  Returns 0 if nothing could
 * be freed.
 */

static ngx_uint_t
ngx_http_twilio_guard_zone_evict(ngx_http_twilio_guard_zone_t *zone,
    ngx_msec_t now)
{
    ngx_uint_t                        n, requeued;
    ngx_msec_t                        age;
    ngx_queue_t                      *q;
    ngx_http_twilio_guard_entry_t    *e;
    ngx_http_twilio_guard_zone_sh_t  *sh;

    sh = zone->sh;
    q = ngx_queue_last(&sh->queue);
    requeued = 0;

    for (n = 0; n < NGX_HTTP_TWILIO_GUARD_EVICT_SCAN; /* void */ ) {

        if (q == ngx_queue_sentinel(&sh->queue)) {
            return 0;
        }

        e = ngx_queue_data(q, ngx_http_twilio_guard_entry_t, queue);
        q = ngx_queue_prev(q);

        if ((ngx_msec_int_t) (e->expire - now) <= 0) {
            ngx_http_twilio_guard_zone_free(zone, e);
            return 1;
        }

        /*
         * a second chance, not counted as a step of the scan; so many in
         * one scan that it would take long, and the rest have none
         */

        if (e->node.data && requeued < NGX_HTTP_TWILIO_GUARD_REQUEUE_SCAN) {
            ngx_http_twilio_guard_zone_requeue(zone, e);
            requeued++;
            continue;
        }

        n++;

        if (e->pinned) {
            continue;
        }

        age = now - e->created;

        if (sh->evicted_recent == 0 || age < sh->youngest) {
            sh->youngest = age;
        }

        sh->evicted++;
        sh->evicted_recent++;

        ngx_http_twilio_guard_zone_free(zone, e);

        if (now - sh->reported >= NGX_HTTP_TWILIO_GUARD_REPORT
            || sh->evicted == sh->evicted_recent)
        {
            zone->report = 1;
            zone->report_evicted = sh->evicted_recent;
            zone->report_total = sh->evicted;
            zone->report_entries = sh->entries;
            zone->report_youngest = sh->youngest;

            sh->reported = now;
            sh->evicted_recent = 0;
        }

        return 1;
    }

    return 0;
}


static void
ngx_http_twilio_guard_zone_free(ngx_http_twilio_guard_zone_t *zone,
    ngx_http_twilio_guard_entry_t *entry)
{
    uint32_t      hash;
    ngx_rbtree_t  tree;

    hash = (uint32_t) entry->node.key;

    ngx_queue_remove(&entry->queue);

    ngx_http_twilio_guard_zone_tree(zone->sh, hash, &tree);
    ngx_rbtree_delete(&tree, &entry->node);
    zone->sh->roots[hash & zone->sh->mask] = tree.root;

    ngx_slab_free_locked(zone->shpool, entry);

    zone->sh->entries--;
}
