# Unit tests of the SMS pumping guard's pure part
# (t/unit/ngx_twilio_phone_test.c: E.164 numbers, regions, form and JSON
# values), built with AddressSanitizer and UBSan; the binary prints TAP.
# TEST_PHONE_SCALAR=1 runs the build without the SSE2 code paths
# (t/004-phone-unit-scalar.t).
use strict;
use warnings;
use FindBin;

my $root = "$FindBin::Bin/..";

system("make -s -C '$root' unit >&2") == 0
    or do { print "1..1\nnot ok 1 - make unit failed\n"; exit 1 };

$ENV{ASAN_OPTIONS} = 'detect_leaks=0:abort_on_error=1';
exec "$root/build/unit/"
     . ($ENV{TEST_PHONE_SCALAR} ? 'phone_test_scalar' : 'phone_test')
    or die "exec: $!";
