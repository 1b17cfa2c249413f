# Fourth round of outside attacks: the SMS guard's JSON reader after
# 752818e (plain string runs found sixteen bytes at a time with SSE2,
# member names compared in place, a first-byte reject in the look-alike
# rule) and its limit counting after e3e197c (the entries the check found
# counted in without a second lookup unless an insertion made them stale).
# Plain Test::More: it runs its own nginx (two workers) with
# TEST_NGINX_BINARY and TEST_NGINX_LOAD_MODULES, on TEST_NGINX_ATTACK4_PORT
# (1945).
#
# Same convention as t/097-attack3.t: a block marked FINDING asserts the
# secure (or documented) behaviour and fails on the code it was written
# against, so it is skipped unless TEST_NGINX_ATTACK_FINDINGS=1; drop its
# skip with the fix.  The other blocks are regression proofs of attacks
# that failed, and always run.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep);
use Twilio::Backend qw(:all);
use Twilio::Nginx;
use Twilio::Number;

my $port = $ENV{TEST_NGINX_ATTACK4_PORT} || 1945;
my $B = $ENV{TEST_NGINX_BACKEND_PORT} || backend_port();
my $FINDINGS = $ENV{TEST_NGINX_ATTACK_FINDINGS};

sub loc { return number_location($B, 'phone default_country=US', @_) }

my $n = Twilio::Nginx->new(name => 'attack4', port => $port, workers => 2,
                           http => <<"EOC");
    twilio_guard_zone sms:1m;
    twilio_guard_zone tiny:32k;
    twilio_guard_zone tinyr:32k;
    server {
        listen 127.0.0.1:$port;
@{[ loc('/open') ]}
@{[ loc('/one', 'twilio_guard_limit zone=sms key=number 1/1h;') ]}
@{[ loc('/sameperiod', 'twilio_guard_limit zone=sms key=number 3/10m 5/10m;') ]}
@{[ loc('/twolines', 'twilio_guard_limit zone=sms key=number 3/1h;',
        'twilio_guard_limit zone=sms key=number 3/1h 10/1d;') ]}
@{[ loc('/shortfirst', 'twilio_guard_limit zone=sms key=number 2/1s 3/1h;') ]}
@{[ loc('/shortlast', 'twilio_guard_limit zone=sms key=number 3/1h 2/1s;') ]}
@{[ loc('/evict', 'twilio_guard_limit zone=tiny key=number 2/1h 3/1d full=evict;',
        'twilio_guard_limit zone=tiny key=all 1000/1h 2000/1d full=evict;') ]}
@{[ loc('/reject', 'twilio_guard_limit zone=tinyr key=number 2/1h 3/1d;') ]}
        location /front {
            twilio_guard_number phone default_country=US;
            twilio_guard_limit zone=sms key=number 5/1h;
            try_files /nonexistent \@strict;
        }
@{[ loc('@strict', 'twilio_guard_limit zone=sms key=number 1/1h;') ]}
@{[ loc('/frontonly', 'twilio_guard_limit zone=sms key=number 5/1h;') ]}
    }
EOC

sub req {
    my ($path, $body, $ct) = @_;
    return number_request($path, $body, type => $ct);
}

sub status { return Twilio::Nginx::verdict_of($n->send(req(@_))) }

sub json { my ($p) = @_; return qq({"phone":"$p"}) }

# the statuses of $count requests for one number
sub statuses {
    my ($count, $path, $phone) = @_;
    return join ',', map { (split ' ', status($path, json($phone)))[0] }
                     1 .. $count;
}

ok $n->start, 'nginx starts';

# regression: a byte that ends a plain run (control, non-ASCII, quote,
# backslash) at every place around the 16-byte blocks of the SSE2 scan, in
# a member that is only skipped: a raw control byte or invalid UTF-8
# (overlong, a UTF-16 surrogate, over U+10FFFF, a lone continuation byte,
# a sequence cut short) makes the body invalid JSON, 400; valid UTF-8 and
# escapes at the same places are read through to the number, 200.
{
    my @bad = ("\x1f", "\x00", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
               "\x80", "\xe2\x82", '\ud800', '\udc00x', '\x');
    my @good = ("\x7f", "\xc3\xa9", "\xf0\x9f\x98\x80", '\"', '\\\\',
                '\u00e9', '\ud83d\ude00', '\u0000');
    my (@wrong_bad, @wrong_good);
    for my $pos (14 .. 18, 30 .. 33) {
        for my $s (@bad) {
            my $v = ('a' x $pos) . $s . ('b' x 20);
            my $r = status('/open', qq({"pad":"$v","phone":"+14155550100"}));
            push @wrong_bad, "$pos " . unpack('H*', $s) . " $r"
                unless $r eq '400 number_invalid';
        }
        for my $s (@good) {
            my $v = ('a' x $pos) . $s . ('b' x 20);
            my $r = status('/open', qq({"pad":"$v","phone":"+14155550100"}));
            push @wrong_good, "$pos " . unpack('H*', $s) . " $r"
                unless $r eq '200 ok';
        }
    }
    is "@wrong_bad", '', 'runs: invalid bytes at block edges are refused';
    is "@wrong_good", '', 'runs: valid bytes and escapes at block edges pass';

    # a body cut inside a string at a block edge: no read past its end
    for my $len (15, 16, 17, 31, 32) {
        is status('/open', '{"phone":"+14155550100","pad":"' . ('x' x $len)),
           '400 number_invalid', "runs: a body cut after $len string bytes";
    }
}

# regression: names compared in place and decoded ones are one name, with
# the look-alike rule (case, leading white space, "[", U+212A, U+017F):
# each spelling of "phone" next to the plain one is ambiguous; names that
# differ from the first byte on, or are long, are other members.
{
    for my $name ('PHONE', 'Phone', 'ph\u006fne', '\u0070hone', ' phone',
                  '\tphone', '\nphone', 'phone[]', 'phone\u0000x',
                  "ph\xe2\x84\xaaone", 'ph\u00c5one')
    {
        my $want = $name eq 'ph\u00c5one' ? '200 ok' : '400 number_ambiguous';
        $want = '200 ok' if $name eq "ph\xe2\x84\xaaone";   # K is not o
        is status('/open', qq({"$name":"+447700900123","phone":"+14155550101"})),
           $want, "names: \"$name\" next to \"phone\"";
    }
    is status('/open', qq({"PHONE":"+14155550102"})), '200 ok',
       'names: "PHONE" alone is the number';
    is status('/open', qq({"\\u0050HONE":"+14155550102"})), '200 ok',
       'names: an escaped "PHONE" alone is the number';
    for my $name ('xphone', '0phone', '@phone', '_phone', 'Qhone',
                  ('a' x 40) . 'phone', "\x7fphone", 'phones')
    {
        is status('/open', qq({"$name":"+447700900123","phone":"+14155550103"})),
           '200 ok', "names: \"$name\" is another member";
    }
    is status('/open', '{"' . ('p' x 300) . '":"x","phone":"+14155550104"}'),
       '200 ok', 'names: a 300-byte name is another member';
}

# regression (e3e197c): a window's entry is reused from the check unless an
# insertion made it stale.  An expired short window next to a live long
# one, in either order, re-created while the other keeps its count; a tiny
# full=evict zone flooded with numbers under two windows and key=all
# (insertions that evict while a request holds entries), then exact for
# one number; a tiny full=reject zone: a request that cannot be counted
# gets 503 and never reaches the upstream.
{
    is statuses(3, '/shortfirst', '+14155550110'), '200,200,429',
       'stale: 2/1s 3/1h, the short window full';
    is statuses(3, '/shortlast', '+14155550111'), '200,200,429',
       'stale: 3/1h 2/1s, the short window full';
    sleep 2.2;   # the 1s windows' entries live 2 periods
    is statuses(2, '/shortfirst', '+14155550110'), '200,429',
       'stale: the 1s entry expired and re-created, the 1h one kept its 2';
    is statuses(2, '/shortlast', '+14155550111'), '200,429',
       'stale: the same with the 1s window last';

    my %c;
    $c{ (split ' ', status('/evict', json(sprintf '+1415555%04d', 2000 + $_)))[0] }++
        for 0 .. 299;
    is join(' ', map { "$_=$c{$_}" } sort keys %c), '200=300',
       'evict: 300 numbers through a tiny zone, each once';
    ok scalar(grep { /"tiny" is full: \d+ entries evicted/ } $n->log_lines),
       'evict: the zone did evict';
    is statuses(4, '/evict', '+14155559990'), '200,200,429,429',
       'evict: one number is still exact under 2/1h 3/1d';

    backend_reset();
    my (%r, $i);
    for ($i = 0; $i < 600 && !$r{503}; $i++) {
        $r{ (split ' ', status('/reject', json(sprintf("+1415556%04d", $i))))[0] }++;
    }
    ok $r{503}, "reject: the tiny zone is full after $i numbers";
    is backend_hits(), $r{200}, 'reject: only the counted requests reached the upstream';
    is status('/reject', json('+14155560000')), '200 ok',
       'reject: a counted number still passes once more';
    is status('/reject', json('+14155560000')), '429 limited',
       'reject: and is then over 2/1h';
}

# regression: the reader against Python's json module, and its SSE2 build
# against the portable one, on the same bodies (util/json-oracle; the unit
# test binaries of "make unit").
SKIP: {
    my ($simd, $scalar) = map { "$FindBin::Bin/../build/unit/$_" }
                          'phone_test', 'phone_test_scalar';
    skip 'no build/unit/phone_test{,_scalar}: make unit', 1
        unless -x $simd && -x $scalar && -x '/usr/bin/python3';
    my $out = `/usr/bin/python3 $FindBin::Bin/../util/json-oracle $simd $scalar 6000 2>&1`;
    is $?, 0, 'oracle: SSE2 = portable = Python on ~34,000 bodies'
        or diag $out;
}

# Found A (counting; in the code before e3e197c too; fixed): windows of
# the same zone, key and period share one counter, and a request added one
# to it per window, not once.  "3/10m 5/10m" lets 2 requests through, not 3;
# two lines "3/1h" and "3/1h 10/1d" (docs/directives.md: "a request must
# fit every window of every line") let 1 through, not 3.  Refused users,
# or a limit written in two lines silently a third as strict.  Cause:
# ngx_http_twilio_guard_sms_count() adds one to the entry for every window
# (ngx_http_twilio_guard_sms.c:1289-1298), and the key of a window is
# zone, key kind, range, period and value only (sms_key()).  Fix: count an
# entry once per request (skip a window whose key this request already
# counted in the same zone, as counted_before() does across redirects),
# and check every window against it; or refuse the same period twice in a
# line at configuration time.  Now every window is checked and the entry
# counted once (ngx_http_twilio_guard_sms_seen()).
is statuses(4, '/sameperiod', '+14155550120'), '200,200,200,429',
   'same period twice in a line: 3 pass';
is statuses(4, '/twolines', '+14155550121'), '200,200,200,429',
   'the same period in two lines: 3 pass';

# Found B (redirects; not from e3e197c; fixed): after an internal
# redirect, a limit whose windows have the zone, key and period of windows
# this request was counted in before was skipped whole, its COUNT never
# checked.
# /front (5/1h) hands every request to \@strict (1/1h): 5 an hour reach
# the upstream through \@strict, whose own line says 1.  Cause:
# ngx_http_twilio_guard_sms_counted_before() (ngx_http_twilio_guard_sms.c
# :1121-1160) compares zone and key only, and _limits() then skips the
# check with the count (:1002-1005).  Fix: still check such a limit's
# windows (pass 0 and the check half of _count()), only skip adding to an
# entry this request already counted in.  Now such a window is checked
# with the request's own count in it, and a request refused there has the
# counts of the locations before taken back.
is statuses(3, '/front', '+14155550130'), '200,429,429',
   'a stricter limit after a redirect still refuses';
is statuses(5, '/frontonly', '+14155550130'), '200,200,200,200,429',
   'the two refused after the redirect were taken back from /front\'s 5/1h';

ok !(grep { /signal|was locked/ } $n->bad_log_lines),
   'no worker died, no lock left held';

$n->stop;
done_testing;
