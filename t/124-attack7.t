# Seventh round of outside attacks, on 4e87ad4..2d566e7: the number
# reader's fast paths (ngx_twilio_name_like() comparing printable ASCII in
# place, the JSON value string copied at once, white space looked for
# only below '!'), twilio_guard_zone's seeded hash and second-chance
# (CLOCK) queue, and the SMS guard's zones locked in name order.  Plain
# Test::More: it runs its own nginx (four workers) with
# TEST_NGINX_BINARY and TEST_NGINX_LOAD_MODULES, on
# TEST_NGINX_ATTACK7_PORT (1948).
#
# Same convention as t/099-attack5.t: a block marked FINDING asserts the
# secure (or documented) behaviour and fails on the code it was written
# against, so it is skipped unless TEST_NGINX_ATTACK_FINDINGS=1; drop its
# skip with the fix.  The other blocks are regression proofs of attacks
# that failed, and always run.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX ();
use Time::HiRes qw(sleep time);
use Twilio::Backend qw(:all);
use Twilio::Nginx;
use Twilio::Number;

my $port = $ENV{TEST_NGINX_ATTACK7_PORT} || 1948;
my $B = $ENV{TEST_NGINX_BACKEND_PORT} || backend_port();
my $FINDINGS = $ENV{TEST_NGINX_ATTACK_FINDINGS};

sub loc { return number_location($B, 'phone default_country=US', @_) }
sub uloc { return number_location($B, 'phone_number default_country=US', @_) }

sub http_block {
    my ($za) = @_;
    return <<"EOC";
    twilio_guard_zone sms:1m;
    twilio_guard_zone rej:32k;
    twilio_guard_zone za:$za;
    twilio_guard_zone zb:1m;
    twilio_guard_zone zc:1m;
    twilio_guard_https off;
    server {
        listen 127.0.0.1:$port;

        # a PHP app's field "phone_number"; GB numbers refused
@{[ uloc('/php', 'twilio_guard_number_deny GB;') ]}
@{[ loc('/deny', 'twilio_guard_number_deny GB;') ]}
@{[ loc('/otp') ]}

        # a full=reject zone (32k: some 150 counters), 2 s windows
@{[ loc('/rej', 'twilio_guard_limit zone=rej key=number 5/2s;') ]}

        # limits naming three zones in every order, each location
        # redirecting into one with another order; the back ones refuse
        # some numbers, so counts are taken back across the zones
        location /abc {
            twilio_guard_number phone default_country=US;
            twilio_guard_limit zone=za key=number 1000/1h;
            twilio_guard_limit zone=zb key=region 100000/1h;
            twilio_guard_limit zone=zc key=all 100000/1h;
            try_files /nonexistent \@cba;
        }
        location /cab {
            twilio_guard_number phone default_country=US;
            twilio_guard_limit zone=zc key=all 100000/1h;
            twilio_guard_limit zone=za key=range:6 100000/1h;
            twilio_guard_limit zone=zb key=number 1000/1h;
            try_files /nonexistent \@bac;
        }
@{[ loc('@cba', 'twilio_guard_number_deny +14155559;',
        'twilio_guard_limit zone=zc key=number 1000/1h;',
        'twilio_guard_limit zone=zb key=all 100000/1h;',
        'twilio_guard_limit zone=za key=region 100000/1h;') ]}
@{[ loc('@bac', 'twilio_guard_number_deny +14155559;',
        'twilio_guard_limit zone=zb key=range:5 100000/1h;',
        'twilio_guard_limit zone=za key=all 100000/1h;',
        'twilio_guard_limit zone=zc key=number 1000/1h;') ]}

        # keys of every length around the hash's 8-byte words
@{[ loc('/hk', 'twilio_guard_limit zone=sms key=$http_x_k 1/1h;') ]}
    }
EOC
}

my $n = Twilio::Nginx->new(name => 'attack7', port => $port, workers => 4,
                           http => http_block('1m'));

my $FORM = 'application/x-www-form-urlencoded';

sub post {
    my ($path, $body, %o) = @_;
    return number_request($path, $body, %o);
}

sub status {
    my ($path, $body, %o) = @_;
    return Twilio::Nginx::verdict_of(scalar $n->send(post($path, $body, %o)));
}

sub st { return (split ' ', status(@_))[0] }

sub shown { my ($h) = @_; join ' ', map { "$_=$h->{$_}" } sort keys %$h }

ok $n->start, 'nginx starts';

# ---------------------------------------------------------------------
# 1. Parameter names: what PHP reads as the configured name
# ---------------------------------------------------------------------

# FINDING A (medium, since 1st number guard; the "_" of a name), fixed
# in ngx_twilio_name_fold() (" ", "." and an unclosed "[" read as a
# name's "_"): PHP makes
# " " (also "+"), "." and a "[" that is never closed "_" in every
# parameter name (php_register_variable_ex()), so for a PHP app whose
# field is "phone_number" (the docs' own example) "phone.number",
# "phone+number" and "phone[number" are "phone_number", the last one
# wins.  The guard read none of them as the name: a number it allows
# (the decoy, counted) next to the one PHP uses (here in a denied
# region, and never counted) passed.  Secure: number_ambiguous.
{
    for my $alias ('phone.number', 'phone+number', 'phone%5Bnumber',
                   'phone%2Enumber')
    {
        is status('/php', "phone_number=%2B14155550100&$alias=%2B447700900123",
                  type => $FORM),
           '400 number_ambiguous', "PHP: \"$alias\" next to phone_number";
    }
    is status('/php?phone.number=%2B447700900123',
              'phone_number=%2B14155550101', type => $FORM),
       '400 number_ambiguous', 'PHP: "phone.number" in the query';
}

# FINDING B (medium, since 1st number guard), fixed in
# ngx_twilio_form_value() (a long name read by its first 255 bytes): a
# form name longer than
# 255 bytes decoded was no name of the guard's, but PHP cuts every name
# at a NUL and reads "phone%00" and 300 bytes more as "phone" (the last
# one wins).  Secure: number_ambiguous.
{
    my $pad = 'z' x 300;
    is status('/deny', "phone=%2B14155550102&phone%00$pad=%2B447700900123",
              type => $FORM),
       '400 number_ambiguous', 'PHP: "phone\\0" and 300 bytes';
    is status("/deny?phone%00$pad=%2B447700900123",
              'phone=%2B14155550103', type => $FORM),
       '400 number_ambiguous', '... in the query';
}

# regression: the fast path of ngx_twilio_name_like() reads the names the
# folding loop reads (t/unit sweeps every key of up to 2 bytes, and the
# one- and two-byte changes of names with "_", "-" and digits)
{
    for my $name ('PHONE', 'phonE', '%C5%BFphone', 'ph%C3%B6ne', '+phone',
                  'phone%5B%5D', 'phone%00', "%0Bphone", 'pho%E2%84%AAne')
    {
        my $want = $name =~ /%C3%B6|%E2%84%AA/ ? '200 ok'
                 : $name =~ /%C5%BF/ ? '200 ok' : '400 number_ambiguous';
        is status('/deny', "phone=%2B14155550104&$name=%2B447700900123",
                  type => $FORM), $want, "names: \"$name\" next to phone";
    }
    is status('/deny', "phone=%2B14155550105&phone_=%2B447700900123",
              type => $FORM), '200 ok', 'names: "phone_" is another';
    is status('/deny', "phone=%2B14155550105&pho.ne=%2B447700900123",
              type => $FORM), '200 ok', 'names: "pho.ne" is another';
}

# ---------------------------------------------------------------------
# 2. JSON: the value string copied at once, white space below '!'
# ---------------------------------------------------------------------

# regression: a value string with a byte that ends the plain run at every
# offset around the 16-byte blocks: control bytes, DEL, invalid UTF-8, an
# escape; and white space the fast path skips (form feed, vertical tab,
# NUL are not JSON white space).  What a strict reader accepts passes.
{
    my %bad;
    for my $pad (0 .. 20) {
        my $lead = ' ' x $pad;
        for my $case (["\x1f", '400'], ["\x7f", '200'], ["\xff", '400'],
                      ["\xc3\xa9", '200'], ["\xc0\xaf", '400'],
                      ["\\u0041", '200'], ["\\x", '400'], ["\t", '400'])
        {
            my ($b, $want) = @$case;
            my $body = qq({"phone":"+14155550106","x":"$lead$b"});
            my $got = st('/otp', $body);
            $bad{"$pad/" . unpack('H*', $b) . " $got"}++ if $got ne $want;
        }
    }
    is join(' ', sort keys %bad), '', 'JSON: a string broken at every offset';

    for my $case ([qq({"phone"\f:"+14155550107"}), '400'],
                  [qq({"phone":\x0b"+14155550107"}), '400'],
                  [qq({"phone":"+14155550107"\x00}), '400'],
                  [qq({"phone" \r\n\t: \r\n"+14155550107" \n,"a":1}), '200'],
                  [qq({"phone":"+14155550107",\f"a":1}), '400'],
                  [qq({"phone":"+14155550107"), '400'],
                  [qq({"phone":"+14155550107\\"}), '400'],
                  [qq({"phone":"+14155550107}), '400'])
    {
        my ($body, $want) = @$case;
        (my $shown = $body) =~ s/([^ -~])/sprintf '\\x%02x', ord $1/ge;
        is st('/otp', $body), $want, "JSON: $shown";
    }
}

# ---------------------------------------------------------------------
# 3. twilio_guard_zone: the seeded hash
# ---------------------------------------------------------------------

# regression: keys of 1 to 40 bytes that share their last 8 bytes (the
# hash reads the last word overlapping) or differ in one byte anywhere
# are counted apart; the same key again is 429
{
    my (%c, @dup);
    for my $len (1 .. 40) {
        for my $k ('a' x $len, ('a' x ($len - 1)) . 'b',
                   'b' . ('a' x ($len - 1)))
        {
            next if $c{$k}++;
            my $s = st('/hk', '{"phone":"+14155550108"}', headers => ['X-K', $k]);
            push @dup, "$k:$s" if $s ne '200';
        }
    }
    is "@dup", '', 'hash: 118 keys around the words, each its own counter';
    is st('/hk', '{"phone":"+14155550108"}', headers => ['X-K', 'a' x 17]),
       '429', '... and counted';
}

# ---------------------------------------------------------------------
# 4. twilio_guard_zone: the CLOCK queue and expiry in a full=reject zone
# ---------------------------------------------------------------------

# FINDING C (low, since 61539ab), fixed in ngx_http_twilio_guard_zone_touch()
# (a pinned entry moved to the head at once, as before): in a full=reject
# zone entries leave by
# expiry only, and expiry looks from the queue's tail.  A counter used
# again is now only marked; a scan (any request that finds the zone full)
# puts it at the head, ahead of entries counted after its last use, that
# expire later.  So counters that expired are freed only once those
# have: the zone refuses (503 limit_unavailable) for up to a window after
# it had room.  Before, a use put the counter at the head at once, in
# expiry order.  Reproduction: one counter Z, then 40 counters used twice
# (A), 1 s later the rest of the zone (B) until 503; at 4.2 s a request
# takes Z's room; at 5.0 s, with the A's expired and the B's not, a new
# number: 503 (before 61539ab: 200).
{
    my $t0 = time;
    my $num = sub { sprintf '{"phone":"+1415556%04d"}', $_[0] };
    is st('/rej', $num->(0)), '200', 'CLOCK: Z counted';
    sleep 0.5 - (time - $t0);
    my %a;
    for my $i (1 .. 40) { $a{ st('/rej', $num->($i)) . st('/rej', $num->($i)) }++ }
    sleep 1.5 - (time - $t0);
    my ($b, $last) = (0, '');
    for my $i (100 .. 400) {
        $last = st('/rej', $num->($i));
        last if $last ne '200';
        $b++;
    }
    my $filled = time - $t0;
    sleep 4.3 - (time - $t0);
    my $p1 = st('/rej', $num->(900));
    sleep 5.2 - (time - $t0);
    my $p2 = st('/rej', $num->(901));
    is "$p1 $last", '200 503',
       "CLOCK: A's " . shown(\%a) . ", $b B's, full at "
       . sprintf('%.2f', $filled) . ' s; Z expired: room';
    is $p2, '200', 'CLOCK: the A\'s expired: room for a new number';
}

# ---------------------------------------------------------------------
# 5. Lock order: three zones in every order, redirects, a reload
# ---------------------------------------------------------------------

# regression: four workers, bursts into two locations whose lines name
# za, zb, zc in other orders, each redirecting into a named location with
# a third order, some numbers refused there (counts taken back across
# the three zones); a reload in the middle that replaces za (resized):
# every request answered, no lock left held, no worker waiting.
{
    my $t0 = time;
    my @req = map {
        post($_ % 2 ? '/abc' : '/cab',
             sprintf('{"phone":"+1415555%04d"}', $_ % 3 ? 1000 + $_ : 9000 + $_))
    } 1 .. 120;
    my $st1 = $n->burst(@req);
    $n->{http} = http_block('2m');
    $n->write_conf;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) { $n->reload; POSIX::_exit(0) }
    my $st2 = $n->burst(@req);
    waitpid $pid, 0;
    sleep 0.5;
    my $st3 = $n->burst(@req);
    my $ok = 1;
    for my $st ($st1, $st2, $st3) {
        $ok = 0 if grep { $_ ne '200' && $_ ne '403' && $_ ne '429' } keys %$st;
    }
    ok $ok, 'lock order: every request answered (' . join(' / ', map { shown($_) } $st1, $st2, $st3) . ')';
    is $st1->{403}, 40, '... the deny rule behind the redirect: 40 of 120';
    cmp_ok time - $t0, '<', 20, '... no worker waits on a lock';
    is st('/abc', '{"phone":"+14155550109"}'), '200', '... then served';
}

ok !(grep { /signal|was locked/ } $n->bad_log_lines),
   'no worker died, no lock left held';
is_deeply [ grep { !/ignore long locked inactive cache entry/ } $n->bad_log_lines ],
    [], 'no alert or crit lines';

$n->stop;
done_testing;
