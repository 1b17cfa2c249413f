
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * The directives of the Twilio webhook guard: parsing, secret files,
 * address rules, and the checks made when configurations are merged.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twilio_guard_module.h"
#include "ngx_http_twilio_guard_replay.h"
#include "ngx_http_twilio_guard_zone.h"
#include "ngx_http_twilio_guard_metrics.h"


typedef struct {
    ngx_conf_t                         *cf;
    ngx_http_twilio_guard_loc_conf_t   *lcf;
    ngx_str_t                          *name;
    ngx_uint_t                          shared;  /* unsigned shared:1; */
} ngx_http_twilio_guard_file_ctx_t;


/* a line of a secret file, for messages about its entries */

typedef struct {
    const char                         *what;
    ngx_str_t                          *file;
    size_t                              line;
} ngx_http_twilio_guard_where_t;


/* an IPv4 range, first and last address in host order */

typedef struct {
    uint32_t                            start;
    uint32_t                            end;
} ngx_http_twilio_guard_range_t;


/*
 * The one rule for secret files, said the same way in every message, the
 * README and docs/directives.md.
 */

#define NGX_HTTP_TWILIO_GUARD_SECRET_RULE                                     \
    "secret files must be owned by root and readable by root only "           \
    "(chown root:root FILE; chmod 600 FILE), in directories that only root "  \
    "can write to"


static char *ngx_http_twilio_guard(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_twilio_guard_auth_token(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_twilio_guard_shared_key(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_twilio_guard_secret_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_twilio_guard_secret_path(ngx_conf_t *cf,
    ngx_str_t *name, const char *what, ngx_file_info_t *target,
    u_char *real);
static ngx_int_t ngx_http_twilio_guard_secret_component(ngx_conf_t *cf,
    ngx_str_t *name, const char *what, u_char *path, ngx_file_info_t *fi);
static char *ngx_http_twilio_guard_reject_status(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_twilio_guard_trusted_proxy(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_twilio_guard_rule(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_twilio_guard_ipv4_range(ngx_cidr_t *cidr,
    ngx_http_twilio_guard_range_t *range);
static ngx_int_t ngx_http_twilio_guard_ipv4_everyone(ngx_conf_t *cf,
    ngx_array_t *cidrs);
static int ngx_libc_cdecl ngx_http_twilio_guard_range_cmp(const void *one,
    const void *two);
static ngx_int_t ngx_http_twilio_guard_cidr(ngx_conf_t *cf,
    ngx_command_t *cmd, ngx_str_t *value, ngx_array_t *cidrs);
static ngx_int_t ngx_http_twilio_guard_add_token(ngx_conf_t *cf,
    ngx_http_twilio_guard_loc_conf_t *lcf, ngx_str_t *account_sid,
    ngx_str_t *token, ngx_http_twilio_guard_where_t *where);
static ngx_int_t ngx_http_twilio_guard_check_token(ngx_conf_t *cf,
    ngx_str_t *token, ngx_http_twilio_guard_where_t *where);
static ngx_int_t ngx_http_twilio_guard_add_shared_key(ngx_conf_t *cf,
    ngx_http_twilio_guard_loc_conf_t *lcf, ngx_str_t *id, ngx_str_t *secret,
    ngx_str_t *account_sid, ngx_http_twilio_guard_where_t *where);
static void ngx_http_twilio_guard_where_error(ngx_conf_t *cf,
    ngx_uint_t level, ngx_http_twilio_guard_where_t *where, const char *fmt,
    ...);
static void ngx_http_twilio_guard_keys_here(ngx_conf_t *cf,
    ngx_http_twilio_guard_loc_conf_t *lcf);
static ngx_int_t ngx_http_twilio_guard_count_keys(ngx_conf_t *cf,
    ngx_http_twilio_guard_loc_conf_t *conf);
static ngx_int_t ngx_http_twilio_guard_unbound_shared(ngx_conf_t *cf,
    ngx_http_twilio_guard_loc_conf_t *conf);
static int ngx_libc_cdecl ngx_http_twilio_guard_sid_cmp(const void *one,
    const void *two);
static void ngx_http_twilio_guard_check_location(ngx_conf_t *cf,
    ngx_http_twilio_guard_loc_conf_t *conf);
static char *ngx_http_twilio_guard_url(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_twilio_mac_t *ngx_http_twilio_guard_mac(ngx_conf_t *cf,
    ngx_int_t alg, ngx_str_t *secret);
static int ngx_http_twilio_guard_token_entry(void *data,
    ngx_twilio_str_t *first, ngx_twilio_str_t *second, size_t line);
static int ngx_http_twilio_guard_file_entry(void *data,
    ngx_twilio_str_t *first, ngx_twilio_str_t *second,
    ngx_twilio_str_t *account_sid, size_t line);
static void ngx_http_twilio_guard_mac_cleanup(void *data);


static ngx_conf_num_bounds_t  ngx_http_twilio_guard_max_params_bounds = {
    ngx_conf_check_num_bounds, 1, 65535
};


static ngx_str_t  ngx_http_twilio_guard_event_streams =
    ngx_string("35.90.102.128/25");


static ngx_conf_enum_t  ngx_http_twilio_guard_log_levels[] = {
    { ngx_string("info"), NGX_LOG_INFO },
    { ngx_string("notice"), NGX_LOG_NOTICE },
    { ngx_string("warn"), NGX_LOG_WARN },
    { ngx_string("error"), NGX_LOG_ERR },
    { ngx_null_string, 0 }
};


ngx_command_t  ngx_http_twilio_guard_commands[] = {

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
      ngx_http_twilio_guard_secret_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twilio_guard_shared_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE23,
      ngx_http_twilio_guard_shared_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twilio_guard_shared_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twilio_guard_secret_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      1,
      NULL },

    { ngx_string("twilio_guard_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twilio_guard_url,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twilio_guard_loc_conf_t, url),
      NULL },

    { ngx_string("twilio_guard_max_body"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twilio_guard_loc_conf_t, max_body),
      NULL },

    { ngx_string("twilio_guard_max_params"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twilio_guard_loc_conf_t, max_params),
      &ngx_http_twilio_guard_max_params_bounds },

    { ngx_string("twilio_guard_reject_status"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twilio_guard_reject_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twilio_guard_loc_conf_t, reject_status),
      NULL },

    { ngx_string("twilio_guard_https"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twilio_guard_loc_conf_t, https),
      NULL },

    { ngx_string("twilio_guard_forwarded_host"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twilio_guard_loc_conf_t, forwarded_host),
      NULL },

    { ngx_string("twilio_guard_dry_run"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twilio_guard_loc_conf_t, dry_run),
      NULL },

    { ngx_string("twilio_guard_trusted_proxy"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twilio_guard_trusted_proxy,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twilio_guard_allow"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twilio_guard_rule,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twilio_guard_deny"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twilio_guard_rule,
      NGX_HTTP_LOC_CONF_OFFSET,
      1,
      NULL },

    { ngx_string("twilio_guard_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twilio_guard_loc_conf_t, log_level),
      &ngx_http_twilio_guard_log_levels },

    { ngx_string("twilio_guard_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_twilio_guard_zone,
      0,
      0,
      NULL },

    { ngx_string("twilio_guard_replay"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_twilio_guard_replay,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twilio_guard_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_twilio_guard_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twilio_guard_metrics_label"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twilio_guard_metrics_label,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


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
    ngx_str_t  *value;

    value = cf->args->elts;

    if (!ngx_twilio_token_valid(value[1].data, value[1].len)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid token in \"%V\": a token must be 1 to "
                           "256 printable ASCII characters", &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_twilio_guard_add_token(cf, conf, NULL, &value[1], NULL)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_twilio_guard_shared_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_str_t  *value;

    value = cf->args->elts;

    if (!ngx_twilio_token_valid(value[1].data, value[1].len)
        || !ngx_twilio_token_valid(value[2].data, value[2].len))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid key id or secret in \"%V\": each must be "
                           "1 to 256 printable ASCII characters", &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 4
        && !ngx_twilio_account_sid_valid(value[3].data, value[3].len))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid account SID \"%V\" in \"%V\": the "
                           "account SID must be \"AC\" and 32 hex digits",
                           &value[3], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_twilio_guard_add_shared_key(cf, conf, &value[1], &value[2],
                                             cf->args->nelts == 4
                                             ? &value[3] : NULL,
                                             NULL)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * twilio_guard_auth_token_file (cmd->offset 0) and
 * twilio_guard_shared_key_file (1).  The file is read when the
 * configuration is loaded, so a reload picks up a rotated token.
 *
 * Its path is walked and checked first, without opening anything; then
 * the regular file the walk ended at is opened without following a link
 * and without blocking (a FIFO or a device there would hang "nginx -t",
 * start and reload), and must be the very file the walk checked.
 */

static char *
ngx_http_twilio_guard_secret_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_twilio_guard_loc_conf_t *lcf = conf;

    int                                rc;
    off_t                              size;
    size_t                             line;
    u_char                            *buf;
    ssize_t                            n;
    ngx_fd_t                           fd;
    ngx_str_t                         *value, name;
    ngx_uint_t                         count;
    ngx_file_t                         file;
    const char                        *err, *what;
    ngx_array_t                       *list;
    ngx_file_info_t                    fi, target;
    ngx_http_twilio_guard_file_ctx_t   fctx;
    u_char                             real[NGX_MAX_PATH + 1];

    value = cf->args->elts;
    name = value[1];
    what = cmd->offset ? "shared key" : "token";

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_twilio_guard_secret_path(cf, &name, what, &target, real)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(real, NGX_FILE_RDONLY|NGX_FILE_NONBLOCK|O_NOFOLLOW
                             |O_NOCTTY,
                       NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%s\" failed", real);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = name;
    file.log = cf->log;

    buf = NULL;
    size = 0;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", &name);
        goto failed;
    }

    if (!ngx_is_file(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s file \"%V\" is not a regular file",
                           what, &name);
        goto failed;
    }

    /* what is read must be what the path check approved */

    if (target.st_dev != fi.st_dev || target.st_ino != fi.st_ino) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s file \"%V\" was replaced while it was checked",
                           what, &name);
        goto failed;
    }

    if (ngx_file_access(&fi) & (S_IRWXG|S_IRWXO)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s file \"%V\" has mode 0%ui%ui%ui, so others "
                           "may read or change it: "
                           NGX_HTTP_TWILIO_GUARD_SECRET_RULE,
                           what, &name,
                           (ngx_uint_t) (ngx_file_access(&fi) >> 6) & 7,
                           (ngx_uint_t) (ngx_file_access(&fi) >> 3) & 7,
                           (ngx_uint_t) ngx_file_access(&fi) & 7);
        goto failed;
    }

    size = ngx_file_size(&fi);

    if (size > 1024 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s file \"%V\" is larger than 1M, the most it "
                           "may be: is it the right file?", what, &name);
        goto failed;
    }

    buf = ngx_alloc((size_t) size + 1, cf->log);
    if (buf == NULL) {
        goto failed;
    }

    n = ngx_read_file(&file, buf, (size_t) size, 0);

    if (n == NGX_ERROR) {
        goto failed;
    }

    list = cmd->offset ? lcf->shared_keys : lcf->keys;
    count = list ? list->nelts : 0;

    fctx.cf = cf;
    fctx.lcf = lcf;
    fctx.name = &name;
    fctx.shared = cmd->offset;

    if (cmd->offset) {
        rc = ngx_twilio_shared_keys_parse(buf, n,
                                          ngx_http_twilio_guard_file_entry,
                                          &fctx, &line, &err);

    } else {
        rc = ngx_twilio_tokens_parse(buf, n,
                                     ngx_http_twilio_guard_token_entry,
                                     &fctx, &line, &err);
    }

    if (rc != 0) {

        /* err is NULL when the entry handler has said what was wrong */

        if (err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid line %uz in %s file \"%V\": %s",
                               line, what, &name, err);
        }

        goto failed;
    }

    list = cmd->offset ? lcf->shared_keys : lcf->keys;

    if (list == NULL || list->nelts == count) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s file \"%V\" has no %s: add one per line",
                           what, &name, cmd->offset ? "key" : "token");
        goto failed;
    }

    ngx_explicit_memzero(buf, size);
    ngx_free(buf);
    ngx_close_file(fd);

    return NGX_CONF_OK;

failed:

    if (buf) {
        ngx_explicit_memzero(buf, size);
        ngx_free(buf);
    }

    ngx_close_file(fd);

    return NGX_CONF_ERROR;
}


/*
 * Who could have written a secret file: sshd's StrictModes, with symbolic
 * links followed one component at a time.  Every component met on the way
 * (directories, symbolic links and the file) must be owned by root or by
 * the user nginx's master runs as; no directory may be writable by group
 * or others unless it is sticky and owned by root, like /tmp (there only
 * an entry's owner may rename or remove it, and the next component's
 * owner is checked).  The path must end at a regular file: its
 * information is returned in target, and its path without symbolic links
 * in real (NGX_MAX_PATH + 1 bytes).
 */

static ngx_int_t
ngx_http_twilio_guard_secret_path(ngx_conf_t *cf, ngx_str_t *name,
    const char *what, ngx_file_info_t *target, u_char *real)
{
    u_char           *c, *end, *slash;
    size_t            plen, rlen, clen, tail;
    ssize_t           n;
    ngx_uint_t        links;
    ngx_file_info_t   fi;
    u_char            path[NGX_MAX_PATH + 1];
    u_char            rest[2 * NGX_MAX_PATH + 2];
    u_char            link[NGX_MAX_PATH + 1];

    if (name->len == 0 || name->data[0] != '/' || name->len > NGX_MAX_PATH) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s file \"%V\": use an absolute path", what,
                           name);
        return NGX_ERROR;
    }

    path[0] = '/';
    path[1] = '\0';
    plen = 1;

    if (ngx_link_info(path, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_link_info_n " \"/\" failed");
        return NGX_ERROR;
    }

    if (ngx_http_twilio_guard_secret_component(cf, name, what, path, &fi)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_memcpy(rest, name->data, name->len);
    rlen = name->len;
    c = rest;
    links = 0;

    for ( ;; ) {

        end = rest + rlen;

        while (c < end && *c == '/') {
            c++;
        }

        if (c == end) {
            break;
        }

        slash = ngx_strlchr(c, end, '/');
        clen = (slash ? slash : end) - c;

        if (clen == 1 && c[0] == '.') {
            c += clen;
            continue;
        }

        if (clen == 2 && c[0] == '.' && c[1] == '.') {
            /* path has no symbolic links: its parent was checked */
            while (plen > 1 && path[plen - 1] != '/') {
                plen--;
            }

            if (plen > 1) {
                plen--;
            }

            path[plen] = '\0';
            c += clen;
            continue;
        }

        if (plen + 1 + clen > NGX_MAX_PATH) {
            goto too_long;
        }

        if (plen > 1) {
            path[plen++] = '/';
        }

        ngx_memcpy(path + plen, c, clen);
        plen += clen;
        path[plen] = '\0';
        c += clen;

        if (ngx_link_info(path, &fi) == NGX_FILE_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                               ngx_link_info_n " \"%s\" failed", path);
            return NGX_ERROR;
        }

        if (ngx_http_twilio_guard_secret_component(cf, name, what, path, &fi)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ngx_is_link(&fi)) {

            if (++links > 40) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "%s file \"%V\": too many symbolic links",
                                   what, name);
                return NGX_ERROR;
            }

            n = readlink((char *) path, (char *) link, NGX_MAX_PATH);

            if (n == -1) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                                   "readlink() \"%s\" failed", path);
                return NGX_ERROR;
            }

            if (n == 0 || n == NGX_MAX_PATH) {
                goto too_long;
            }

            /* the link's own directory stays the current one */

            while (path[plen - 1] != '/') {
                plen--;
            }

            if (plen > 1) {
                plen--;
            }

            path[plen] = '\0';

            if (link[0] == '/') {
                plen = 1;
                path[1] = '\0';
            }

            /* what is left to walk: the link's text, then the rest */

            tail = end - c;

            if ((size_t) n + 1 + tail > sizeof(rest)) {
                goto too_long;
            }

            ngx_memmove(rest + n + 1, c, tail);
            ngx_memcpy(rest, link, n);
            rest[n] = '/';
            rlen = n + 1 + tail;
            c = rest;
            continue;
        }

        if (ngx_is_dir(&fi)) {
            continue;
        }

        /* the file itself: nothing may follow it */

        while (c < end && *c == '/') {
            c++;
        }

        if (c != end) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s file \"%V\": \"%s\" is not a directory",
                               what, name, path);
            return NGX_ERROR;
        }

        if (!ngx_is_file(&fi)) {
            break;
        }

        *target = fi;
        ngx_memcpy(real, path, plen + 1);

        return NGX_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "%s file \"%V\" is not a regular file", what, name);

    return NGX_ERROR;

too_long:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "%s file \"%V\": path too long", what, name);

    return NGX_ERROR;
}


/* one component of a secret file's path: its owner, and a directory's mode */

static ngx_int_t
ngx_http_twilio_guard_secret_component(ngx_conf_t *cf, ngx_str_t *name,
    const char *what, u_char *path, ngx_file_info_t *fi)
{
    ngx_uid_t   uid, euid;
    ngx_uint_t  mode;

    uid = fi->st_uid;
    euid = geteuid();

    if (uid != 0 && uid != euid) {

        if (euid == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s file \"%V\": \"%s\" is owned by uid %ui, "
                               "not root: " NGX_HTTP_TWILIO_GUARD_SECRET_RULE,
                               what, name, path, (ngx_uint_t) uid);

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s file \"%V\": \"%s\" is owned by uid %ui, "
                               "neither root nor uid %ui that nginx runs as: "
                               NGX_HTTP_TWILIO_GUARD_SECRET_RULE,
                               what, name, path, (ngx_uint_t) uid,
                               (ngx_uint_t) euid);
        }

        return NGX_ERROR;
    }

    mode = ngx_file_access(fi);

    if (ngx_is_dir(fi)
        && (mode & (S_IWGRP|S_IWOTH))
        && !((fi->st_mode & S_ISVTX) && uid == 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s file \"%V\" is under \"%s\" (mode 0%ui%ui%ui), "
                           "where others could replace it: "
                           NGX_HTTP_TWILIO_GUARD_SECRET_RULE,
                           what, name, path, (mode >> 6) & 7, (mode >> 3) & 7,
                           mode & 7);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static int
ngx_http_twilio_guard_token_entry(void *data, ngx_twilio_str_t *first,
    ngx_twilio_str_t *second, size_t line)
{
    return ngx_http_twilio_guard_file_entry(data, first, second, NULL, line);
}


/*
 * One entry of a secret file: (account SID or empty, token), or with
 * fctx->shared (key id, secret, account SID or empty).  Errors are logged
 * here, so the parser adds nothing.
 */

static int
ngx_http_twilio_guard_file_entry(void *data, ngx_twilio_str_t *first,
    ngx_twilio_str_t *second, ngx_twilio_str_t *account_sid, size_t line)
{
    ngx_http_twilio_guard_file_ctx_t *fctx = data;

    ngx_int_t                          rc;
    ngx_str_t                          one, two, sid;
    ngx_http_twilio_guard_where_t      where;

    one.data = first->data;
    one.len = first->len;
    two.data = second->data;
    two.len = second->len;
    sid.data = account_sid ? account_sid->data : NULL;
    sid.len = account_sid ? account_sid->len : 0;

    where.what = fctx->shared ? "shared key file" : "token file";
    where.file = fctx->name;
    where.line = line;

    if (fctx->shared) {
        rc = ngx_http_twilio_guard_add_shared_key(fctx->cf, fctx->lcf, &one,
                                                  &two, &sid, &where);

    } else {
        rc = ngx_http_twilio_guard_add_token(fctx->cf, fctx->lcf, &one, &two,
                                             &where);
    }

    return rc == NGX_OK ? 0 : -1;
}


/*
 * Twilio's auth tokens are 32 lowercase hex digits.  What cannot be one
 * (an account or API key SID, "ACCOUNT_SID:TOKEN") is refused; any other
 * string is accepted with a warning, as the examples of Twilio's own
 * documentation sign with "12345".  The token itself is never logged.
 */

static ngx_int_t
ngx_http_twilio_guard_check_token(ngx_conf_t *cf, ngx_str_t *token,
    ngx_http_twilio_guard_where_t *where)
{
    size_t       i;
    ngx_uint_t   upper, hex;
    const char  *wrong;

    wrong = NULL;

    if (token->len > 35 && token->data[34] == ':'
        && ngx_twilio_account_sid_valid(token->data, 34))
    {
        wrong = where
                ? "is \"ACCOUNT_SID:TOKEN\": separate the account SID and "
                  "the token with a space"
                : "is \"ACCOUNT_SID:TOKEN\": bind a token to an account in "
                  "a twilio_guard_auth_token_file, as \"ACCOUNT_SID TOKEN\"";

    } else if (token->len == 34
               && ((token->data[0] == 'A' && token->data[1] == 'C')
                   || (token->data[0] == 'S' && token->data[1] == 'K')))
    {
        for (i = 2; i < 34; i++) {
            if (ngx_hextoi(&token->data[i], 1) == NGX_ERROR) {
                break;
            }
        }

        if (i == 34) {
            wrong = token->data[0] == 'A'
                    ? "is an account SID, not an auth token: use the auth "
                      "token shown next to it in the Twilio Console"
                    : "is an API key SID: Twilio signs webhooks with the "
                      "account's auth token, use that";
        }
    }

    if (wrong) {
        ngx_http_twilio_guard_where_error(cf, NGX_LOG_EMERG, where,
                                          "the token %s", wrong);
        return NGX_ERROR;
    }

    upper = 0;
    hex = 0;

    for (i = 0; i < token->len; i++) {
        if (token->data[i] >= 'A' && token->data[i] <= 'F') {
            upper++;
        }

        if (ngx_hextoi(&token->data[i], 1) != NGX_ERROR) {
            hex++;
        }
    }

    if (token->len != 32 || hex != 32 || upper) {
        ngx_http_twilio_guard_where_error(cf, NGX_LOG_WARN, where,
                   "the token (%uz characters) is not 32 lowercase hex "
                   "digits like Twilio's auth tokens, so no request Twilio "
                   "signs will match it: copy the auth token from the "
                   "Twilio Console", token->len);
    }

    return NGX_OK;
}


/*
 * A message about a directive's argument (where is NULL) or a secret
 * file's line.
 */

static void
ngx_http_twilio_guard_where_error(ngx_conf_t *cf, ngx_uint_t level,
    ngx_http_twilio_guard_where_t *where, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;
    u_char    msg[NGX_MAX_ERROR_STR];

    if (where) {
        p = ngx_snprintf(msg, NGX_MAX_ERROR_STR, "line %uz of %s \"%V\": ",
                         where->line, where->what, where->file);

    } else {
        p = msg;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(p, msg + NGX_MAX_ERROR_STR, fmt, args);
    va_end(args);

    ngx_conf_log_error(level, cf, 0, "%*s", p - msg, msg);
}


static ngx_int_t
ngx_http_twilio_guard_add_token(ngx_conf_t *cf,
    ngx_http_twilio_guard_loc_conf_t *lcf, ngx_str_t *account_sid,
    ngx_str_t *token, ngx_http_twilio_guard_where_t *where)
{
    ngx_twilio_key_t  *key;

    if (ngx_http_twilio_guard_check_token(cf, token, where) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_twilio_guard_keys_here(cf, lcf);

    if (lcf->keys == NULL) {
        lcf->keys = ngx_array_create(cf->pool, 2, sizeof(ngx_twilio_key_t));
        if (lcf->keys == NULL) {
            return NGX_ERROR;
        }
    }

    key = ngx_array_push(lcf->keys);
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

    key->mac = ngx_http_twilio_guard_mac(cf, NGX_TWILIO_HMAC_SHA1, token);
    if (key->mac == NULL) {
        lcf->keys->nelts--;
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A shared key bound to an account (account_sid not empty) signs only
 * for that account, like a bound auth token.
 */

static ngx_int_t
ngx_http_twilio_guard_add_shared_key(ngx_conf_t *cf,
    ngx_http_twilio_guard_loc_conf_t *lcf, ngx_str_t *id, ngx_str_t *secret,
    ngx_str_t *account_sid, ngx_http_twilio_guard_where_t *where)
{
    ngx_uint_t                           i;
    ngx_http_twilio_guard_shared_key_t  *sk;

    ngx_http_twilio_guard_keys_here(cf, lcf);

    if (lcf->shared_keys == NULL) {
        lcf->shared_keys = ngx_array_create(cf->pool, 2,
                                 sizeof(ngx_http_twilio_guard_shared_key_t));
        if (lcf->shared_keys == NULL) {
            return NGX_ERROR;
        }
    }

    sk = lcf->shared_keys->elts;

    for (i = 0; i < lcf->shared_keys->nelts; i++) {
        if (sk[i].id.len == id->len
            && ngx_strncmp(sk[i].id.data, id->data, id->len) == 0)
        {
            ngx_http_twilio_guard_where_error(cf, NGX_LOG_EMERG, where,
                                              "duplicate shared key id "
                                              "\"%V\": give each key its "
                                              "own id", id);
            return NGX_ERROR;
        }
    }

    sk = ngx_array_push(lcf->shared_keys);
    if (sk == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(sk, sizeof(ngx_http_twilio_guard_shared_key_t));

    sk->id.data = ngx_pstrdup(cf->pool, id);
    if (sk->id.data == NULL) {
        return NGX_ERROR;
    }

    sk->id.len = id->len;

    if (account_sid && account_sid->len) {
        sk->key.account_sid.data = ngx_pstrdup(cf->pool, account_sid);
        if (sk->key.account_sid.data == NULL) {
            return NGX_ERROR;
        }

        sk->key.account_sid.len = account_sid->len;
    }

    sk->key.mac = ngx_http_twilio_guard_mac(cf, NGX_TWILIO_HMAC_SHA256, secret);
    if (sk->key.mac == NULL) {
        lcf->shared_keys->nelts--;
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* where the first key of a level was set, for messages when merging */

static void
ngx_http_twilio_guard_keys_here(ngx_conf_t *cf,
    ngx_http_twilio_guard_loc_conf_t *lcf)
{
    if (lcf->keys == NULL && lcf->shared_keys == NULL) {
        lcf->keys_file = cf->conf_file->file.name;
        lcf->keys_line = cf->conf_file->line;
    }
}


/*
 * The HMAC key schedule is set up once here and freed with the
 * configuration, so a reload drops the old keys.
 */

static ngx_twilio_mac_t *
ngx_http_twilio_guard_mac(ngx_conf_t *cf, ngx_int_t alg, ngx_str_t *secret)
{
    ngx_twilio_mac_t    *mac;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    mac = ngx_twilio_mac_create((int) alg, secret->data, secret->len);
    if (mac == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "twilio_guard: cannot set up HMAC-%s with OpenSSL",
                           alg == NGX_TWILIO_HMAC_SHA256 ? "SHA256" : "SHA1");
        return NULL;
    }

    cln->handler = ngx_http_twilio_guard_mac_cleanup;
    cln->data = mac;

    return mac;
}


static void
ngx_http_twilio_guard_mac_cleanup(void *data)
{
    ngx_twilio_mac_free(data);
}


/*
 * twilio_guard_url: a URL with a scheme, refused without one; built from
 * the raw request line and Host header, with a warning for the variables
 * nginx decodes or normalises ($uri, $document_uri, $host), and for a URL
 * that does not end with $request_uri: the path and query the request
 * came with are then not signed.
 */

static char *
ngx_http_twilio_guard_url(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char        *rv;
    u_char       c, *p, *last, *name;
    size_t       len;
    ngx_str_t   *value;
    const char  *what, *instead;

    value = cf->args->elts;
    p = value[1].data;
    last = p + value[1].len;

    if (p[0] != '$'
        && !(value[1].len > 7 && ngx_strncasecmp(p, (u_char *) "http://", 7)
                                 == 0)
        && !(value[1].len > 8 && ngx_strncasecmp(p, (u_char *) "https://", 8)
                                 == 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must be the whole URL Twilio calls, with "
                           "its scheme: \"%V\" starts with neither "
                           "\"https://\" nor \"http://\", e.g. \"https://"
                           "hooks.example.com$request_uri\"",
                           &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    rv = ngx_http_set_complex_value_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    for ( /* void */ ; p < last; p++) {

        if (*p != '$') {
            continue;
        }

        name = p + 1;

        if (name < last && *name == '{') {
            name++;
        }

        for (len = 0; name + len < last; len++) {
            c = ngx_tolower(name[len]);

            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                  || c == '_'))
            {
                break;
            }
        }

        if ((len == 3 && ngx_strncmp(name, "uri", 3) == 0)
            || (len == 12 && ngx_strncmp(name, "document_uri", 12) == 0))
        {
            what = "decodes and normalises";
            instead = "$request_uri (the path and query as sent)";

        } else if (len == 4 && ngx_strncmp(name, "host", 4) == 0) {
            what = "lower-cases and strips of its port";
            instead = "$http_host (the Host header as sent) or the host "
                      "itself";

        } else {
            continue;
        }

        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"%V\" uses $%*s, which nginx %s, while Twilio "
                           "signs the URL exactly as it called it: use %s",
                           &cmd->name, len, name, what, instead);
    }

    len = value[1].len;
    p = value[1].data;

    if (!(len >= 12 && ngx_strncmp(p + len - 12, "$request_uri", 12) == 0)
        && !(len >= 14
             && ngx_strncmp(p + len - 14, "${request_uri}", 14) == 0))
    {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"%V\" \"%V\" does not end with $request_uri, "
                           "so the path and query of a request are not "
                           "signed: one signature captured here is valid "
                           "for every path and query this location serves; "
                           "end the URL with $request_uri, e.g. \"https://"
                           "hooks.example.com$request_uri\"",
                           &cmd->name, &value[1]);
    }

    return NGX_CONF_OK;
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


/*
 * A trusted proxy may say the request came over HTTPS and which host it
 * was for: "all", and any list that trusts every address of a family, is
 * refused.  IPv4 ranges count as the client matcher sees them, an
 * IPv4-mapped range of 96 bits or more as the IPv4 range it carries
 * (::ffff:0.0.0.0/96 is 0.0.0.0/0), and ranges of one level together
 * (0.0.0.0/1 and 128.0.0.0/1).
 */

static char *
ngx_http_twilio_guard_trusted_proxy(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_twilio_guard_loc_conf_t *lcf = conf;

    ngx_int_t                       rc;
    ngx_str_t                      *value;
    ngx_cidr_t                     *cidr;
    ngx_array_t                     one;
    ngx_http_twilio_guard_range_t   range;
#if (NGX_HAVE_INET6)
    ngx_uint_t                      i;
#endif

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "all") == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V all\" would let any client claim HTTPS: "
                           "list the addresses of your proxies", &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (lcf->trusted == NULL) {
        lcf->trusted = ngx_array_create(cf->pool, 2, sizeof(ngx_cidr_t));
        if (lcf->trusted == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_http_twilio_guard_cidr(cf, cmd, &value[1], lcf->trusted)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    cidr = lcf->trusted->elts;
    cidr = &cidr[lcf->trusted->nelts - 1];

#if (NGX_HAVE_INET6)

    if (cidr->family == AF_INET6
        && !ngx_http_twilio_guard_ipv4_range(cidr, &range))
    {
        for (i = 0; i < 16; i++) {
            if (cidr->u.in6.mask.s6_addr[i]) {
                break;
            }
        }

        if (i == 16) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V %V\" trusts every IPv6 address, like "
                               "\"all\": any client could claim HTTPS and "
                               "choose the host that is signed; list the "
                               "addresses of your proxies",
                               &cmd->name, &value[1]);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

#endif

    if (!ngx_http_twilio_guard_ipv4_range(cidr, &range)) {
        return NGX_CONF_OK;
    }

    one.elts = cidr;
    one.nelts = 1;

    rc = ngx_http_twilio_guard_ipv4_everyone(cf, &one);

    if (rc == NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V %V\" trusts every IPv4 address%s, like "
                           "\"all\": any client could claim HTTPS and choose "
                           "the host that is signed; list the addresses of "
                           "your proxies", &cmd->name, &value[1],
                           cidr->family == AF_INET
                           ? "" : " (an IPv4-mapped range is matched as the "
                                  "IPv4 range it carries)");
        return NGX_CONF_ERROR;
    }

    if (rc == NGX_DECLINED) {
        rc = ngx_http_twilio_guard_ipv4_everyone(cf, lcf->trusted);
    }

    if (rc == NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V %V\" and the \"%V\" ranges before it "
                           "together trust every IPv4 address, like \"all\": "
                           "any client could claim HTTPS and choose the host "
                           "that is signed; list the addresses of your "
                           "proxies", &cmd->name, &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (rc == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The IPv4 range a cidr matches: an IPv4 one, or an IPv4-mapped IPv6 one
 * of 96 bits or more (see ngx_http_twilio_guard_cidr_match()).
 */

static ngx_int_t
ngx_http_twilio_guard_ipv4_range(ngx_cidr_t *cidr,
    ngx_http_twilio_guard_range_t *range)
{
    in_addr_t   addr, mask;
#if (NGX_HAVE_INET6)
    u_char     *a, *m;
    ngx_uint_t  i;
#endif

    switch (cidr->family) {

    case AF_INET:
        addr = cidr->u.in.addr;
        mask = cidr->u.in.mask;
        break;

#if (NGX_HAVE_INET6)
    case AF_INET6:
        a = cidr->u.in6.addr.s6_addr;
        m = cidr->u.in6.mask.s6_addr;

        if (!IN6_IS_ADDR_V4MAPPED(&cidr->u.in6.addr)) {
            return 0;
        }

        for (i = 0; i < 12; i++) {
            if (m[i] != 0xff) {
                return 0;
            }
        }

        ngx_memcpy(&addr, &a[12], sizeof(in_addr_t));
        ngx_memcpy(&mask, &m[12], sizeof(in_addr_t));
        break;
#endif

    default: /* AF_UNIX */
        return 0;
    }

    range->start = ntohl(addr);
    range->end = range->start | ~ntohl(mask);

    return 1;
}


/*
 * Whether the IPv4 ranges of cidrs together hold every IPv4 address:
 * NGX_OK if they do, NGX_DECLINED if not.
 */

static ngx_int_t
ngx_http_twilio_guard_ipv4_everyone(ngx_conf_t *cf, ngx_array_t *cidrs)
{
    uint64_t                        next;
    ngx_uint_t                      i, n;
    ngx_cidr_t                     *cidr;
    ngx_http_twilio_guard_range_t  *ranges;

    ranges = ngx_palloc(cf->temp_pool,
                        cidrs->nelts * sizeof(ngx_http_twilio_guard_range_t));
    if (ranges == NULL) {
        return NGX_ERROR;
    }

    cidr = cidrs->elts;
    n = 0;

    for (i = 0; i < cidrs->nelts; i++) {
        n += ngx_http_twilio_guard_ipv4_range(&cidr[i], &ranges[n]);
    }

    ngx_qsort(ranges, n, sizeof(ngx_http_twilio_guard_range_t),
              ngx_http_twilio_guard_range_cmp);

    /* next: the first address no range seen so far holds */

    next = 0;

    for (i = 0; i < n; i++) {

        if (ranges[i].start > next) {
            return NGX_DECLINED;
        }

        if ((uint64_t) ranges[i].end + 1 > next) {
            next = (uint64_t) ranges[i].end + 1;
        }
    }

    return next == (uint64_t) 1 << 32 ? NGX_OK : NGX_DECLINED;
}


static int ngx_libc_cdecl
ngx_http_twilio_guard_range_cmp(const void *one, const void *two)
{
    const ngx_http_twilio_guard_range_t  *a = one;
    const ngx_http_twilio_guard_range_t  *b = two;

    if (a->start != b->start) {
        return a->start < b->start ? -1 : 1;
    }

    return 0;
}


/* twilio_guard_allow (cmd->offset 0) and twilio_guard_deny (1) */

static char *
ngx_http_twilio_guard_rule(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_twilio_guard_loc_conf_t *lcf = conf;

    ngx_str_t                     *value, all;
    ngx_http_twilio_guard_rule_t  *rule;

    value = cf->args->elts;

    if (lcf->rules == NULL) {
        lcf->rules = ngx_array_create(cf->pool, 4,
                                      sizeof(ngx_http_twilio_guard_rule_t));
        if (lcf->rules == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    rule = ngx_array_push(lcf->rules);
    if (rule == NULL) {
        return NGX_CONF_ERROR;
    }

    rule->deny = cmd->offset;
    rule->cidrs = ngx_array_create(cf->pool, 3, sizeof(ngx_cidr_t));
    if (rule->cidrs == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_strcmp(value[1].data, "all") == 0) {

        ngx_str_set(&all, "0.0.0.0/0");
        if (ngx_http_twilio_guard_cidr(cf, cmd, &all, rule->cidrs) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

#if (NGX_HAVE_INET6)
        ngx_str_set(&all, "::/0");
        if (ngx_http_twilio_guard_cidr(cf, cmd, &all, rule->cidrs) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
#endif

#if (NGX_HAVE_UNIX_DOMAIN)
        ngx_str_set(&all, "unix:");
        if (ngx_http_twilio_guard_cidr(cf, cmd, &all, rule->cidrs) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
#endif

        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "twilio_event_streams") == 0) {
        value = &ngx_http_twilio_guard_event_streams;

    } else {
        value = &value[1];
    }

    if (ngx_http_twilio_guard_cidr(cf, cmd, value, rule->cidrs) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_twilio_guard_cidr(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *value, ngx_array_t *cidrs)
{
    ngx_int_t    rc;
    ngx_cidr_t  *cidr;

    cidr = ngx_array_push(cidrs);
    if (cidr == NULL) {
        return NGX_ERROR;
    }

#if (NGX_HAVE_UNIX_DOMAIN)

    if (value->len == 5 && ngx_strncmp(value->data, "unix:", 5) == 0) {
        ngx_memzero(cidr, sizeof(ngx_cidr_t));
        cidr->family = AF_UNIX;
        return NGX_OK;
    }

#endif

    rc = ngx_ptocidr(value, cidr);

    if (rc == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid address \"%V\" in \"%V\": use an IPv4 or "
                           "IPv6 address or CIDR range%s, or \"unix:\"",
                           value, &cmd->name,
                           cmd->set == ngx_http_twilio_guard_rule
                           ? ", \"all\", \"twilio_event_streams\"" : "");
        return NGX_ERROR;
    }

    if (rc == NGX_DONE) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "low address bits of %V are meaningless", value);
    }

    return NGX_OK;
}


void *
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
     *     conf->shared_keys = NULL;
     *     conf->trusted = NULL;
     *     conf->rules = NULL;
     *     conf->url = NULL;
     *     conf->enable_file = { 0, NULL };
     *     conf->enable_line = 0;
     *     conf->keys_file = { 0, NULL };
     *     conf->keys_line = 0;
     *     conf->metrics_label = { 0, NULL };
     *     conf->metrics = NULL;
     */

    conf->enable = NGX_CONF_UNSET;
    conf->https = NGX_CONF_UNSET;
    conf->forwarded_host = NGX_CONF_UNSET;
    conf->dry_run = NGX_CONF_UNSET;
    conf->max_body = NGX_CONF_UNSET_SIZE;
    conf->max_params = NGX_CONF_UNSET_UINT;
    conf->reject_status = NGX_CONF_UNSET_UINT;
    conf->log_level = NGX_CONF_UNSET_UINT;
    conf->replay = NGX_CONF_UNSET_PTR;

    return conf;
}


char *
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
    ngx_conf_merge_value(conf->https, prev->https, 1);
    ngx_conf_merge_value(conf->forwarded_host, prev->forwarded_host, 0);
    ngx_conf_merge_value(conf->dry_run, prev->dry_run, 0);

    /*
     * The keys of a level are one set, auth tokens and shared keys
     * together: inherited whole where a level sets none, replaced whole
     * where it sets any.
     */

    if (conf->keys == NULL && conf->shared_keys == NULL) {
        conf->keys = prev->keys;
        conf->shared_keys = prev->shared_keys;
        conf->keys_file = prev->keys_file;
        conf->keys_line = prev->keys_line;
    }

    if (conf->trusted == NULL) {
        conf->trusted = prev->trusted;
    }

    if (conf->rules == NULL) {
        conf->rules = prev->rules;
    }

    if (conf->url == NULL) {
        conf->url = prev->url;
    }

    ngx_conf_merge_size_value(conf->max_body, prev->max_body, 64 * 1024);
    ngx_conf_merge_uint_value(conf->max_params, prev->max_params, 512);
    ngx_conf_merge_uint_value(conf->reject_status, prev->reject_status,
                              NGX_HTTP_FORBIDDEN);
    ngx_conf_merge_uint_value(conf->log_level, prev->log_level, NGX_LOG_ERR);
    if (!conf->enable && conf->replay != NGX_CONF_UNSET_PTR
        && conf->replay != NULL && conf->replay->line)
    {
        /* set in this location, which checks nothing: it would record
           nothing either */
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"twilio_guard_replay\" in %V:%ui is in a location "
                      "without \"twilio_guard on\", where it does nothing: "
                      "twilio_guard_replay needs twilio_guard on in the "
                      "same location; add \"twilio_guard on\" there",
                      &conf->replay->file, conf->replay->line);
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_ptr_value(conf->replay, prev->replay, NULL);
    ngx_conf_merge_str_value(conf->metrics_label, prev->metrics_label, "");

    if (!conf->enable) {
        return NGX_CONF_OK;
    }

    if (conf->keys == NULL && conf->shared_keys == NULL) {
        /* fail closed: a guard with nothing to check against */
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"twilio_guard on\" in %V:%ui has no key to check "
                      "signatures with: add \"twilio_guard_auth_token_file\" "
                      "or \"twilio_guard_auth_token\" (the account's auth "
                      "token), or \"twilio_guard_shared_key_file\" or "
                      "\"twilio_guard_shared_key\" (shared keys of Webhook "
                      "Rules), where it applies",
                      &conf->enable_file, conf->enable_line);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_twilio_guard_count_keys(cf, conf) != NGX_OK
        || ngx_http_twilio_guard_unbound_shared(cf, conf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_http_twilio_guard_check_location(cf, conf);

    if (ngx_http_twilio_guard_metrics_add(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * A request tries the tokens bound to no account and those bound to the
 * account it claims: at most NGX_TWILIO_MAX_KEYS of them together, as each
 * costs MACs over the whole body.  Tokens bound to other accounts cost
 * nothing, so there may be many.
 */

static ngx_int_t
ngx_http_twilio_guard_count_keys(ngx_conf_t *cf,
    ngx_http_twilio_guard_loc_conf_t *conf)
{
    ngx_uint_t          i, n, unbound, bound, run, most;
    ngx_twilio_str_t  **sids, *most_sid;
    ngx_twilio_key_t   *key;

    if (conf->keys == NULL) {
        return NGX_OK;
    }

    key = conf->keys->elts;
    n = conf->keys->nelts;

    sids = ngx_palloc(cf->temp_pool, n * sizeof(ngx_twilio_str_t *));
    if (sids == NULL) {
        return NGX_ERROR;
    }

    unbound = 0;
    bound = 0;

    for (i = 0; i < n; i++) {
        if (key[i].account_sid.len) {
            sids[bound++] = &key[i].account_sid;

        } else {
            unbound++;
        }
    }

    ngx_qsort(sids, bound, sizeof(ngx_twilio_str_t *),
              ngx_http_twilio_guard_sid_cmp);

    most = 0;
    most_sid = NULL;
    run = 0;

    for (i = 0; i < bound; i++) {
        run = (i && ngx_http_twilio_guard_sid_cmp(&sids[i - 1], &sids[i]) == 0)
              ? run + 1 : 1;

        if (run > most) {
            most = run;
            most_sid = sids[i];
        }
    }

    if (unbound + most <= NGX_TWILIO_MAX_KEYS) {

        if (unbound == 0 && bound > NGX_TWILIO_MAX_KEYS) {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "all %ui auth tokens from %V:%ui that apply in "
                          "%V:%ui are bound to accounts: a request that "
                          "names no account (a JSON webhook or Event "
                          "Streams without AccountSid in its URL) could try "
                          "them all, so it is rejected (unknown_account); "
                          "add an unbound token for such webhooks",
                          bound, &conf->keys_file, conf->keys_line,
                          &conf->enable_file, conf->enable_line);
        }

        return NGX_OK;
    }

    if (most == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "%ui auth tokens bound to no account from %V:%ui "
                      "apply in %V:%ui: at most %d may, as a request tries "
                      "each of them; a rotation needs two, bind the others "
                      "to their accounts (\"ACCOUNT_SID TOKEN\" lines in a "
                      "twilio_guard_auth_token_file)",
                      unbound, &conf->keys_file, conf->keys_line,
                      &conf->enable_file, conf->enable_line,
                      NGX_TWILIO_MAX_KEYS);

    } else {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "%ui auth tokens from %V:%ui apply to a request from "
                      "%*s in %V:%ui (%ui bound to no account, %ui bound "
                      "to it): at most %d may, as a request tries each of "
                      "them; a rotation needs two, remove the old ones",
                      unbound + most, &conf->keys_file, conf->keys_line,
                      most_sid->len, most_sid->data, &conf->enable_file,
                      conf->enable_line, unbound, most, NGX_TWILIO_MAX_KEYS);
    }

    return NGX_ERROR;
}


/*
 * Where keys are bound to accounts (a key per tenant), a shared key bound
 * to none would sign a request claiming any account: its holder could
 * act as any tenant.  Refused; the fix is to bind it.
 */

static ngx_int_t
ngx_http_twilio_guard_unbound_shared(ngx_conf_t *cf,
    ngx_http_twilio_guard_loc_conf_t *conf)
{
    ngx_uint_t                           i, bound;
    ngx_twilio_key_t                    *key;
    ngx_http_twilio_guard_shared_key_t  *sk, *unbound;

    if (conf->shared_keys == NULL) {
        return NGX_OK;
    }

    bound = 0;
    unbound = NULL;

    key = conf->keys ? conf->keys->elts : NULL;

    for (i = 0; key && i < conf->keys->nelts; i++) {
        bound += (key[i].account_sid.len != 0);
    }

    sk = conf->shared_keys->elts;

    for (i = 0; i < conf->shared_keys->nelts; i++) {

        if (sk[i].key.account_sid.len) {
            bound++;

        } else if (unbound == NULL) {
            unbound = &sk[i];
        }
    }

    if (bound == 0 || unbound == NULL) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "shared key \"%V\" from %V:%ui, which applies in %V:%ui "
                  "next to keys bound to accounts, is bound to no account: "
                  "whoever holds it could sign a request claiming any "
                  "account; bind it to its account (\"KEY_ID SECRET "
                  "ACCOUNT_SID\")", &unbound->id, &conf->keys_file,
                  conf->keys_line, &conf->enable_file, conf->enable_line);

    return NGX_ERROR;
}


static int ngx_libc_cdecl
ngx_http_twilio_guard_sid_cmp(const void *one, const void *two)
{
    const ngx_twilio_str_t  *a = *(ngx_twilio_str_t **) one;
    const ngx_twilio_str_t  *b = *(ngx_twilio_str_t **) two;

    if (a->len != b->len) {
        return a->len < b->len ? -1 : 1;
    }

    return ngx_memcmp(a->data, b->data, a->len);
}


/*
 * What makes a guarded location accept less or more than its guard says,
 * warned about with the line of "twilio_guard on".
 */

static void
ngx_http_twilio_guard_check_location(ngx_conf_t *cf,
    ngx_http_twilio_guard_loc_conf_t *conf)
{
    ngx_uint_t                     i;
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_twilio_guard_rule_t  *rule;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (conf->rules) {
        rule = conf->rules->elts;

        for (i = 0; i < conf->rules->nelts; i++) {
            if (rule[i].deny) {
                break;
            }
        }

        if (i == conf->rules->nelts) {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "location \"%V\" guarded in %V:%ui has "
                          "\"twilio_guard_allow\" rules and no "
                          "\"twilio_guard_deny\": like nginx's \"allow\", "
                          "they let every other address through too; add "
                          "\"twilio_guard_deny all;\" after them",
                          &clcf->name, &conf->enable_file,
                          conf->enable_line);
        }
    }

    if (clcf->client_max_body_size
        && conf->max_body > (size_t) clcf->client_max_body_size
        && conf->max_body != 64 * 1024)
    {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "twilio_guard_max_body %uz is larger than "
                      "client_max_body_size %O in location \"%V\" guarded "
                      "in %V:%ui: nginx answers 413 to a larger body before "
                      "the guard sees it; raise client_max_body_size or "
                      "lower twilio_guard_max_body", conf->max_body,
                      clcf->client_max_body_size, &clcf->name,
                      &conf->enable_file, conf->enable_line);
    }

    if (clcf->satisfy == NGX_HTTP_SATISFY_ANY) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"satisfy any\" in location \"%V\" guarded in "
                      "%V:%ui: \"allow\", \"auth_basic\" or "
                      "\"auth_request\" there can let through a request the "
                      "guard rejects; use \"satisfy all\" unless that is "
                      "intended", &clcf->name, &conf->enable_file,
                      conf->enable_line);
    }
}
