# Unit tests of the pure core (t/unit/ngx_twilio_core_test.c), built with
# AddressSanitizer and UndefinedBehaviorSanitizer; the binary prints TAP.
# TEST_CORE_SCALAR=1 runs the build without the SSE2 code paths
# (t/002-core-unit-scalar.t), TEST_CORE_LEGACY=1 the build with the
# HMAC_CTX code for OpenSSL before 3.0 (t/002-core-unit-legacy.t).
use strict;
use warnings;
use FindBin;

my $root = "$FindBin::Bin/..";
my $bin = $ENV{TEST_CORE_SCALAR} ? 'core_test_scalar'
        : $ENV{TEST_CORE_LEGACY} ? 'core_test_legacy'
        : 'core_test';

system("make -s -C '$root' unit >&2") == 0
    or do { print "1..1\nnot ok 1 - make unit failed\n"; exit 1 };

$ENV{ASAN_OPTIONS} = 'detect_leaks=0:abort_on_error=1';
exec "$root/build/unit/$bin" or die "exec: $!";
