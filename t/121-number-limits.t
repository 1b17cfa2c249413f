# twilio_guard_limit through nginx with two workers: counted per number,
# per range, per region, in all and per variable, exactly under
# concurrency; 429 with Retry-After; windows rolling over; a refused
# request not counted, and a request refused by a later limit taken back
# from the earlier ones; counters kept across a reload; dry run; a full
# zone answered 503 (full=reject) or evicting (full=evict); limits in two
# zones locked together, in either order.  Plain
# Test::More: it runs its own nginx, with TEST_NGINX_BINARY and
# TEST_NGINX_LOAD_MODULES.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Time::HiRes qw(sleep time);
use Test::More;
use Twilio::Backend qw(:all);
use Twilio::Nginx;
use Twilio::Number;

my $port = $ENV{TEST_NGINX_NUMBER_PORT} || 1950;
my $B = $ENV{TEST_NGINX_BACKEND_PORT};

sub loc { return number_location($B, 'phone', @_) }

my $http = <<"EOC";
    twilio_guard_zone sms:1m;
    twilio_guard_zone tiny:32k;
    twilio_guard_zone tiny2:32k;
    twilio_guard_zone other:1m;
    server {
        listen 127.0.0.1:$port;
        listen 127.0.0.1:@{[$port + 10]} http2;
@{[ loc('/number', 'twilio_guard_limit zone=sms key=number 3/10m;') ]}
@{[ loc('/burst', 'twilio_guard_limit zone=sms key=number 10/1h;') ]}
@{[ loc('/range', 'twilio_guard_limit zone=sms key=range:2 2/1h;') ]}
@{[ loc('/region', 'twilio_guard_limit zone=sms key=region 2/1h;') ]}
@{[ loc('/all', 'twilio_guard_limit zone=sms key=all 3/1h;') ]}
@{[ loc('/var', 'twilio_guard_limit zone=sms key=$http_x_client 1/1h;') ]}
@{[ loc('/varnum', 'twilio_guard_limit zone=sms key=number 2/1h;',
        'twilio_guard_limit zone=sms key=$http_x_client 5/1h;') ]}
@{[ loc('/short', 'twilio_guard_limit zone=sms key=number 2/2s;') ]}
@{[ loc('/reload', 'twilio_guard_limit zone=sms key=number 2/1h;') ]}
@{[ loc('/two', 'twilio_guard_limit zone=sms key=number 1/1h;',
        'twilio_guard_limit zone=sms key=$http_x_gate 1/1h;') ]}
@{[ loc('/windows', 'twilio_guard_limit zone=sms key=number 1/1h 5/1d;') ]}
@{[ loc('/dry', 'twilio_guard_number_dry_run on;',
        'twilio_guard_limit zone=sms key=number 1/1h;') ]}
@{[ loc('/h2', 'twilio_guard_limit zone=sms key=number 2/1h;') ]}
@{[ loc('/full', 'twilio_guard_limit zone=tiny key=number 5/1h;') ]}
@{[ loc('/evict', 'twilio_guard_limit zone=tiny2 key=number 5/1h full=evict;') ]}
@{[ loc('/ab', 'twilio_guard_limit zone=sms key=number 100/1h;',
        'twilio_guard_limit zone=other key=all 15/1h;') ]}
@{[ loc('/ba', 'twilio_guard_limit zone=other key=all 15/1h;',
        'twilio_guard_limit zone=sms key=number 100/1h;') ]}
@{[ loc('/fullmix', 'twilio_guard_limit zone=sms key=range:4 100/1h;',
        'twilio_guard_limit zone=tiny key=number 5/1h;') ]}
@{[ loc('/rangecheck', 'twilio_guard_limit zone=sms key=range:4 1/1h;') ]}
    }
EOC

my $n = Twilio::Nginx->new(name => 'number', port => $port, workers => 2,
                           http => $http);

sub req {
    my ($path, $phone, @h) = @_;
    return number_request($path, qq({"phone":"$phone","code":"1"}),
                          headers => \@h);
}


sub status { return Twilio::Nginx::verdict_of($n->send(req(@_))) }

sub statuses {
    my ($count, @args) = @_;
    return join ',', map { (split ' ', status(@args))[0] } 1 .. $count;
}


sub log_has {
    my ($re) = @_;
    return scalar grep { $_ =~ $re } $n->log_lines;
}

ok $n->start, 'nginx starts with two workers and the zones';

# per number, 429 with Retry-After
is statuses(3, '/number', '+14155550100'), '200,200,200',
   'three requests for one number pass';
my $r = $n->send(req('/number', '+1 415 555 0100'));
is Twilio::Nginx::status_of($r), 429, 'the fourth, written otherwise: 429';
like $r, qr/^X-Result: limited\r$/m, 'reason limited';
my ($retry) = $r =~ /^Retry-After: (\d+)\r$/m;
ok defined $retry && $retry >= 1 && $retry <= 1200,
   "Retry-After within two windows (${\ ($retry // 'none')} s)";
is status('/number', '+14155550101'), '200 ok', 'another number passes';
ok log_has(qr/rejected: limited, number \+1415555\*\*\*\*, key=number over 3\/10m in zone "sms", retry after \d+ ms/),
   'the log line names the key, the window, the zone; the number masked';
ok !log_has(qr/\+14155550100/), 'the number is nowhere in the log';

# exact under concurrency: 60 at once, 10 pass
backend_reset();
my $st = $n->burst(map { req('/burst', '+447700900123') } 1 .. 60);
is $st->{200} // 0, 10, '60 requests at once for one number: 10 pass';
is $st->{429} // 0, 50, 'and 50 are limited';
is backend_hits(), 10, 'the upstream saw exactly 10';

# per range (last 2 digits dropped)
is statuses(2, '/range', '+14155550100'), '200,200', 'two in a range pass';
is status('/range', '+14155550199'), '429 limited',
   'a third number in the same range is limited';
is status('/range', '+14155550200'), '200 ok', 'the next range passes';

# per region
is status('/region', '+18765550100'), '200 ok', 'JM once';
is status('/region', '+18765550101'), '200 ok', 'JM twice';
is status('/region', '+18765550102'), '429 limited', 'JM a third time: 429';
is status('/region', '+14155550100'), '200 ok', 'US passes';

# in all
is statuses(3, '/all', '+12025550100'), '200,200,200', 'three in all';
is status('/all', '+33612345678'), '429 limited', 'a fourth number: 429';

# per variable; an empty key is not counted
is status('/var', '+14155550100', 'X-Client' => 'a'), '200 ok', 'client a';
is status('/var', '+14155550100', 'X-Client' => 'b'), '200 ok', 'client b';
is status('/var', '+14155550100', 'X-Client' => 'a'), '429 limited',
   'client a again: 429';
is statuses(2, '/var', '+14155550100'), '200,200',
   'no X-Client: not counted';

# an empty key in a later line leaves the earlier lines' counts alone
is statuses(3, '/varnum', '+14155550900'), '200,200,429',
   'key=number 2/1h, then an empty $http_x_client: the third is limited';

# a long key is counted by its digest, never left out
my $long = 'x' x 600;
is status('/var', '+14155550100', 'X-Client' => $long), '200 ok',
   'a 600-byte key: counted';
is status('/var', '+14155550100', 'X-Client' => $long), '429 limited',
   'the same again: 429';

# a request refused by a later limit is taken back from the earlier one
is status('/two', '+14155550300', 'X-Gate' => 'g1'), '200 ok', 'A, gate 1';
is status('/two', '+14155550301', 'X-Gate' => 'g1'), '429 limited',
   'B, gate 1: refused by the second limit';
is status('/two', '+14155550301', 'X-Gate' => 'g2'), '200 ok',
   'B, gate 2: passes, B was not counted by the first limit';

# several windows on a line
is status('/windows', '+14155550400'), '200 ok', '1/1h 5/1d: one passes';
is status('/windows', '+14155550400'), '429 limited', 'the second: 429';
ok log_has(qr/key=number over 1\/1h in zone/), 'the window that refused';

# dry run: logged, let through, not counted
is statuses(3, '/dry', '+14155550500'), '200,200,200',
   'dry run: all pass';
is scalar(grep { /dry run, would reject: limited, number \+1415555\*\*\*\*/ }
          $n->log_lines), 2, 'two would have been limited';

# windows roll over
is statuses(3, '/short', '+14155550600'), '200,200,429', '2/2s: the third 429';
$r = $n->send(req('/short', '+14155550600'));
($retry) = $r =~ /^Retry-After: (\d+)\r$/m;
ok defined $retry && $retry <= 4, "Retry-After ${\ ($retry // 'none')} s";
sleep(($retry // 4) + 0.1);
is status('/short', '+14155550600'), '200 ok', 'after Retry-After: passes';

# HTTP/2 (cleartext, prior knowledge): the body read the same way
SKIP: {
    skip 'no curl with HTTP/2', 3 unless `curl --version 2>/dev/null` =~ /HTTP2/;
    my @curl = ('curl', '-s', '--http2-prior-knowledge', '-o', '/dev/null',
                '-w', '%{http_code} %{http_version}',
                '-H', 'Content-Type: application/json',
                '--data-binary', '{"phone":"+14155550800"}',
                'http://127.0.0.1:' . ($port + 10) . '/h2');
    my $h2 = sub { open my $p, '-|', @curl or die $!; local $/; <$p> };
    is $h2->(), '200 2', 'HTTP/2: the first passes';
    is $h2->(), '200 2', 'HTTP/2: the second passes';
    is $h2->(), '429 2', 'HTTP/2: the third is limited';
}

# a reload keeps the counters
is statuses(2, '/reload', '+14155550700'), '200,200', 'two before a reload';
ok $n->reload, 'reload';
is status('/reload', '+14155550700'), '429 limited',
   'after the reload: still counted';

# a full zone: full=reject answers 503, full=evict evicts and says so
my %full;
for my $i (1 .. 600) {
    my $s = status('/full', sprintf('+1415556%04d', $i));
    $full{$s}++;
    last if $s eq '503 limit_unavailable';
}
ok $full{'503 limit_unavailable'}, 'a full zone: 503 limit_unavailable '
   . "after ${\ ($full{'200 ok'} // 0)} numbers";
ok log_has(qr/rejected: limit_unavailable, number \+1415556\*\*\*\*, twilio_guard_zone "tiny" is full/),
   'logged, naming the zone';
my %ev;
$ev{ status('/evict', sprintf('+1415557%04d', $_)) }++ for 1 .. 600;
is_deeply \%ev, { '200 ok' => 600 }, 'full=evict: 600 numbers pass';
ok log_has(qr/twilio_guard_zone "tiny2" is full: \d+ entries evicted/),
   'the evictions are reported';

# after entries were evicted from every tree of the zone's buckets, the
# numbers still kept are found and counted exactly
is statuses(5, '/evict', '+14155570600'), '200,200,200,200,429',
   'the latest number kept: four more pass, the fifth is limited';
is statuses(5, '/evict', '+14155570599'), '200,200,200,200,429',
   'so is the one before it';

# a counter in use is not evicted: one number every 60 new ones (the zone
# holds some 150) keeps its count while 300 new numbers push others out
my @hot;
for my $i (0 .. 299) {
    push @hot, (split ' ', status('/evict', '+14155579999'))[0]
        if $i % 60 == 0;
    status('/evict', sprintf('+1415571%04d', $i));
}
push @hot, (split ' ', status('/evict', '+14155579999'))[0];
is join(',', @hot), '200,200,200,200,200,429',
   'full=evict: the number used all along keeps its count (5/1h)';

# a full zone after a limit in another zone: that count is taken back
is status('/fullmix', "+1415558000$_"), '503 limit_unavailable',
   "a range counted in sms, then tiny full ($_)" for 1 .. 3;
is status('/rangecheck', '+14155580009'), '200 ok',
   'the range was not left counted in sms';

# limits in two zones, the lines in either order, 40 requests at once:
# the zones are locked together in one order, and the budget is exact
backend_reset();
$st = $n->burst(map { req($_ % 2 ? '/ab' : '/ba', sprintf('+1415559%04d', $_)) }
            1 .. 40);
is $st->{200} // 0, 15, 'two zones, 40 at once: 15 pass';
is $st->{429} // 0, 25, 'and 25 are limited';
is backend_hits(), 15, 'the upstream saw exactly 15';

is_deeply [ $n->bad_log_lines ], [], 'no alert, crit or crash in the log';

$n->stop;
done_testing;
