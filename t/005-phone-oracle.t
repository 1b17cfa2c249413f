# The module's phone number table and parser against libphonenumber
# (python3-phonenumbers) as the oracle: every calling code, every NANP
# area code, every region's example numbers and 12,000 generated ones
# (util/phone-oracle prints TAP).
use strict;
use warnings;
use FindBin;

my $root = "$FindBin::Bin/..";

if (system("/usr/bin/python3 -c 'import phonenumbers' 2>/dev/null") != 0) {
    print "1..0 # SKIP python3-phonenumbers is not installed\n";
    exit 0;
}

system("make -s -C '$root' unit >&2") == 0
    or do { print "1..1\nnot ok 1 - make unit failed\n"; exit 1 };

chdir $root or die "chdir: $!";
$ENV{ASAN_OPTIONS} = 'detect_leaks=0:abort_on_error=1';
exec '/usr/bin/python3', 'util/phone-oracle', 'build/unit/phone_test'
    or die "exec: $!";
