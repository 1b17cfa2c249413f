# The unit tests of t/002-core-unit.t against the core built with
# -DNGX_TWILIO_HMAC_LEGACY: the HMAC_CTX code used with OpenSSL 1.1.x,
# here on OpenSSL 3's deprecated HMAC_* functions.  First checks that the
# binary really calls them (and not EVP_MAC), so the test cannot pass on
# the other code path.
use strict;
use warnings;
use FindBin;

my $root = "$FindBin::Bin/..";
my $bin = "$root/build/unit/core_test_legacy";

system("make -s -C '$root' unit >&2") == 0
    or do { print "1..1\nnot ok 1 - make unit failed\n"; exit 1 };

my $syms = `nm -u '$bin' 2>/dev/null`;
unless ($syms =~ /\bHMAC_Init_ex\b/ && $syms !~ /\bEVP_MAC_init\b/) {
    print "1..1\nnot ok 1 - $bin does not use HMAC_CTX (nm -u)\n";
    exit 1;
}

$ENV{TEST_CORE_LEGACY} = 1;
do "$FindBin::Bin/002-core-unit.t" or die $@ || $!;
