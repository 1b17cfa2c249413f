# twilio_guard_replay across time, reloads, workers and nginx instances:
# the window passes, entries survive "nginx -s reload" when the zone keeps
# its name and size, a client gone after the upstream got the request
# leaves the entry standing, 50 identical copies at once reach the
# upstream once, a full zone answers 503 (it never evicts an entry inside
# its window), and a front nginx hashing on the signature gives a fleet the
# guarantee of one machine.  Plain Test::More: it runs its own nginx
# instances, with TEST_NGINX_BINARY and TEST_NGINX_LOAD_MODULES.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use IO::Socket::INET ();
use Time::HiRes qw(sleep time);
use Test::More;
use Twilio::Backend qw(:all);
use Twilio::Request;
use Twilio::Nginx;

my $port = $ENV{TEST_NGINX_REPLAY_PORT} || 1970;
my $B = $ENV{TEST_NGINX_BACKEND_PORT};

sub guarded {
    my (%o) = @_;
    my $replay = $o{replay} // 'zone=replay window=2s';
    return <<"EOC";
    twilio_guard_zone $o{zone};
    server {
        listen 127.0.0.1:$o{port};
        listen 127.0.0.1:@{[$o{port} + 10]} http2;
        location /sms {
            twilio_guard on;
            twilio_guard_https off;
            twilio_guard_auth_token @{[ $o{tokens} // $TOKEN ]};
            twilio_guard_url https://example.com/sms;
            twilio_guard_replay $replay;
            add_header X-Result \$twilio_guard_result always;
            proxy_pass http://127.0.0.1:$B;
        }
    }
EOC
}

my $n = Twilio::Nginx->new(name => 'replay', port => $port, workers => 2,
                           http => guarded(zone => 'replay:1m',
                                           port => $port));

sub req {
    my ($body, @h) = @_;
    return signed_request(body => $body, headers => \@h);
}

sub status {
    my ($body, @h) = @_;
    my $r = $n->send(req($body, @h));
    my ($res) = $r =~ m{^X-Result: (\S*)}mi;
    return Twilio::Nginx::status_of($r) . (defined $res ? " $res" : '');
}


sub log_has {
    my ($re) = @_;
    return scalar grep { $_ =~ $re } $n->log_lines;
}

ok $n->start, 'nginx starts with a zone and two workers';

# the window
backend_reset();
is status('Body=w'), '200 ok', 'first copy passes';
is status('Body=w'), '409 replayed', 'second copy: 409';
ok log_has(qr/rejected: replayed, the same signature under token "1" was first seen \d+ ms ago and succeeded, idempotency token "-"/),
   'the rejection is logged with its reason';
sleep 2.3;
is status('Body=w'), '200 ok', 'after the 2 s window it passes again';
is backend_hits(), 2, 'the upstream saw it twice: once per window';

# the idempotency token decides nothing
is status('Body=w', 'I-Twilio-Idempotency-Token' => 'changed'), '409 replayed',
   'another I-Twilio-Idempotency-Token is still a replay';
ok log_has(qr/idempotency token "changed"/), 'the token is logged';
is status('Body=w', 'I-Twilio-Idempotency-Token'
                       => 'a" client: 6.6.6.6 "' . ('x' x 400)),
   '409 replayed', 'a token with quotes and 400 more bytes: still a replay';
ok log_has(qr/idempotency token "a\\x22 client: 6\.6\.6\.6 \\x22x{200,}\.\.\.\(cut, \d+ bytes\)"/),
   '... logged escaped and cut, like every value a client sends';

# HTTP/2 (cleartext, prior knowledge)
SKIP: {
    skip 'no curl', 2 unless `curl --version 2>/dev/null` =~ /HTTP2/;
    my $sig = signature_for(body => 'Body=h2');
    my @curl = ('curl', '-s', '--http2-prior-knowledge', '-o', '/dev/null',
                '-w', '%{http_code} %{http_version}',
                '-H', "Content-Type: $FORM", '-H', "X-Twilio-Signature: $sig",
                '--data-binary', 'Body=h2',
                'http://127.0.0.1:' . ($port + 10) . '/sms');
    my $h2 = sub { open my $p, '-|', @curl or die $!; local $/; <$p> };
    is $h2->(), '200 2', 'HTTP/2: the first copy passes';
    is $h2->(), '409 2', 'HTTP/2: the second is a replay';
}

# reloads
is status('Body=r'), '200 ok', 'a request before the reload';
ok $n->reload, 'reload with the same zone';
is status('Body=r'), '409 replayed', 'its copy after the reload: still a replay';

# a rotation: another token first, the same one second
my $OTHER = '0123456789abcdef0123456789abcdef';
$n->{http} = guarded(zone => 'replay:1m', port => $port,
                     tokens => "$OTHER;\n twilio_guard_auth_token $TOKEN");
$n->write_conf;
ok $n->reload, 'reload with a new token before the old one';
is status('Body=r'), '409 replayed',
   'a replay verified by the same token, now the second: still rejected';

$n->{http} = guarded(zone => 'replay:2m', port => $port);
$n->write_conf;
ok $n->reload, 'reload with the zone resized';
is status('Body=r'), '200 ok', 'a resized zone starts empty';
ok $n->reload, 'reload, the size unchanged';
is status('Body=r'), '409 replayed', 'and keeps its entries again';

# a request in flight blocks its copies; a client gone after the
# upstream got the request leaves the entry standing (the application may
# have acted on it)
backend_reset();
my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die $!;
syswrite $c, req('Body=gone', 'X-Backend-Delay' => '1');
sleep 0.4;
is status('Body=gone'), '409 replayed', 'a copy while the first is in flight: 409';
ok log_has(qr/was first seen \d+ ms ago and is still in flight/),
   'logged as in flight';
close $c;
sleep 0.4;
is status('Body=gone'), '409 replayed',
   'the client of the first gave up (499) after the upstream got it: '
   . 'the retry is a replay';
sleep 0.4;
is backend_hits(), 1, 'the upstream saw one';

# fifty identical requests at once to two workers
for my $delay (0, 0.5) {
    backend_reset();
    my $req = req("Body=burst+$delay", 'X-Backend-Delay' => $delay);
    my $st = $n->burst(($req) x 50);
    is_deeply $st, { 200 => 1, 409 => 49 },
              "50 copies at once (upstream delay $delay s): one 200, 49 409";
    is backend_hits(), 1, '... and the upstream saw exactly one';
}

# a tiny zone filled past capacity: no entry inside its window is
# evicted (others' signed requests would push a victim's out, and its copy
# through); the zone answers 503 once full, and says why
$n->{http} = guarded(zone => 'tiny:32k', port => $port,
                     replay => 'zone=tiny window=1h');
$n->write_conf;
ok $n->reload, 'reload with a 32k zone';
backend_reset();
my %st;
$st{ status("Body=fill+$_") =~ s/ .*//r }++ for 1 .. 400;
ok $st{200} && $st{503} && $st{200} + $st{503} == 400,
   '400 distinct requests into a 32k zone: 200 until it is full, then 503 ('
   . join(', ', map { "$_: $st{$_}" } sort keys %st) . ')';
diag "a 32k zone holds " . ($st{200} // '?') . " replay entries";
is backend_hits(), $st{200}, 'only the recorded ones reached the upstream';
ok log_has(qr/rejected: replay_unavailable, twilio_guard_zone "tiny" has no room for the request: every entry is in flight or inside its window; make the zone larger/),
   'the 503 says why';
ok !grep({ /is full: \d+ entries evicted/ } $n->log_lines),
   'nothing was evicted';
is status('Body=fill+1'), '409 replayed', 'the oldest entry is still there';
is status("Body=fill+$st{200}"), '409 replayed', 'the newest too';

# a zone full of requests in flight: 503, never an open door; once they
# are done and their window has passed, fresh requests pass
$n->{http} = guarded(zone => 'tiny2:32k', port => $port,
                     replay => 'zone=tiny2 window=1s');
$n->write_conf;
ok $n->reload, 'reload with another 32k zone, window 1s';
backend_reset();
my @reqs = map { req("Body=held+$_", 'X-Backend-Delay' => 2) } 1 .. 300;
my $held = $n->burst(@reqs);
ok $held->{503}, "a zone full of requests in flight answers 503 ("
                 . join(', ', map { "$_: $held->{$_}" } sort keys %$held)
                 . ')';
is $held->{200} + $held->{503}, 300, 'every request is a 200 or a 503';
is backend_hits(), $held->{200}, 'only the recorded ones reached the upstream';
ok log_has(qr/rejected: replay_unavailable, twilio_guard_zone "tiny2" has no room for the request/),
   'the 503 says why';
sleep 1.2;
is status('Body=fresh'), '200 ok',
   'fresh requests pass once the others are done and their window passed';

is_deeply [$n->bad_log_lines], [], 'no alert, crit or crash in the log';
$n->stop;

# a fleet: a front nginx hashing on the signature, two guarded nodes
my ($p1, $p2, $p3) = ($port + 1, $port + 2, $port + 3);
my @nodes = map {
    Twilio::Nginx->new(name => "replay-node$_->[1]", port => $_->[0],
                       http => guarded(zone => 'replay:1m', port => $_->[0],
                                       replay => 'zone=replay'))
} [$p2, 1], [$p3, 2];
my $front = Twilio::Nginx->new(name => 'replay-front', port => $p1,
                               http => <<"EOC");
    upstream guarded {
        hash \$http_x_twilio_signature consistent;
        server 127.0.0.1:$p2;
        server 127.0.0.1:$p3;
    }
    upstream round_robin {
        server 127.0.0.1:$p2;
        server 127.0.0.1:$p3;
    }
    server {
        listen 127.0.0.1:$p1;
        location /sms {
            proxy_set_header Host \$host;
            proxy_pass http://\$http_x_upstream;
        }
    }
EOC
ok $_->start, 'a guarded node starts' for @nodes;
ok $front->start, 'the front starts';

my (%hashed, %rr);
for my $i (1 .. 10) {
    my $r = req("Body=fleet+$i", 'X-Upstream' => 'guarded');
    $hashed{ join ' ', map { Twilio::Nginx::status_of($front->send($r)) } 1, 2 }++;
    $r = req("Body=rr+$i", 'X-Upstream' => 'round_robin');
    $rr{ join ' ', map { Twilio::Nginx::status_of($front->send($r)) } 1, 2 }++;
}
is_deeply \%hashed, { '200 409' => 10 },
          'hashed on the signature: every replay reaches the same node, 409';
is_deeply \%rr, { '200 200' => 10 },
          'round robin: each copy reaches the other node, which never saw it';

$_->stop for $front, @nodes;

# an entry in flight whose worker died (kill -9) is never settled: past
# inflight=, a copy takes it over; before, it is still a replay
my $pk = $port + 5;
my $k = Twilio::Nginx->new(name => 'replay-kill', port => $pk,
                           http => guarded(zone => 'replay:1m', port => $pk,
                                           replay => 'zone=replay window=1h inflight=1s'));
ok $k->start, 'nginx starts with inflight=1s';
backend_reset();
my $kc = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$pk") or die $!;
syswrite $kc, req('Body=killed', 'X-Backend-Delay' => '3');
sleep 0.4;
my @old = $k->workers;
kill 'KILL', @old;
my $t0 = time;
sleep 0.05 while time - $t0 < 5 && (!$k->workers || grep({ my $o = $_; grep { $_ == $o } $k->workers } @old));
close $kc;
my $kst = sub {
    my $r = $k->send(req('Body=killed'));
    return Twilio::Nginx::status_of($r);
};
is $kst->(), '409', 'its worker killed, within inflight=: still a replay';
sleep 1;
is $kst->(), '200', 'past inflight=, the dead worker\'s entry is taken over';
is $kst->(), '409', 'and the copy after that is a replay';
$k->stop;

done_testing;
