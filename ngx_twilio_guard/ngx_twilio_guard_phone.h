
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * The pure part of the SMS pumping guard: phone numbers to E.164, their
 * calling code and region, and the one value of a named parameter in a
 * query, a form or a JSON object.  No nginx types, no allocation: unit
 * tested (t/unit/ngx_twilio_phone_test.c) and fuzzed (util/fuzz/) alone.
 */


#ifndef _NGX_TWILIO_GUARD_PHONE_H_INCLUDED_
#define _NGX_TWILIO_GUARD_PHONE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* E.164: "+" and at most 15 digits */
#define NGX_TWILIO_PHONE_MAX       15

/* the longest number as written that is looked at (spaces and all) */
#define NGX_TWILIO_PHONE_INPUT_MAX 64

/* the deepest JSON nesting accepted */
#define NGX_TWILIO_PHONE_JSON_DEPTH 32


typedef struct {
    uint16_t                 cc;
    char                     region[4];
    uint32_t                 lengths;      /* bit n: n national digits */
    char                     trunk[4];     /* never after the code */
} ngx_twilio_phone_cc_t;


typedef struct {
    uint16_t                 cc;
    char                     prefix[8];
    char                     region[4];
} ngx_twilio_phone_prefix_t;


typedef struct {
    char                     region[4];
    uint16_t                 cc;
    char                     national_prefix[4];
    unsigned                 national;     /* default_country may name it */
} ngx_twilio_phone_region_t;


typedef struct {
    char                     e164[NGX_TWILIO_PHONE_MAX + 2];  /* with NUL */
    size_t                   len;          /* with the "+" */
    unsigned                 cc;
    size_t                   cc_len;       /* digits of cc */
    char                     region[4];    /* "US", "001": non-geographic */
} ngx_twilio_phone_t;


/* results of the parameter extraction */

#define NGX_TWILIO_PARAM_MISSING    0
#define NGX_TWILIO_PARAM_FOUND      1
#define NGX_TWILIO_PARAM_AMBIGUOUS  2   /* the name more than once */
#define NGX_TWILIO_PARAM_MALFORMED  3   /* not JSON, not a string, too long */


/*
 * A number as written to E.164.  default_region: the region (e.g. "GB")
 * of numbers written without "+" or "00", or NULL to reject them.
 * Returns 0, or -1 for a number that is not one (number_invalid).
 */
int ngx_twilio_phone_parse(const unsigned char *s, size_t len,
    const char *default_region, ngx_twilio_phone_t *ph);

/*
 * A region for default_country: 1; 0: known, but its national numbers
 * take rules this parser does not apply (local dialling, carrier codes);
 * -1: not a region.
 */
int ngx_twilio_phone_region_national(const char *region);

/* the table's source, e.g. "libphonenumber 8.12.57" */
extern const char  *ngx_twilio_phone_metadata;

/*
 * The value of the parameter name in a query string or a form body
 * (application/x-www-form-urlencoded, split on "&", "+" is a space),
 * percent-decoded into out (at most *out_len bytes; *out_len is set).
 * *count is increased by the number of times name was found.
 */
int ngx_twilio_form_value(const unsigned char *s, size_t len,
    const char *name, size_t name_len, unsigned char *out, size_t *out_len,
    unsigned *count);

/*
 * The string member name of a JSON object body (RFC 8259, strictly: the
 * whole body must be one valid object), escapes decoded into out as UTF-8.
 * *count is increased by the number of members named name.  MALFORMED:
 * not one valid JSON object, or the member is not a string, or its value
 * is longer than *out_len.
 */
int ngx_twilio_json_value(const unsigned char *s, size_t len,
    const char *name, size_t name_len, unsigned char *out, size_t *out_len,
    unsigned *count);


#endif /* _NGX_TWILIO_GUARD_PHONE_H_INCLUDED_ */
