
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * twilio_guard_metrics: what the guard decided, for Prometheus.
 *
 * When the http block has a "twilio_guard_metrics" location (the
 * directive is read before any location is merged), every guarded
 * location registers, while the configuration is merged, a record under
 * its label (twilio_guard_metrics_label, or the location's
 * name): a counter per result and reason, one per auth token position,
 * and one per shared key id.  Locations with the same label share the
 * record.  The records are laid out once, at the end of the http block,
 * in a shared memory zone of the module's own; workers add to them with
 * ngx_atomic_fetch_add(), never with a lock.  A location with
 * twilio_guard_number (signed or not) has a record too, under the same
 * label: the SMS guard's verdicts, and which kind of limit refused.
 *
 * A reload keeps the counts of every label (and key id) that the new
 * configuration still has: when the layout is the same, the zone's
 * memory is kept as it is; when it changed, the new layout is written
 * next to the old one and the counts are copied over by label.  The old
 * arrays stay where they are until the next change of layout, so that
 * old workers finishing their requests never write into the new ones
 * (what they count after the copy is lost).  A restart starts at zero.
 */


#include "ngx_http_twilio_guard_metrics.h"
#include "ngx_http_twilio_guard_zone.h"


/* label values: raw bytes at most, escaped at most twice as many */
#define NGX_HTTP_TWILIO_GUARD_METRICS_RAW     128
#define NGX_HTTP_TWILIO_GUARD_METRICS_LABEL   256

#define NGX_HTTP_TWILIO_GUARD_ACCEPTED        0
#define NGX_HTTP_TWILIO_GUARD_REJECTED        1
#define NGX_HTTP_TWILIO_GUARD_DRY_RUN         2

/* what a record counts: signatures, numbers, or both */
#define NGX_HTTP_TWILIO_GUARD_METRICS_SIGNED  1
#define NGX_HTTP_TWILIO_GUARD_METRICS_NUMBER  2

/* the longest line, but for its label values */
#define NGX_HTTP_TWILIO_GUARD_METRICS_LINE    (128 + NGX_ATOMIC_T_LEN)


typedef struct {
    u_char                      label[NGX_HTTP_TWILIO_GUARD_METRICS_LABEL];
    size_t                      len;
    ngx_uint_t                  ntokens;
    ngx_uint_t                  what;
    ngx_atomic_t                requests[3][NGX_TWILIO_NREASONS];
    ngx_atomic_t                tokens[NGX_TWILIO_MAX_KEYS];
    ngx_atomic_t                numbers[3][NGX_TWILIO_NREASONS];
    ngx_atomic_t                limited[NGX_HTTP_TWILIO_GUARD_LIMIT_KINDS];
} ngx_http_twilio_guard_metrics_rec_t;


typedef struct {
    ngx_uint_t                  loc;
    u_char                      id[NGX_HTTP_TWILIO_GUARD_METRICS_LABEL];
    size_t                      len;
    ngx_atomic_t                matches;
} ngx_http_twilio_guard_metrics_key_t;


typedef struct {
    ngx_http_twilio_guard_metrics_rec_t  *locs;
    ngx_http_twilio_guard_metrics_key_t  *keys;

    /* the arrays before the last change of layout, for old workers */
    void                                 *retired_locs;
    void                                 *retired_keys;
} ngx_http_twilio_guard_metrics_sh_t;


/* the layout, at configuration time: shm_zone->data */

typedef struct {
    ngx_str_t                   label;         /* escaped */
    ngx_uint_t                  ntokens;
    ngx_uint_t                  what;
} ngx_http_twilio_guard_metrics_conf_loc_t;


typedef struct {
    ngx_uint_t                  loc;
    ngx_str_t                   id;            /* escaped */
} ngx_http_twilio_guard_metrics_conf_key_t;


typedef struct {
    ngx_array_t                 locs;          /* of ..._conf_loc_t */
    ngx_array_t                 keys;          /* of ..._conf_key_t */

    /* this cycle's arrays in the zone, once laid out */
    ngx_http_twilio_guard_metrics_rec_t  *rec;
    ngx_http_twilio_guard_metrics_key_t  *key;
} ngx_http_twilio_guard_metrics_t;


static ngx_http_twilio_guard_metrics_t *ngx_http_twilio_guard_metrics_get(
    ngx_conf_t *cf);
static ngx_http_twilio_guard_metrics_t *ngx_http_twilio_guard_metrics_find(
    ngx_cycle_t *cycle, ngx_shm_zone_t **zone);
static ngx_int_t ngx_http_twilio_guard_metrics_escape(ngx_conf_t *cf,
    ngx_str_t *raw, ngx_str_t *escaped);
static ngx_int_t ngx_http_twilio_guard_metrics_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);
static ngx_uint_t ngx_http_twilio_guard_metrics_same(
    ngx_http_twilio_guard_metrics_t *m, ngx_http_twilio_guard_metrics_t *old);
static void ngx_http_twilio_guard_metrics_copy(
    ngx_http_twilio_guard_metrics_t *m, ngx_http_twilio_guard_metrics_t *old);
static ngx_int_t ngx_http_twilio_guard_metrics_handler(ngx_http_request_t *r);
static size_t ngx_http_twilio_guard_metrics_size(
    ngx_http_twilio_guard_metrics_t *m);
static u_char *ngx_http_twilio_guard_metrics_write(u_char *p,
    ngx_http_twilio_guard_metrics_t *m);
static u_char *ngx_http_twilio_guard_metrics_write_numbers(u_char *p,
    ngx_http_twilio_guard_metrics_t *m);
static u_char *ngx_http_twilio_guard_metrics_zones(u_char *p, u_char *last);


/* the zone's name and tag: neither can meet a twilio_guard_zone */
static ngx_str_t  ngx_http_twilio_guard_metrics_name =
    ngx_string("twilio_guard_metrics (internal)");

static ngx_uint_t  ngx_http_twilio_guard_metrics_tag;


static const char  *ngx_http_twilio_guard_results[] = {
    "accepted", "rejected", "dry_run"
};


/* the reasons the SMS guard gives, shown for rejected and dry_run */
static ngx_uint_t  ngx_http_twilio_guard_number_reasons[] = {
    NGX_TWILIO_NUMBER_MISSING,
    NGX_TWILIO_NUMBER_AMBIGUOUS,
    NGX_TWILIO_NUMBER_INVALID,
    NGX_TWILIO_NUMBER_DENIED,
    NGX_TWILIO_LIMITED,
    NGX_TWILIO_LIMIT_UNAVAILABLE,
    NGX_TWILIO_BODY_TOO_LARGE,
    NGX_TWILIO_BODY_UNAVAILABLE
};

#define NGX_HTTP_TWILIO_GUARD_NUMBER_REASONS                                 \
    (sizeof(ngx_http_twilio_guard_number_reasons) / sizeof(ngx_uint_t))


/* key="..." of nginx_twilio_guard_limited_total, by LIMIT_* */
static const char  *ngx_http_twilio_guard_limit_kinds[] = {
    "number", "range", "region", "all", "var"
};


/* twilio_guard_metrics; */

char *
ngx_http_twilio_guard_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_twilio_guard_loc_conf_t *lcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (ngx_http_twilio_guard_metrics_get(cf) == NULL) {
        return NGX_CONF_ERROR;
    }

    /* a scrape is not a webhook: "twilio_guard on" is not inherited here */

    if (lcf->enable == NGX_CONF_UNSET) {
        lcf->enable = 0;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_twilio_guard_metrics_handler;

    return NGX_CONF_OK;
}


/* twilio_guard_metrics_label NAME; */

char *
ngx_http_twilio_guard_metrics_label(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_twilio_guard_loc_conf_t *lcf = conf;

    ngx_str_t  *value;

    if (lcf->metrics_label.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > NGX_HTTP_TWILIO_GUARD_METRICS_RAW)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "twilio_guard_metrics_label \"%V\" must have 1 "
                           "to %d bytes: a short name for the location, "
                           "e.g. \"sms\"", &value[1],
                           NGX_HTTP_TWILIO_GUARD_METRICS_RAW);
        return NGX_CONF_ERROR;
    }

    lcf->metrics_label = value[1];

    return NGX_CONF_OK;
}


/*
 * While merging a guarded location: its record under its label, and a
 * slot for each of its shared keys.
 */

ngx_int_t
ngx_http_twilio_guard_metrics_add(ngx_conf_t *cf,
    ngx_http_twilio_guard_loc_conf_t *lcf)
{
    ngx_str_t                                 label, id;
    ngx_uint_t                                i, j, n, ntokens;
    ngx_http_core_loc_conf_t                 *clcf;
    ngx_http_twilio_guard_metrics_t          *m;
    ngx_http_twilio_guard_shared_key_t       *sk;
    ngx_http_twilio_guard_metrics_loc_t      *ml;
    ngx_http_twilio_guard_metrics_conf_loc_t *loc;
    ngx_http_twilio_guard_metrics_conf_key_t *key;

    label = lcf->metrics_label;

    if (label.len == 0) {
        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
        label = clcf->name;

        if (label.len == 0) {
            /* a server's own level: no location of its own to count */
            return NGX_OK;
        }

        if (label.len > NGX_HTTP_TWILIO_GUARD_METRICS_RAW) {
            label.len = NGX_HTTP_TWILIO_GUARD_METRICS_RAW;
        }
    }

    /* nothing is counted unless a location serves the counts */

    m = ngx_http_twilio_guard_metrics_find(cf->cycle, NULL);
    if (m == NULL) {
        return NGX_OK;
    }

    if (ngx_http_twilio_guard_metrics_escape(cf, &label, &label) != NGX_OK) {
        return NGX_ERROR;
    }

    ml = ngx_pcalloc(cf->pool, sizeof(ngx_http_twilio_guard_metrics_loc_t));
    if (ml == NULL) {
        return NGX_ERROR;
    }

    ml->metrics = m;

    /* a location that only checks numbers has no keys to count */
    ntokens = (lcf->enable && lcf->keys) ? lcf->keys->nelts : 0;

    loc = m->locs.elts;

    for (i = 0; i < m->locs.nelts; i++) {
        if (loc[i].label.len == label.len
            && ngx_strncmp(loc[i].label.data, label.data, label.len) == 0)
        {
            break;
        }
    }

    if (i == m->locs.nelts) {
        loc = ngx_array_push(&m->locs);
        if (loc == NULL) {
            return NGX_ERROR;
        }

        loc->label = label;
        loc->ntokens = 0;
        loc->what = 0;

    } else {
        loc = &loc[i];
    }

    loc->ntokens = ngx_max(loc->ntokens,
                           ngx_min(ntokens, NGX_TWILIO_MAX_KEYS));
    ml->loc = i;

    if (lcf->enable) {
        loc->what |= NGX_HTTP_TWILIO_GUARD_METRICS_SIGNED;
    }

    n = (lcf->enable && lcf->shared_keys) ? lcf->shared_keys->nelts : 0;

    if (n) {
        ml->keys = ngx_palloc(cf->pool, n * sizeof(ngx_uint_t));
        if (ml->keys == NULL) {
            return NGX_ERROR;
        }

        sk = lcf->shared_keys->elts;

        for (j = 0; j < n; j++) {

            id = sk[j].id;

            if (id.len > NGX_HTTP_TWILIO_GUARD_METRICS_RAW) {
                id.len = NGX_HTTP_TWILIO_GUARD_METRICS_RAW;
            }

            if (ngx_http_twilio_guard_metrics_escape(cf, &id, &id) != NGX_OK) {
                return NGX_ERROR;
            }

            key = m->keys.elts;

            for (i = 0; i < m->keys.nelts; i++) {
                if (key[i].loc == ml->loc
                    && key[i].id.len == id.len
                    && ngx_strncmp(key[i].id.data, id.data, id.len) == 0)
                {
                    break;
                }
            }

            if (i == m->keys.nelts) {
                key = ngx_array_push(&m->keys);
                if (key == NULL) {
                    return NGX_ERROR;
                }

                key->loc = ml->loc;
                key->id = id;
            }

            ml->keys[j] = i;
        }
    }

    lcf->metrics = ml;

    return NGX_OK;
}


/*
 * While merging a location with twilio_guard_number (the SMS module
 * merges after this one, so lcf is merged): the record of its label,
 * the one of "twilio_guard on" if the location has it.
 */

ngx_int_t
ngx_http_twilio_guard_metrics_add_number(ngx_conf_t *cf,
    ngx_http_twilio_guard_loc_conf_t *lcf)
{
    ngx_http_twilio_guard_metrics_t           *m;
    ngx_http_twilio_guard_metrics_loc_t       *ml;
    ngx_http_twilio_guard_metrics_conf_loc_t  *loc;

    if (lcf->metrics == NULL
        && ngx_http_twilio_guard_metrics_add(cf, lcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ml = lcf->metrics;

    if (ml == NULL) {
        /* no metrics location, or a server's own level */
        return NGX_OK;
    }

    m = ml->metrics;
    loc = m->locs.elts;
    loc[ml->loc].what |= NGX_HTTP_TWILIO_GUARD_METRICS_NUMBER;

    return NGX_OK;
}


/* the layout is known: the zone's size */

ngx_int_t
ngx_http_twilio_guard_metrics_init(ngx_conf_t *cf)
{
    size_t                            size;
    ngx_shm_zone_t                   *shm_zone;
    ngx_http_twilio_guard_metrics_t  *m;

    m = ngx_http_twilio_guard_metrics_find(cf->cycle, &shm_zone);
    if (m == NULL) {
        return NGX_OK;
    }

    size = sizeof(ngx_http_twilio_guard_metrics_sh_t)
           + m->locs.nelts * sizeof(ngx_http_twilio_guard_metrics_rec_t)
           + m->keys.nelts * sizeof(ngx_http_twilio_guard_metrics_key_t);

    /*
     * room for two layouts (the old workers' and the new ones'), rounded
     * up to 64k so that most changes of layout keep the zone's memory
     */

    size = ngx_align(2 * size + 16 * ngx_pagesize, 65536);

    shm_zone->shm.size = size;
    shm_zone->init = ngx_http_twilio_guard_metrics_init_zone;

    return NGX_OK;
}


static ngx_http_twilio_guard_metrics_t *
ngx_http_twilio_guard_metrics_get(ngx_conf_t *cf)
{
    ngx_shm_zone_t                   *shm_zone;
    ngx_http_twilio_guard_metrics_t  *m;

    shm_zone = ngx_shared_memory_add(cf, &ngx_http_twilio_guard_metrics_name,
                                     0, &ngx_http_twilio_guard_metrics_tag);
    if (shm_zone == NULL) {
        return NULL;
    }

    if (shm_zone->data) {
        return shm_zone->data;
    }

    m = ngx_pcalloc(cf->pool, sizeof(ngx_http_twilio_guard_metrics_t));
    if (m == NULL) {
        return NULL;
    }

    if (ngx_array_init(&m->locs, cf->pool, 4,
                       sizeof(ngx_http_twilio_guard_metrics_conf_loc_t))
        != NGX_OK
        || ngx_array_init(&m->keys, cf->pool, 4,
                          sizeof(ngx_http_twilio_guard_metrics_conf_key_t))
           != NGX_OK)
    {
        return NULL;
    }

    shm_zone->data = m;

    return m;
}


/* the metrics of a cycle, if it has any */

static ngx_http_twilio_guard_metrics_t *
ngx_http_twilio_guard_metrics_find(ngx_cycle_t *cycle, ngx_shm_zone_t **zone)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_shm_zone_t   *shm_zone;

    part = &cycle->shared_memory.part;
    shm_zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            shm_zone = part->elts;
            i = 0;
        }

        if (shm_zone[i].tag == &ngx_http_twilio_guard_metrics_tag
            && shm_zone[i].data)
        {
            if (zone) {
                *zone = &shm_zone[i];
            }

            return shm_zone[i].data;
        }
    }
}


static ngx_int_t
ngx_http_twilio_guard_metrics_escape(ngx_conf_t *cf, ngx_str_t *raw,
    ngx_str_t *escaped)
{
    u_char  *p;

    p = ngx_pnalloc(cf->pool, 2 * raw->len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    escaped->len = ngx_twilio_label_escape(p, raw->data, raw->len);
    escaped->data = p;

    return NGX_OK;
}


/*
 * In the master, for each configuration loaded.  data is the old
 * cycle's layout when nginx kept the zone's memory (same size); when it
 * did not, the old cycle (ngx_cycle, still) may have one in its own
 * memory, mapped until the new cycle is up.
 */

static ngx_int_t
ngx_http_twilio_guard_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_twilio_guard_metrics_t *old = data;

    ngx_uint_t                            i, nlocs, nkeys;
    ngx_slab_pool_t                      *shpool;
    ngx_http_twilio_guard_metrics_t      *m;
    ngx_http_twilio_guard_metrics_sh_t   *sh;
    ngx_http_twilio_guard_metrics_key_t  *key;
    ngx_http_twilio_guard_metrics_rec_t  *rec;
    ngx_http_twilio_guard_metrics_conf_key_t  *ckey;
    ngx_http_twilio_guard_metrics_conf_loc_t  *cloc;

    m = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    nlocs = m->locs.nelts;
    nkeys = m->keys.nelts;

    if (old) {
        sh = shpool->data;

        if (ngx_http_twilio_guard_metrics_same(m, old)) {
            m->rec = old->rec;
            m->key = old->key;
            return NGX_OK;
        }

        /* the layout before the old one has no worker left to write it */

        if (sh->retired_locs) {
            ngx_slab_free(shpool, sh->retired_locs);
        }

        if (sh->retired_keys) {
            ngx_slab_free(shpool, sh->retired_keys);
        }

        sh->retired_locs = sh->locs;
        sh->retired_keys = sh->keys;

    } else {
        old = ngx_http_twilio_guard_metrics_find((ngx_cycle_t *) ngx_cycle,
                                                 NULL);
        if (old && old->rec == NULL && old->key == NULL) {
            old = NULL;
        }

        sh = ngx_slab_alloc(shpool,
                            sizeof(ngx_http_twilio_guard_metrics_sh_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(sh, sizeof(ngx_http_twilio_guard_metrics_sh_t));
        shpool->data = sh;
    }

    sh->locs = NULL;
    sh->keys = NULL;

    if (nlocs) {
        rec = ngx_slab_alloc(shpool, nlocs * sizeof(*rec));
        if (rec == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(rec, nlocs * sizeof(*rec));

        cloc = m->locs.elts;

        for (i = 0; i < nlocs; i++) {
            ngx_memcpy(rec[i].label, cloc[i].label.data, cloc[i].label.len);
            rec[i].len = cloc[i].label.len;
            rec[i].ntokens = cloc[i].ntokens;
            rec[i].what = cloc[i].what;
        }

        sh->locs = rec;
        m->rec = rec;
    }

    if (nkeys) {
        key = ngx_slab_alloc(shpool, nkeys * sizeof(*key));
        if (key == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(key, nkeys * sizeof(*key));

        ckey = m->keys.elts;

        for (i = 0; i < nkeys; i++) {
            key[i].loc = ckey[i].loc;
            ngx_memcpy(key[i].id, ckey[i].id.data, ckey[i].id.len);
            key[i].len = ckey[i].id.len;
        }

        sh->keys = key;
        m->key = key;
    }

    if (old) {
        ngx_http_twilio_guard_metrics_copy(m, old);
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_twilio_guard_metrics_same(ngx_http_twilio_guard_metrics_t *m,
    ngx_http_twilio_guard_metrics_t *old)
{
    ngx_uint_t                                 i;
    ngx_http_twilio_guard_metrics_conf_loc_t  *loc, *oloc;
    ngx_http_twilio_guard_metrics_conf_key_t  *key, *okey;

    if (m->locs.nelts != old->locs.nelts || m->keys.nelts != old->keys.nelts)
    {
        return 0;
    }

    loc = m->locs.elts;
    oloc = old->locs.elts;

    for (i = 0; i < m->locs.nelts; i++) {
        if (loc[i].ntokens != oloc[i].ntokens
            || loc[i].what != oloc[i].what
            || loc[i].label.len != oloc[i].label.len
            || ngx_strncmp(loc[i].label.data, oloc[i].label.data,
                           loc[i].label.len) != 0)
        {
            return 0;
        }
    }

    key = m->keys.elts;
    okey = old->keys.elts;

    for (i = 0; i < m->keys.nelts; i++) {
        if (key[i].loc != okey[i].loc
            || key[i].id.len != okey[i].id.len
            || ngx_strncmp(key[i].id.data, okey[i].id.data, key[i].id.len)
               != 0)
        {
            return 0;
        }
    }

    return 1;
}


/* the old counts to the new layout, matched by label (and key id) */

static void
ngx_http_twilio_guard_metrics_copy(ngx_http_twilio_guard_metrics_t *m,
    ngx_http_twilio_guard_metrics_t *old)
{
    ngx_uint_t                            i, j, k, n, *map;
    ngx_http_twilio_guard_metrics_key_t  *key, *okey;
    ngx_http_twilio_guard_metrics_rec_t  *rec, *orec;

    n = old->locs.nelts;

    if (n == 0 || old->rec == NULL) {
        return;
    }

    /* old location index -> new one, or none */

    map = ngx_alloc(n * sizeof(ngx_uint_t), ngx_cycle->log);
    if (map == NULL) {
        return;
    }

    rec = m->rec;
    orec = old->rec;

    for (j = 0; j < n; j++) {
        map[j] = NGX_CONF_UNSET_UINT;

        for (i = 0; i < m->locs.nelts; i++) {
            if (rec[i].len == orec[j].len
                && ngx_memcmp(rec[i].label, orec[j].label, rec[i].len) == 0)
            {
                map[j] = i;
                ngx_memcpy((void *) rec[i].requests,
                           (void *) orec[j].requests,
                           sizeof(rec[i].requests));
                ngx_memcpy((void *) rec[i].numbers,
                           (void *) orec[j].numbers,
                           sizeof(rec[i].numbers));
                ngx_memcpy((void *) rec[i].limited,
                           (void *) orec[j].limited,
                           sizeof(rec[i].limited));

                for (k = 0; k < ngx_min(rec[i].ntokens, orec[j].ntokens);
                     k++)
                {
                    rec[i].tokens[k] = orec[j].tokens[k];
                }

                break;
            }
        }
    }

    key = m->key;
    okey = old->key;

    for (j = 0; key && okey && j < old->keys.nelts; j++) {

        if (okey[j].loc >= n || map[okey[j].loc] == NGX_CONF_UNSET_UINT) {
            continue;
        }

        for (i = 0; i < m->keys.nelts; i++) {
            if (key[i].loc == map[okey[j].loc]
                && key[i].len == okey[j].len
                && ngx_memcmp(key[i].id, okey[j].id, key[i].len) == 0)
            {
                key[i].matches = okey[j].matches;
                break;
            }
        }
    }

    ngx_free(map);
}


/*
 * A verdict: called once where a request's reason is first set, with
 * the configuration that decided.  No lock: an atomic addition to a slot
 * laid out at configuration time.
 */

void
ngx_http_twilio_guard_metrics_count(ngx_http_twilio_guard_loc_conf_t *lcf,
    ngx_uint_t reason)
{
    ngx_uint_t                            result;
    ngx_http_twilio_guard_metrics_t      *m;
    ngx_http_twilio_guard_metrics_loc_t  *ml;

    ml = lcf->metrics;

    if (ml == NULL || reason >= NGX_TWILIO_NREASONS) {
        return;
    }

    m = ml->metrics;

    if (m->rec == NULL) {
        return;
    }

    if (reason == NGX_TWILIO_OK) {
        result = NGX_HTTP_TWILIO_GUARD_ACCEPTED;

    } else if (lcf->dry_run) {
        result = NGX_HTTP_TWILIO_GUARD_DRY_RUN;

    } else {
        result = NGX_HTTP_TWILIO_GUARD_REJECTED;
    }

    (void) ngx_atomic_fetch_add(&m->rec[ml->loc].requests[result][reason], 1);
}


/*
 * The SMS guard's verdict: called once per request where it is final,
 * with the signature module's configuration of the location (its
 * record), the SMS guard's dry run, and for "limited" which kind of
 * limit refused (LIMIT_*; LIMIT_KINDS otherwise).  No lock.
 */

void
ngx_http_twilio_guard_metrics_number(ngx_http_twilio_guard_loc_conf_t *lcf,
    ngx_uint_t reason, ngx_uint_t dry_run, ngx_uint_t limit)
{
    ngx_uint_t                            result;
    ngx_http_twilio_guard_metrics_t      *m;
    ngx_http_twilio_guard_metrics_loc_t  *ml;
    ngx_http_twilio_guard_metrics_rec_t  *rec;

    ml = lcf->metrics;

    if (ml == NULL || reason >= NGX_TWILIO_NREASONS) {
        return;
    }

    m = ml->metrics;

    if (m->rec == NULL) {
        return;
    }

    rec = &m->rec[ml->loc];

    if (reason == NGX_TWILIO_OK) {
        result = NGX_HTTP_TWILIO_GUARD_ACCEPTED;

    } else if (dry_run) {
        result = NGX_HTTP_TWILIO_GUARD_DRY_RUN;

    } else {
        result = NGX_HTTP_TWILIO_GUARD_REJECTED;
    }

    (void) ngx_atomic_fetch_add(&rec->numbers[result][reason], 1);

    if (reason == NGX_TWILIO_LIMITED
        && limit < NGX_HTTP_TWILIO_GUARD_LIMIT_KINDS)
    {
        (void) ngx_atomic_fetch_add(&rec->limited[limit], 1);
    }
}


/* the signature matched, under auth token number key or a shared key */

void
ngx_http_twilio_guard_metrics_key(ngx_http_twilio_guard_ctx_t *ctx,
    ngx_uint_t key)
{
    ngx_uint_t                            i;
    ngx_http_twilio_guard_metrics_t      *m;
    ngx_http_twilio_guard_shared_key_t   *sk;
    ngx_http_twilio_guard_metrics_loc_t  *ml;

    ml = ctx->conf->metrics;

    if (ml == NULL) {
        return;
    }

    m = ml->metrics;

    if (!ctx->shared_key) {
        if (m->rec && key < m->rec[ml->loc].ntokens) {
            (void) ngx_atomic_fetch_add(&m->rec[ml->loc].tokens[key], 1);
        }

        return;
    }

    if (m->key == NULL || ml->keys == NULL) {
        return;
    }

    /* the key that signed is the one whose id the request named */

    sk = ctx->conf->shared_keys->elts;

    for (i = 0; i < ctx->conf->shared_keys->nelts; i++) {
        if (sk[i].id.data == ctx->key_label.data) {
            (void) ngx_atomic_fetch_add(&m->key[ml->keys[i]].matches, 1);
            return;
        }
    }
}


/*
 * The content handler of "twilio_guard_metrics": the counts of all
 * workers, read from the zone without a lock (each value is read whole;
 * values read at slightly different moments are what a scrape is).
 */

static ngx_int_t
ngx_http_twilio_guard_metrics_handler(ngx_http_request_t *r)
{
    size_t                            size;
    ngx_int_t                         rc;
    ngx_buf_t                        *b;
    ngx_chain_t                       out;
    ngx_http_twilio_guard_metrics_t  *m;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    m = ngx_http_twilio_guard_metrics_find((ngx_cycle_t *) ngx_cycle, NULL);

    size = ngx_http_twilio_guard_metrics_size(m);

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_http_twilio_guard_metrics_write(b->last, m);
    b->last = ngx_http_twilio_guard_metrics_zones(b->last, b->end);

    ngx_str_set(&r->headers_out.content_type, "text/plain; version=0.0.4");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* HELP and TYPE lines */

#define NGX_HTTP_TWILIO_GUARD_METRICS_HEAD                                   \
    "# HELP nginx_twilio_guard_requests_total Requests the guard decided, "  \
    "by location, result and reason.\n"                                      \
    "# TYPE nginx_twilio_guard_requests_total counter\n"

#define NGX_HTTP_TWILIO_GUARD_METRICS_NUMBERS                                \
    "# HELP nginx_twilio_guard_number_requests_total Requests the SMS "     \
    "guard decided, by location, result and reason.\n"                      \
    "# TYPE nginx_twilio_guard_number_requests_total counter\n"

#define NGX_HTTP_TWILIO_GUARD_METRICS_LIMITED                                \
    "# HELP nginx_twilio_guard_limited_total Numbers refused by a "         \
    "twilio_guard_limit, by location and kind of key.\n"                    \
    "# TYPE nginx_twilio_guard_limited_total counter\n"

#define NGX_HTTP_TWILIO_GUARD_METRICS_KEYS                                   \
    "# HELP nginx_twilio_guard_key_matches_total Signatures that matched, "  \
    "by auth token position or shared key id.\n"                             \
    "# TYPE nginx_twilio_guard_key_matches_total counter\n"

static ngx_str_t  ngx_http_twilio_guard_metrics_gauges[] = {
    ngx_string("# HELP nginx_twilio_guard_zone_entries Entries in use in a "
               "twilio_guard_zone.\n"
               "# TYPE nginx_twilio_guard_zone_entries gauge\n"),
    ngx_string("# HELP nginx_twilio_guard_zone_size_bytes Size of a "
               "twilio_guard_zone.\n"
               "# TYPE nginx_twilio_guard_zone_size_bytes gauge\n"),
    ngx_string("# HELP nginx_twilio_guard_zone_evictions_total Entries "
               "evicted from a full twilio_guard_zone.\n"
               "# TYPE nginx_twilio_guard_zone_evictions_total counter\n"),
    ngx_string("# HELP nginx_twilio_guard_zone_allocation_failures_total "
               "Entries a twilio_guard_zone had no room for.\n"
               "# TYPE nginx_twilio_guard_zone_allocation_failures_total "
               "counter\n")
};

static const char  *ngx_http_twilio_guard_metrics_gauge_names[] = {
    "nginx_twilio_guard_zone_entries",
    "nginx_twilio_guard_zone_size_bytes",
    "nginx_twilio_guard_zone_evictions_total",
    "nginx_twilio_guard_zone_allocation_failures_total"
};

/* zones shown, at most */
#define NGX_HTTP_TWILIO_GUARD_METRICS_ZONES  64


static size_t
ngx_http_twilio_guard_metrics_size(ngx_http_twilio_guard_metrics_t *m)
{
    size_t                                     size;
    ngx_uint_t                                 i;
    ngx_http_twilio_guard_metrics_conf_loc_t  *loc;
    ngx_http_twilio_guard_metrics_conf_key_t  *key;

    size = sizeof(NGX_HTTP_TWILIO_GUARD_METRICS_HEAD)
           + sizeof(NGX_HTTP_TWILIO_GUARD_METRICS_KEYS)
           + sizeof(NGX_HTTP_TWILIO_GUARD_METRICS_NUMBERS)
           + sizeof(NGX_HTTP_TWILIO_GUARD_METRICS_LIMITED)
           + ngx_http_twilio_guard_metrics_gauges[0].len
           + ngx_http_twilio_guard_metrics_gauges[1].len
           + ngx_http_twilio_guard_metrics_gauges[2].len
           + ngx_http_twilio_guard_metrics_gauges[3].len;

    if (m) {
        loc = m->locs.elts;

        for (i = 0; i < m->locs.nelts; i++) {
            size += (2 * NGX_TWILIO_NREASONS + loc[i].ntokens
                     + 1 + 2 * NGX_HTTP_TWILIO_GUARD_NUMBER_REASONS
                     + NGX_HTTP_TWILIO_GUARD_LIMIT_KINDS)
                    * (NGX_HTTP_TWILIO_GUARD_METRICS_LINE + loc[i].label.len);
        }

        key = m->keys.elts;

        for (i = 0; i < m->keys.nelts; i++) {
            size += NGX_HTTP_TWILIO_GUARD_METRICS_LINE
                    + loc[key[i].loc].label.len + key[i].id.len;
        }
    }

    /* the zones: written up to the buffer's end, at most */

    return size + NGX_HTTP_TWILIO_GUARD_METRICS_ZONES
                  * 4 * (NGX_HTTP_TWILIO_GUARD_METRICS_LINE
                         + NGX_HTTP_TWILIO_GUARD_METRICS_LABEL);
}


static u_char *
ngx_http_twilio_guard_metrics_write(u_char *p,
    ngx_http_twilio_guard_metrics_t *m)
{
    ngx_uint_t                            i, k, result, reason;
    ngx_http_twilio_guard_metrics_key_t  *key;
    ngx_http_twilio_guard_metrics_rec_t  *rec;

    p = ngx_cpymem(p, NGX_HTTP_TWILIO_GUARD_METRICS_HEAD,
                   sizeof(NGX_HTTP_TWILIO_GUARD_METRICS_HEAD) - 1);

    rec = m ? m->rec : NULL;

    for (i = 0; rec && i < m->locs.nelts; i++) {

        if (!(rec[i].what & NGX_HTTP_TWILIO_GUARD_METRICS_SIGNED)) {
            continue;
        }

        for (result = 0; result < 3; result++) {
            for (reason = 0; reason < NGX_TWILIO_NREASONS; reason++) {

                /* accepted is always ok, and ok always accepted */
                if ((result == NGX_HTTP_TWILIO_GUARD_ACCEPTED)
                    != (reason == NGX_TWILIO_OK))
                {
                    continue;
                }

                p = ngx_sprintf(p, "nginx_twilio_guard_requests_total"
                                "{location=\"%*s\",result=\"%s\","
                                "reason=\"%s\"} %uA\n",
                                rec[i].len, rec[i].label,
                                ngx_http_twilio_guard_results[result],
                                ngx_twilio_reason_names[reason],
                                rec[i].requests[result][reason]);
            }
        }
    }

    p = ngx_cpymem(p, NGX_HTTP_TWILIO_GUARD_METRICS_KEYS,
                   sizeof(NGX_HTTP_TWILIO_GUARD_METRICS_KEYS) - 1);

    for (i = 0; rec && i < m->locs.nelts; i++) {
        for (k = 0; k < rec[i].ntokens; k++) {
            p = ngx_sprintf(p, "nginx_twilio_guard_key_matches_total"
                            "{location=\"%*s\",token=\"%ui\"} %uA\n",
                            rec[i].len, rec[i].label, k + 1,
                            rec[i].tokens[k]);
        }
    }

    key = m ? m->key : NULL;

    for (i = 0; rec && key && i < m->keys.nelts; i++) {
        p = ngx_sprintf(p, "nginx_twilio_guard_key_matches_total"
                        "{location=\"%*s\",key=\"%*s\"} %uA\n",
                        rec[key[i].loc].len, rec[key[i].loc].label,
                        key[i].len, key[i].id, key[i].matches);
    }

    return ngx_http_twilio_guard_metrics_write_numbers(p, m);
}


/* the SMS guard's counters, for the records of number locations */

static u_char *
ngx_http_twilio_guard_metrics_write_numbers(u_char *p,
    ngx_http_twilio_guard_metrics_t *m)
{
    ngx_uint_t                            i, k, result, reason;
    ngx_http_twilio_guard_metrics_rec_t  *rec;

    p = ngx_cpymem(p, NGX_HTTP_TWILIO_GUARD_METRICS_NUMBERS,
                   sizeof(NGX_HTTP_TWILIO_GUARD_METRICS_NUMBERS) - 1);

    rec = m ? m->rec : NULL;

    for (i = 0; rec && i < m->locs.nelts; i++) {

        if (!(rec[i].what & NGX_HTTP_TWILIO_GUARD_METRICS_NUMBER)) {
            continue;
        }

        p = ngx_sprintf(p, "nginx_twilio_guard_number_requests_total"
                        "{location=\"%*s\",result=\"accepted\","
                        "reason=\"%s\"} %uA\n",
                        rec[i].len, rec[i].label,
                        ngx_twilio_reason_names[NGX_TWILIO_OK],
                        rec[i].numbers[NGX_HTTP_TWILIO_GUARD_ACCEPTED]
                                      [NGX_TWILIO_OK]);

        for (result = NGX_HTTP_TWILIO_GUARD_REJECTED; result < 3; result++) {
            for (k = 0; k < NGX_HTTP_TWILIO_GUARD_NUMBER_REASONS; k++) {

                reason = ngx_http_twilio_guard_number_reasons[k];

                p = ngx_sprintf(p, "nginx_twilio_guard_number_requests_total"
                                "{location=\"%*s\",result=\"%s\","
                                "reason=\"%s\"} %uA\n",
                                rec[i].len, rec[i].label,
                                ngx_http_twilio_guard_results[result],
                                ngx_twilio_reason_names[reason],
                                rec[i].numbers[result][reason]);
            }
        }
    }

    p = ngx_cpymem(p, NGX_HTTP_TWILIO_GUARD_METRICS_LIMITED,
                   sizeof(NGX_HTTP_TWILIO_GUARD_METRICS_LIMITED) - 1);

    for (i = 0; rec && i < m->locs.nelts; i++) {

        if (!(rec[i].what & NGX_HTTP_TWILIO_GUARD_METRICS_NUMBER)) {
            continue;
        }

        for (k = 0; k < NGX_HTTP_TWILIO_GUARD_LIMIT_KINDS; k++) {
            p = ngx_sprintf(p, "nginx_twilio_guard_limited_total"
                            "{location=\"%*s\",key=\"%s\"} %uA\n",
                            rec[i].len, rec[i].label,
                            ngx_http_twilio_guard_limit_kinds[k],
                            rec[i].limited[k]);
        }
    }

    return p;
}


/* the gauges of the twilio_guard_zone zones, read from their own state */

static u_char *
ngx_http_twilio_guard_metrics_zones(u_char *p, u_char *last)
{
    size_t                         len;
    u_char                         name[NGX_HTTP_TWILIO_GUARD_METRICS_LABEL];
    ngx_uint_t                     g, i, n, value;
    ngx_list_part_t               *part;
    ngx_shm_zone_t                *shm_zone;
    ngx_http_twilio_guard_zone_t  *zone;

    for (g = 0; g < 4; g++) {

        p = ngx_cpymem(p, ngx_http_twilio_guard_metrics_gauges[g].data,
                       ngx_http_twilio_guard_metrics_gauges[g].len);

        part = (ngx_list_part_t *) &ngx_cycle->shared_memory.part;
        shm_zone = part->elts;

        for (i = 0, n = 0; n < NGX_HTTP_TWILIO_GUARD_METRICS_ZONES; i++) {

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

            if (zone == NULL || zone->sh == NULL) {
                continue;
            }

            switch (g) {
            case 0:
                value = zone->sh->entries;
                break;
            case 1:
                value = shm_zone[i].shm.size;
                break;
            case 2:
                value = zone->sh->evicted;
                break;
            default:
                value = zone->sh->alloc_failed;
            }

            len = ngx_min(shm_zone[i].shm.name.len,
                          NGX_HTTP_TWILIO_GUARD_METRICS_RAW);
            len = ngx_twilio_label_escape(name, shm_zone[i].shm.name.data,
                                          len);

            p = ngx_slprintf(p, last, "%s{zone=\"%*s\"} %ui\n",
                             ngx_http_twilio_guard_metrics_gauge_names[g],
                             len, name, value);
            n++;
        }
    }

    return p;
}
