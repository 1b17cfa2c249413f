
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * The pure core of the Twilio webhook guard: form parsing, the signed
 * string, HMAC, signature and body hash checks, token lists.
 *
 * Nothing here knows about nginx requests, pools or logs, so the core can
 * be built, unit-tested and fuzzed on its own with only libc and OpenSSL.
 * Memory comes from the caller through ngx_twilio_alloc_pt (in nginx: the
 * request pool); the core never frees what it allocated that way.
 */


#ifndef _NGX_TWILIO_GUARD_CORE_H_INCLUDED_
#define _NGX_TWILIO_GUARD_CORE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


/* results, in the order of ngx_twilio_reason_names[] */

#define NGX_TWILIO_OK                    0
#define NGX_TWILIO_NO_SIGNATURE          1
#define NGX_TWILIO_SIGNATURE_REPEATED    2
#define NGX_TWILIO_SIGNATURE_MALFORMED   3
#define NGX_TWILIO_BAD_SIGNATURE         4
#define NGX_TWILIO_BODY_HASH_MISMATCH    5
#define NGX_TWILIO_BODY_HASH_MALFORMED   6
#define NGX_TWILIO_BODY_UNSIGNED         7
#define NGX_TWILIO_BODY_TOO_LARGE        8
#define NGX_TWILIO_BODY_UNAVAILABLE      9
#define NGX_TWILIO_UNKNOWN_ACCOUNT       10
#define NGX_TWILIO_IP_DENIED             11
#define NGX_TWILIO_NOT_HTTPS             12
#define NGX_TWILIO_SETTINGS_MALFORMED    13
#define NGX_TWILIO_UNKNOWN_KEY           14
#define NGX_TWILIO_UNSUPPORTED_ALG       15
#define NGX_TWILIO_ERROR                 16
#define NGX_TWILIO_ACCOUNT_AMBIGUOUS     17
#define NGX_TWILIO_TOO_MANY_PARAMS       18
#define NGX_TWILIO_FORWARDED_MALFORMED   19
#define NGX_TWILIO_HOST_MISMATCH         20
#define NGX_TWILIO_JSON_MALFORMED        21
#define NGX_TWILIO_REPLAYED              22
#define NGX_TWILIO_REPLAY_UNAVAILABLE    23
#define NGX_TWILIO_HOST_MALFORMED        24
#define NGX_TWILIO_CONTENT_TYPE_REPEATED 25
#define NGX_TWILIO_SUBREQUEST_UNCHECKED  26
/* the SMS pumping guard's (ngx_http_twilio_guard_sms.c) */
#define NGX_TWILIO_NUMBER_MISSING        27
#define NGX_TWILIO_NUMBER_AMBIGUOUS      28
#define NGX_TWILIO_NUMBER_INVALID        29
#define NGX_TWILIO_NUMBER_DENIED         30
#define NGX_TWILIO_LIMITED               31
#define NGX_TWILIO_LIMIT_UNAVAILABLE     32
#define NGX_TWILIO_NREASONS              33


/* what ngx_twilio_url_body_hash() found in a URL's query */

#define NGX_TWILIO_HASH_NONE            0
#define NGX_TWILIO_HASH_FOUND           1
#define NGX_TWILIO_HASH_MALFORMED       2


/* HMAC algorithms */

#define NGX_TWILIO_HMAC_SHA1            0
#define NGX_TWILIO_HMAC_SHA256          1


/* sort orders of form parameters */

#define NGX_TWILIO_ORDER_BYTES          0
#define NGX_TWILIO_ORDER_UTF16          1


#define NGX_TWILIO_SHA1_B64_LEN         28
#define NGX_TWILIO_SHA256_B64_LEN       44
#define NGX_TWILIO_SHA256_HEX_LEN       64

/* how deep ngx_twilio_json_accounts() follows nested objects and arrays */
#define NGX_TWILIO_JSON_DEPTH           64

/* base64 of the longest MAC, with room for the terminating NUL */
#define NGX_TWILIO_SIG_MAX              (NGX_TWILIO_SHA256_B64_LEN + 4)

/* ":443" is the longest authority edit */
#define NGX_TWILIO_URL_TOGGLE_EXTRA     4

/*
 * The most keys one request may try: each costs up to four MACs over the
 * body.  A rotation needs two; more are account-bound tokens.
 */
#define NGX_TWILIO_MAX_KEYS             8


typedef struct {
    size_t                len;
    u_char               *data;
} ngx_twilio_str_t;


typedef struct {
    ngx_twilio_str_t      key;
    ngx_twilio_str_t      value;
    /* the key's first 8 bytes, big-endian: set by ngx_twilio_form_sort() */
    uint64_t              prefix;
} ngx_twilio_param_t;


typedef void *(*ngx_twilio_alloc_pt)(void *pool, size_t size);


/* an HMAC key, set up once (at configuration time) and reused */
typedef struct ngx_twilio_mac_s  ngx_twilio_mac_t;


typedef struct {
    ngx_twilio_mac_t     *mac;
    ngx_twilio_str_t      account_sid;     /* empty: any account */
} ngx_twilio_key_t;


typedef struct {
    ngx_twilio_str_t      url;             /* the URL Twilio requested */
    ngx_twilio_str_t      body;            /* the raw request body */
    ngx_twilio_str_t      signature;       /* the header's value */

    /*
     * the raw query of the request target, everything after its first
     * "?" ("#" included): where AccountSid claims are looked for.  When
     * data is NULL, the URL's query is (after its first "?").
     */
    ngx_twilio_str_t      query;

    int                   alg;             /* NGX_TWILIO_HMAC_* of the keys */
    size_t                max_params;      /* form parameters; 0: no cap */
    unsigned              form:1;          /* urlencoded form content */

    /*
     * the body is not read yet (body.data is NULL, body.len is nonzero
     * when one follows): decide what the URL decides.  With bodySHA256,
     * NGX_TWILIO_OK means the URL's signature is valid, and the whole
     * check is still to be done once the body is there.  A form without
     * bodySHA256 cannot be checked this way (NGX_TWILIO_ERROR).
     */
    unsigned              body_later:1;
} ngx_twilio_request_t;


typedef struct {
    int                   reason;
    size_t                key;             /* index of the matching key */
    size_t                tried;           /* MACs computed */

    /*
     * the account the request is from, decided once by
     * ngx_twilio_account_claim(): the SID it claims (when well-formed and
     * not ambiguous), or, when it claims none, the account the matching
     * key is bound to; empty otherwise.  Points into the request or the
     * keys.
     */
    ngx_twilio_str_t      account;
} ngx_twilio_result_t;


/* a member named AccountSid in a JSON body: value NULL if not a string */

typedef void (*ngx_twilio_json_account_pt)(void *data,
    const ngx_twilio_str_t *value);


/* one entry of a token file: (account SID or empty, token) */

typedef int (*ngx_twilio_token_pt)(void *data, ngx_twilio_str_t *account_sid,
    ngx_twilio_str_t *token, size_t line);


/* one entry of a shared key file: (key id, secret, account SID or empty) */

typedef int (*ngx_twilio_shared_key_pt)(void *data, ngx_twilio_str_t *key_id,
    ngx_twilio_str_t *secret, ngx_twilio_str_t *account_sid, size_t line);


extern const char  *ngx_twilio_reason_names[NGX_TWILIO_NREASONS];


/* form bodies */

size_t ngx_twilio_form_count(const u_char *body, size_t len);
size_t ngx_twilio_form_parse(const u_char *body, size_t len,
    ngx_twilio_param_t *params, u_char *out);
int ngx_twilio_form_sort(ngx_twilio_param_t *params, size_t n,
    int order, ngx_twilio_alloc_pt alloc, void *pool);
size_t ngx_twilio_form_canonical(const ngx_twilio_param_t *params, size_t n,
    u_char *out);
int ngx_twilio_form_has_order_trap(const ngx_twilio_param_t *params,
    size_t n);
int ngx_twilio_form_param(const u_char *form, size_t len, const char *name,
    ngx_twilio_str_t *raw);
size_t ngx_twilio_unescape(u_char *dst, const u_char *src, size_t len);
int ngx_twilio_param_lookup(const ngx_twilio_request_t *req,
    const u_char *name, size_t nlen, ngx_twilio_str_t *raw);

/* values exported to nginx variables */

size_t ngx_twilio_export_escape(u_char *dst, const u_char *src, size_t len);

/* the account a request claims */

int ngx_twilio_account_name(const u_char *name, size_t len);
int ngx_twilio_json_like(const u_char *p, size_t len);
int ngx_twilio_json_accounts(const u_char *json, size_t len, u_char *buf,
    ngx_twilio_json_account_pt handler, void *data);
int ngx_twilio_account_claim(const ngx_twilio_request_t *req, int json,
    ngx_twilio_alloc_pt alloc, void *pool, ngx_twilio_str_t *sid);

/* URLs */

int ngx_twilio_url_toggle_port(const u_char *url, size_t len, u_char *out,
    size_t *out_len);
int ngx_twilio_url_body_hash(const u_char *url, size_t len,
    ngx_twilio_str_t *hex);

/* MACs and signatures */

ngx_twilio_mac_t *ngx_twilio_mac_create(int alg, const u_char *key,
    size_t len);
void ngx_twilio_mac_free(ngx_twilio_mac_t *mac);
int ngx_twilio_mac_sign(ngx_twilio_mac_t *mac, const ngx_twilio_str_t *parts,
    size_t nparts, u_char *b64, size_t *b64_len);
int ngx_twilio_signature_wellformed(const u_char *sig, size_t len,
    size_t expect);
int ngx_twilio_equal(const u_char *a, size_t alen, const u_char *b,
    size_t blen);
int ngx_twilio_body_hash_equal(const u_char *body, size_t len,
    const ngx_twilio_str_t *hex);

/* the whole check */

int ngx_twilio_signature_settings(const u_char *value, size_t len,
    ngx_twilio_str_t *key_id);
void ngx_twilio_validate(const ngx_twilio_request_t *req,
    const ngx_twilio_key_t *keys, size_t nkeys, ngx_twilio_alloc_pt alloc,
    void *pool, ngx_twilio_result_t *res);

/* token files */

int ngx_twilio_tokens_parse(const u_char *buf, size_t len,
    ngx_twilio_token_pt handler, void *data, size_t *err_line,
    const char **err);
int ngx_twilio_shared_keys_parse(const u_char *buf, size_t len,
    ngx_twilio_shared_key_pt handler, void *data, size_t *err_line,
    const char **err);
int ngx_twilio_token_valid(const u_char *token, size_t len);
int ngx_twilio_account_sid_valid(const u_char *sid, size_t len);

/* metrics: a label value for the Prometheus text format; dst holds 2 * len */

size_t ngx_twilio_label_escape(u_char *dst, const u_char *src, size_t len);


#endif /* _NGX_TWILIO_GUARD_CORE_H_INCLUDED_ */
