
/*
 * Copyright (C) ngx_twilio_guard authors
 *
 * TAP output for the unit tests: ok(cond, printf format, ...) prints
 * "ok N - ..." or "not ok N - ..."; test_no counts the tests,
 * test_failed the failures.  Included by one file of each test program.
 */


#ifndef _NGX_TWILIO_TAP_H_INCLUDED_
#define _NGX_TWILIO_TAP_H_INCLUDED_


#include <stdio.h>


static int  test_no;
static int  test_failed;


#define ok(cond, ...)                                                         \
    do {                                                                      \
        test_no++;                                                            \
        if (!(cond)) {                                                        \
            test_failed++;                                                    \
            printf("not ");                                                   \
        }                                                                     \
        printf("ok %d - ", test_no);                                          \
        printf(__VA_ARGS__);                                                  \
        printf("\n");                                                         \
    } while (0)


#endif /* _NGX_TWILIO_TAP_H_INCLUDED_ */
