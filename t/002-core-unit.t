# Unit tests of the pure core (t/unit/ngx_twilio_core_test.c), built with
# AddressSanitizer and UndefinedBehaviorSanitizer; the binary prints TAP.
use strict;
use warnings;
use FindBin;

my $root = "$FindBin::Bin/..";

system("make -s -C '$root' unit >&2") == 0
    or do { print "1..1\nnot ok 1 - make unit failed\n"; exit 1 };

$ENV{ASAN_OPTIONS} = 'detect_leaks=0:abort_on_error=1';
exec "$root/build/unit/core_test" or die "exec: $!";
