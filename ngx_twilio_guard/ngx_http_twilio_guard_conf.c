
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


typedef struct {
    ngx_conf_t                         *cf;
    ngx_http_twilio_guard_loc_conf_t   *lcf;
    ngx_uint_t                          shared;  /* unsigned shared:1; */
} ngx_http_twilio_guard_file_ctx_t;


static char *ngx_http_twilio_guard(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_twilio_guard_auth_token(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_twilio_guard_shared_key(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_twilio_guard_secret_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_twilio_guard_reject_status(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_twilio_guard_trusted_proxy(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_twilio_guard_rule(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_twilio_guard_cidr(ngx_conf_t *cf,
    ngx_command_t *cmd, ngx_str_t *value, ngx_array_t *cidrs);
static ngx_int_t ngx_http_twilio_guard_add_token(ngx_conf_t *cf,
    ngx_http_twilio_guard_loc_conf_t *lcf, ngx_str_t *account_sid,
    ngx_str_t *token);
static ngx_int_t ngx_http_twilio_guard_add_shared_key(ngx_conf_t *cf,
    ngx_http_twilio_guard_loc_conf_t *lcf, ngx_str_t *id, ngx_str_t *secret);
static ngx_twilio_mac_t *ngx_http_twilio_guard_mac(ngx_conf_t *cf,
    ngx_int_t alg, ngx_str_t *secret);
static int ngx_http_twilio_guard_file_entry(void *data,
    ngx_twilio_str_t *first, ngx_twilio_str_t *second, size_t line);
static void ngx_http_twilio_guard_mac_cleanup(void *data);


static ngx_conf_num_bounds_t  ngx_http_twilio_guard_max_params_bounds = {
    ngx_conf_check_num_bounds, 1, 65535
};


static ngx_str_t  ngx_http_twilio_guard_event_streams =
    ngx_string("35.90.102.128/25");


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
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
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

    if (ngx_http_twilio_guard_add_token(cf, conf, NULL, &value[1]) != NGX_OK) {
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

    if (ngx_http_twilio_guard_add_shared_key(cf, conf, &value[1], &value[2])
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
    const char                        *err;
    ngx_array_t                       *list;
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
    size = 0;

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
                           "%s file \"%V\" is accessible by others "
                           "(mode 0%ui%ui%ui): make it readable only by its "
                           "owner and nginx's group, e.g. \"chmod 640\"",
                           cmd->offset ? "shared key" : "token", &name,
                           (ngx_uint_t) (ngx_file_access(&fi) >> 6) & 7,
                           (ngx_uint_t) (ngx_file_access(&fi) >> 3) & 7,
                           (ngx_uint_t) ngx_file_access(&fi) & 7);
        goto failed;
    }

    size = ngx_file_size(&fi);

    if (size > 1024 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is larger than 1M", &name);
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
    fctx.shared = cmd->offset;

    if (cmd->offset) {
        rc = ngx_twilio_shared_keys_parse(buf, n,
                                          ngx_http_twilio_guard_file_entry,
                                          &fctx, &line, &err);

    } else {
        rc = ngx_twilio_tokens_parse(buf, n, ngx_http_twilio_guard_file_entry,
                                     &fctx, &line, &err);
    }

    if (rc != 0) {
        if (err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid line %uz in %s file \"%V\": %s",
                               line, cmd->offset ? "shared key" : "token",
                               &name, err);
        }

        goto failed;
    }

    list = cmd->offset ? lcf->shared_keys : lcf->keys;

    if (list == NULL || list->nelts == count) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s file \"%V\" has no %s",
                           cmd->offset ? "shared key" : "token", &name,
                           cmd->offset ? "key" : "token");
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
 * One entry of a secret file: (account SID or empty, token), or with
 * fctx->shared (key id, secret).
 */

static int
ngx_http_twilio_guard_file_entry(void *data, ngx_twilio_str_t *first,
    ngx_twilio_str_t *second, size_t line)
{
    ngx_http_twilio_guard_file_ctx_t *fctx = data;

    ngx_int_t  rc;
    ngx_str_t  one, two;

    one.data = first->data;
    one.len = first->len;
    two.data = second->data;
    two.len = second->len;

    if (fctx->shared) {
        rc = ngx_http_twilio_guard_add_shared_key(fctx->cf, fctx->lcf, &one,
                                                  &two);

    } else {
        rc = ngx_http_twilio_guard_add_token(fctx->cf, fctx->lcf, &one, &two);
    }

    return rc == NGX_OK ? 0 : -1;
}


static ngx_int_t
ngx_http_twilio_guard_add_token(ngx_conf_t *cf,
    ngx_http_twilio_guard_loc_conf_t *lcf, ngx_str_t *account_sid,
    ngx_str_t *token)
{
    ngx_twilio_key_t  *key;

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


static ngx_int_t
ngx_http_twilio_guard_add_shared_key(ngx_conf_t *cf,
    ngx_http_twilio_guard_loc_conf_t *lcf, ngx_str_t *id, ngx_str_t *secret)
{
    ngx_uint_t                           i;
    ngx_http_twilio_guard_shared_key_t  *sk;

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
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate shared key id \"%V\": give each "
                               "key its own id", id);
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

    sk->key.mac = ngx_http_twilio_guard_mac(cf, NGX_TWILIO_HMAC_SHA256, secret);
    if (sk->key.mac == NULL) {
        lcf->shared_keys->nelts--;
        return NGX_ERROR;
    }

    return NGX_OK;
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


static char *
ngx_http_twilio_guard_trusted_proxy(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_twilio_guard_loc_conf_t *lcf = conf;

    ngx_str_t  *value;

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

    return NGX_CONF_OK;
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
     */

    conf->enable = NGX_CONF_UNSET;
    conf->https = NGX_CONF_UNSET;
    conf->dry_run = NGX_CONF_UNSET;
    conf->max_body = NGX_CONF_UNSET_SIZE;
    conf->max_params = NGX_CONF_UNSET_UINT;
    conf->reject_status = NGX_CONF_UNSET_UINT;

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
    ngx_conf_merge_value(conf->dry_run, prev->dry_run, 0);

    if (conf->keys == NULL) {
        conf->keys = prev->keys;
    }

    if (conf->shared_keys == NULL) {
        conf->shared_keys = prev->shared_keys;
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

    if (conf->enable && conf->keys == NULL && conf->shared_keys == NULL) {
        /* fail closed: a guard with nothing to check against */
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"twilio_guard on\" without a token in %V:%ui: add "
                      "\"twilio_guard_auth_token\" or "
                      "\"twilio_guard_auth_token_file\" where it applies",
                      &conf->enable_file, conf->enable_line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
