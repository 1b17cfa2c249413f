# The module as make builds it carries the hardening Debian's nginx has
# (dpkg-buildflags): full RELRO (a GNU_RELRO segment and BIND_NOW), the
# stack protector, and _FORTIFY_SOURCE's checked string functions.
use strict;
use warnings;
use FindBin;

my $root = "$FindBin::Bin/..";
my $so = "$root/build/ngx_http_twilio_guard_module.so";

system("make -s -C '$root' module >&2") == 0
    or do { print "1..1\nnot ok 1 - make module failed\n"; exit 1 };

my $n = 0;
sub ok { my ($c, $name) = @_; $n++; print(($c ? "" : "not "), "ok $n - $name\n"); }

my $segments = `readelf -lW '$so' 2>&1`;
my $dynamic = `readelf -dW '$so' 2>&1`;
my $symbols = `nm -D '$so' 2>&1`;

ok($segments =~ /GNU_RELRO/, "a GNU_RELRO segment");
ok($dynamic =~ /BIND_NOW|FLAGS_1.*\bNOW\b/, "bound now (-z now)");
ok($symbols =~ /__stack_chk_fail/, "the stack protector");
ok($symbols =~ /__\w+_chk\b/ && $symbols =~ /__(?!stack)\w+_chk\b/,
   "_FORTIFY_SOURCE's checked functions");

print "1..$n\n";
