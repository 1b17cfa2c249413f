# Sixth round of outside attacks: the SMS guard's preread fast path
# (b57e885..d5b61e7: a body that came whole with the headers is decided
# from r->header_in, the proxy reads the same bytes later; a location
# with a key=$variable limit reads it, also after a redirect, ctx->again)
# and twilio_guard_zone's bucketed trees (2f2b1cc: one red-black tree per
# bucket of hashes, hash & mask, the roots in shared memory).  Plain
# Test::More: it runs its own nginx (two workers) with TEST_NGINX_BINARY
# and TEST_NGINX_LOAD_MODULES, on TEST_NGINX_ATTACK6_PORT (1947).
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
use Time::HiRes qw(sleep time);
use Digest::SHA qw(sha256_hex);
use Compress::Zlib ();
use Twilio::Backend qw(:all);
use Twilio::Nginx;
use Twilio::Number;
use Twilio::Request;

my $port = $ENV{TEST_NGINX_ATTACK6_PORT} || 1947;
my $B = $ENV{TEST_NGINX_BACKEND_PORT} || backend_port();
my $FINDINGS = $ENV{TEST_NGINX_ATTACK_FINDINGS};

sub loc { return number_location($B, 'phone default_country=US', @_) }

my $PROXY = "proxy_pass http://127.0.0.1:$B;";
my $RESULT = 'add_header X-Result $twilio_guard_number_result always;';

sub http_block {
    my ($sms_size) = @_;
    return <<"EOC";
    twilio_guard_zone sms:$sms_size;
    twilio_guard_zone coll:1m;
    twilio_guard_zone tiny:32k;
    twilio_guard_zone tinyr:32k;
    twilio_guard_zone mixed:1m;
    twilio_guard_https off;
    map \$request_body \$device {
        "~\\"device\\":\\"(?<d>[a-z0-9]+)\\"" \$d;
        default "";
    }
    server {
        listen 127.0.0.1:$port;
        root html;

@{[ loc('/otp') ]}
@{[ loc('/deny', 'twilio_guard_number_deny GB;') ]}
@{[ loc('/lim', 'twilio_guard_limit zone=sms key=number 1/1h;') ]}
@{[ loc('/dry', 'twilio_guard_number_dry_run on;',
        'twilio_guard_number_deny GB;') ]}

        # decided from the preread bytes, then a static 404 and error_page
        # (not a discarded body: nginx redirects before it discards)
        location /static {
            twilio_guard_number phone default_country=US;
            twilio_guard_limit zone=sms key=number 2/1h;
            error_page 404 = \@gb;
        }
@{[ loc('@gb', 'twilio_guard_number_deny GB;',
        'twilio_guard_limit zone=sms key=number 2/1h;') ]}

        # the same into a key=\$variable location: ctx->again reads the
        # body there; the number counted once across both
        location /static-dev {
            twilio_guard_number phone default_country=US;
            twilio_guard_limit zone=sms key=number 2/1h;
            error_page 404 = \@dev;
        }
@{[ loc('@dev', 'twilio_guard_limit zone=sms key=number 2/1h;',
        'twilio_guard_limit zone=sms key=$device 1/1h;') ]}

        # the index module redirects without touching the body
        location = /idx/ {
            twilio_guard_number phone default_country=US;
            index i.html;
        }
@{[ loc('= /idx/i.html', 'twilio_guard_number_deny GB;') ]}

        # the body read later by others: a mirror with its body, an
        # unbuffered proxy, a body in a file only
        location /mirror {
            twilio_guard_number phone default_country=US;
            mirror /mtarget;
            mirror_request_body on;
            $RESULT
            $PROXY
        }
        location = /mtarget {
            internal;
            proxy_set_header X-Echo-Mirror yes;
            $PROXY
        }

        # a mirror without its body (nginx: the target then gets the
        # main request's Content-Length, and whatever body was read)
        location /mirror-nobody {
            twilio_guard_number phone default_country=US;
            mirror /mnobody;
            mirror_request_body off;
            $RESULT
            $PROXY
        }
        location = /mnobody {
            internal;
            proxy_read_timeout 1s;
            $PROXY
        }
        # the same with the target docs/sms-pumping.md asks for
        location /mirror-doc {
            twilio_guard_number phone default_country=US;
            mirror /mdoc;
            mirror_request_body off;
            $PROXY
        }
        location = /mdoc {
            internal;
            proxy_read_timeout 1s;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            $PROXY
        }
@{[ loc('/unbuf', 'proxy_request_buffering off;',
        'twilio_guard_number_deny GB;') ]}
@{[ loc('/infile', 'client_body_in_file_only on;',
        'twilio_guard_number_deny GB;') ]}

        # the webhook guard first (it reads the body), replay entries and
        # limit entries in the same zone
        location /hook {
            twilio_guard on;
            twilio_guard_auth_token $TOKEN;
            twilio_guard_url https://example.com/sms;
            twilio_guard_replay zone=mixed;
            twilio_guard_number To;
            twilio_guard_limit zone=mixed key=number 2/1h;
            $RESULT
            $PROXY
        }

        # zones: crafted hash collisions, tiny zones full
@{[ loc('/coll', 'twilio_guard_limit zone=coll key=$http_x_k 1/1h;') ]}
@{[ loc('/collnum', 'twilio_guard_limit zone=coll key=number 1/1h;') ]}
@{[ loc('/tinyevict', 'twilio_guard_limit zone=tiny key=number 1/1h full=evict;') ]}
@{[ loc('/tinyreject', 'twilio_guard_limit zone=tinyr key=number 1/1h;') ]}
@{[ loc('/short', 'twilio_guard_limit zone=tinyr key=number 1/1s;') ]}
@{[ loc('/kept', 'twilio_guard_limit zone=sms key=number 1/1h;') ]}
    }
EOC
}

my $n = Twilio::Nginx->new(name => 'attack6', port => $port, workers => 2,
                           http => http_block('1m'));

my $J_US = '{"phone":"+14155550100"}';
my $J_GB = '{"phone":"+447700900123"}';
my $JSON = 'application/json';
my $FORMT = 'application/x-www-form-urlencoded';

# a POST as bytes: version, type, extra header lines, connection
sub post {
    my ($path, $body, %o) = @_;
    my $v = $o{version} // '1.1';
    my $type = $o{type} // $JSON;
    my $extra = join '', map { "$_\r\n" } @{ $o{headers} // [] };
    my $cl = exists $o{cl} ? $o{cl} : length $body;
    return "POST $path HTTP/$v\r\nHost: localhost\r\n"
         . ($type eq '' ? '' : "Content-Type: $type\r\n")
         . (defined $cl ? "Content-Length: $cl\r\n" : '')
         . $extra
         . 'Connection: ' . ($o{conn} // 'close') . "\r\n\r\n$body";
}

sub statuses_of { return join ',', Twilio::Nginx::status_of($_[0]) }

# the echo bodies of the answers, in order
sub shas { return join ',', $_[0] =~ m{^sha256: ([0-9a-f]{8})}mg }
sub sha8 { return substr sha256_hex($_[0]), 0, 8 }

sub status {
    my ($path, $body, %o) = @_;
    return Twilio::Nginx::verdict_of(scalar $n->send(post($path, $body, %o)));
}

sub st { return (split ' ', status(@_))[0] }

sub shown { my ($h) = @_; join ' ', map { "$_=$h->{$_}" } sort keys %$h }

ok $n->start, 'nginx starts';

{
    my $html = $n->root . '/html';
    mkdir "$html/idx";
    open my $fh, '>', "$html/idx/i.html" or die $!;
    print $fh "index\n";
    close $fh;
}

# ---------------------------------------------------------------------
# 1. Preread: the guard and the upstream see the same bytes
# ---------------------------------------------------------------------

# Content-Length shorter than the JSON: the guard decides on the first
# Content-Length bytes (truncated JSON: 400), the rest is the next
# "request" (not read as part of the body by anyone)
{
    my $r = $n->send(post('/otp', $J_US . 'GET /x HTTP/1.1',
                          cl => length($J_US) - 2, conn => 'keep-alive'));
    is statuses_of($r), '400', 'CL short of the JSON: 400 on its bytes';
    like $r, qr/X-Result: number_invalid/, '... number_invalid';
}

# Content-Length longer than the JSON, the excess a pipelined request
# that carries another number: the guard sees it as part of the body
# (invalid JSON), not as a request of its own
{
    my $second = post('/otp', $J_GB);
    my $r = $n->send(post('/otp', $J_US, cl => length($J_US) + length($second),
                          conn => 'keep-alive') . $second);
    is statuses_of($r), '400', 'CL swallowing a pipelined request: one 400';
}

# a form whose Content-Length stops before "&phone=": the number past it
# belongs to the next request, which is not well formed: only 400s
{
    my $body = 'code=1&phone=%2B447700900123';
    my $r = $n->send(post('/deny', $body, type => $FORMT, cl => 6,
                          conn => 'keep-alive'));
    is statuses_of($r), '400',
       'form cut by CL: number_missing, the connection closed';
    unlike $r, qr/X-Result: ok/, '... no verdict ok';
}

# HTTP/1.0 keep-alive, pipelined, from the preread bytes: each on its own
{
    my $r = $n->send(post('/deny', $J_US, version => '1.0', conn => 'keep-alive')
                   . post('/deny', $J_GB, version => '1.0', conn => 'keep-alive')
                   . post('/deny', $J_US, version => '1.0', conn => 'close'));
    is statuses_of($r), '200,403,200', 'HTTP/1.0 keep-alive pipelined';
    is shas($r), join(',', sha8($J_US), sha8($J_US)),
       '... the upstream got each allowed body whole';
}

# HTTP/1.0 without Content-Length: no body for anyone; the bytes after
# the headers are not a body (nginx: no body without a length)
{
    my $r = $n->send("POST /deny?phone=%2B14155550100 HTTP/1.0\r\n"
                   . "Content-Type: $JSON\r\n\r\n$J_GB");
    is statuses_of($r), '200', 'HTTP/1.0, no CL: decided on the query';
    like $r, qr/^length: 0$/m, '... and the upstream got no body';
}

# Transfer-Encoding with Content-Length, and two Content-Lengths: nginx
# refuses them before any phase
{
    backend_reset();
    my $te = "POST /deny HTTP/1.1\r\nHost: x\r\nContent-Type: $JSON\r\n"
           . "Content-Length: " . length($J_US) . "\r\n"
           . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
           . sprintf("%x\r\n%s\r\n0\r\n\r\n", length $J_GB, $J_GB);
    is statuses_of(scalar $n->send($te)), '400', 'TE + CL: 400';
    my $two = "POST /deny HTTP/1.1\r\nHost: x\r\nContent-Type: $JSON\r\n"
            . "Content-Length: " . length($J_US) . "\r\n"
            . "Content-Length: " . length($J_GB) . "\r\n"
            . "Connection: close\r\n\r\n$J_US";
    is statuses_of(scalar $n->send($two)), '400', 'two CL: 400';
    is backend_hits(), 0, '... the upstream got neither';
}

# headers over client_header_buffer_size (a large buffer): the body is
# in that buffer, decided from it and forwarded whole
{
    my @h = map { "X-Pad-$_: " . ('p' x 200) } 1 .. 15;
    my $r = $n->send(post('/deny', $J_GB, headers => \@h, conn => 'keep-alive')
                   . post('/deny', $J_US, headers => \@h));
    is statuses_of($r), '403,200', 'large header buffer, pipelined: 403, 200';
    is shas($r), sha8($J_US), '... the allowed body forwarded whole';
}

# headers that end right at the 1k buffer's edge, the body in the next
# read (large buffer or not): never decided on part of it
for my $pad (760 .. 790) {
    my $req = post('/deny', $J_GB, headers => ['X-Pad: ' . ('p' x $pad)]);
    my $code = statuses_of(scalar $n->send($req));
    if ($code ne '403') {
        fail "headers ending near 1k (pad $pad): $code";
        last;
    }
    pass "headers ending near 1k (pad $pad): 403" if $pad == 790;
}

# Expect: 100-continue with the body at once, a denied number, then the
# next request on the connection decided on its own body
{
    my $r = $n->send(post('/deny', $J_GB, headers => ['Expect: 100-continue'],
                          conn => 'keep-alive')
                   . post('/deny', $J_US));
    my $codes = statuses_of($r);
    like $codes, qr/\A(?:100,)?403,200\z/, "Expect + preread + deny: $codes";
    is shas($r), sha8($J_US), '... the next body forwarded whole';
}

# a body that is neither form nor JSON, in the preread bytes: refused as
# before (it is not searched)
is st('/otp', $J_US, type => 'text/plain'), '400',
   'text/plain preread body: 400 (not searched)';

# dry run from the preread bytes: let through, logged, forwarded whole
{
    my $r = $n->send(post('/dry', $J_GB));
    is statuses_of($r), '200', 'dry run: a denied number let through';
    is shas($r), sha8($J_GB), '... the body forwarded whole';
    ok((grep { /dry run, would reject: number_denied/ } $n->log_lines),
       '... and logged');
}

# ---------------------------------------------------------------------
# 2. Redirects after a decision from the preread bytes
# ---------------------------------------------------------------------

# static 404 -> error_page -> @gb (deny GB): the body is not discarded
# before the redirect, so @gb decides on it again; the upstream gets it
{
    backend_reset();
    is st('/static', $J_GB), '403', 'static 404 -> @gb: GB denied there';
    my $r = $n->send(post('/static', '{"phone":"+14155550200"}'));
    is statuses_of($r), '200', 'static 404 -> @gb: US passes';
    is shas($r), sha8('{"phone":"+14155550200"}'), '... body whole upstream';
    is st('/static', '{"phone":"+14155550200"}'), '200', 'second: 200 (2/1h)';
    is st('/static', '{"phone":"+14155550200"}'), '429',
       'third: 429: counted once per request across /static and @gb';
    is backend_hits(), 2, '... the upstream got the two passes only';
    is st('/static', '{"phone":"+447700900124"}'), '403', 'GB again 403';
    is st('/lim', '{"phone":"+447700900124"}'), '200',
       'the refused GB requests left no count behind (/lim, same zone)';
}

# static 404 -> error_page -> @dev (key=$device, read there: ctx->again)
{
    backend_reset();
    my $d = sub { qq({"phone":"+14155550300","device":"$_[0]"}) };
    is st('/static-dev', $d->('d1')), '200', 'again: first device passes';
    is st('/static-dev', $d->('d1')), '429', 'again: same device 429';
    is st('/static-dev', $d->('d2')), '200',
       'again: the 429 was taken back from key=number (2/1h)';
    is st('/static-dev', $d->('d3')), '429', 'again: then key=number 429';
    is backend_hits(), 2, '... two reached the upstream';
}

# pipelined through the again path: each request's body read on its own
{
    my $d = sub { qq({"phone":"+1415555040$_[0]","device":"p$_[0]"}) };
    my $r = $n->send(post('/static-dev', $d->(1), conn => 'keep-alive')
                   . post('/static-dev', $d->(1), conn => 'keep-alive')
                   . post('/static-dev', $d->(2)));
    is statuses_of($r), '200,429,200', 'again path pipelined';
    is shas($r), join(',', sha8($d->(1)), sha8($d->(2))),
       '... bodies whole upstream';
}

# index: a redirect by the content phase, the body unread
{
    is st('/idx/', $J_GB), '403', 'index redirect: GB denied in the target';
    my $r = $n->send(post('/idx/', $J_US));
    is statuses_of($r), '200', 'index redirect: US passes';
    is shas($r), sha8($J_US), '... body whole upstream';
}

# ---------------------------------------------------------------------
# 3. Others reading the body later
# ---------------------------------------------------------------------

{
    backend_reset();
    my $r = $n->send(post('/mirror', $J_US));
    is statuses_of($r), '200', 'mirror with its body: 200';
    sleep 0.5;
    is backend_hits(), 2, '... the mirror reached the upstream too';
}

# FINDING E (low, behaviour change in e87b6b9): a mirror without its
# body.  Before the fast path the guard had read the body when the mirror
# subrequest was made, so the mirror's upstream got it whole; now nobody
# has, and the subrequest inherits the main request's Content-Length with
# no body (nginx's own behaviour with mirror_request_body off): the mirror
# upstream waits for bytes that never come, until proxy_read_timeout, and
# the client's connection is held open that long.  Not a bypass (the
# main request was decided on its body, the mirror target is checked
# through the main request's verdict), but a working configuration now
# stalls every request; with a keep-alive upstream that answers before
# reading the body, the next mirrored request would be read as this one's
# body.  Fix: documentation (the mirror target needs nginx's
# "proxy_pass_request_body off; proxy_set_header Content-Length \"\";")
# or no fast path where a mirror without its body follows.
SKIP: {
    skip 'FINDING E: a mirror without its body stalls (TEST_NGINX_ATTACK_FINDINGS=1)', 2
        unless $FINDINGS;
    my ($r, $t) = $n->send(post('/mirror-nobody', $J_US), timeout => 4);
    is statuses_of($r), '200', 'mirror without body: 200';
    cmp_ok $t, '<', 0.9, "mirror without body: not held open ($t s)";
}

# regression (the real behaviour now): the main request is decided on its
# body and its upstream gets it whole; only the mirror's upstream waits
{
    my ($r, $t) = $n->send(post('/mirror-nobody', $J_GB), timeout => 4);
    is statuses_of($r), '200', 'mirror without body: main decided, 200';
    is shas($r), sha8($J_GB), '... its upstream got the body whole';
}

# the workaround in docs/sms-pumping.md: the mirror is served at once
{
    backend_reset();
    my ($r, $t) = $n->send(post('/mirror-doc', $J_US), timeout => 4);
    is statuses_of($r), '200', 'mirror target as documented: 200';
    cmp_ok $t, '<', 0.9, "... not held open ($t s)";
    sleep 0.3;
    is backend_hits(), 2, '... the mirror reached its upstream';
}

for my $path ('/unbuf', '/infile') {
    my $r = $n->send(post($path, $J_US, conn => 'keep-alive')
                   . post($path, $J_GB, conn => 'keep-alive')
                   . post($path, '{"phone":"+14155550101"}'));
    is statuses_of($r), '200,403,200', "$path: pipelined verdicts";
    is shas($r), join(',', sha8($J_US), sha8('{"phone":"+14155550101"}')),
       "$path: bodies whole upstream";
}

# the webhook guard reads the body first: replay and limit entries in one
# zone, a forged request never counted
{
    my $sig = sub {
        signed_request(target => '/hook', body => $_[0])
    };
    my $a = 'To=%2B14155550500&Body=one';
    is statuses_of(scalar $n->send($sig->($a))), '200', 'hook: signed, 200';
    is statuses_of(scalar $n->send($sig->($a))), '409', 'hook: replay 409';
    my $forged = signed_request(target => '/hook',
                                body => 'To=%2B14155550500&Body=x',
                                sig => 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=');
    is statuses_of(scalar $n->send($forged)), '403', 'hook: forged 403';
    is statuses_of(scalar $n->send($sig->('To=%2B14155550500&Body=two'))),
       '200', 'hook: second message, 200 (2/1h, the forged one not counted)';
    is statuses_of(scalar $n->send($sig->('To=%2B14155550500&Body=three'))),
       '429', 'hook: third 429';
}

# ---------------------------------------------------------------------
# 4. twilio_guard_zone: buckets of hashes
# ---------------------------------------------------------------------

# CRC32 forced to a target by four trailing bytes (the CRC is affine:
# values of one length with one CRC collide under any common prefix, the
# key's kind, period and variable name)
my (@T, %top);
for my $i (0 .. 255) {
    my $c = $i;
    $c = ($c & 1) ? (($c >> 1) ^ 0xEDB88320) : ($c >> 1) for 1 .. 8;
    $T[$i] = $c;
    $top{ $c >> 24 } = $i;
}

sub forge {
    my ($data, $target) = @_;
    my $reg = Compress::Zlib::crc32($data) ^ 0xFFFFFFFF;
    my $w = $target ^ 0xFFFFFFFF;
    my @k;
    for (1 .. 4) {
        my $j = $top{ $w >> 24 };
        unshift @k, $j;
        $w = (($w ^ $T[$j]) << 8) & 0xFFFFFFFF;
    }
    my $out = '';
    for my $j (@k) {
        $out .= chr(($reg ^ $j) & 0xff);
        $reg = ($reg >> 8) ^ $T[$j];
    }
    return $data . $out;
}

# values for a header: no NUL, CR, LF, and no blank at either end
my @coll;
for (my $i = 0; @coll < 1500; $i++) {
    my $v = forge(sprintf('k%07d', $i), 0x5eed1234);
    next if $v =~ /[\0\r\n\x7f]/ || $v =~ /[ \t]\z/;
    push @coll, $v;
}
is scalar(grep { Compress::Zlib::crc32($_) == 0x5eed1234 } @coll), 1500,
   '1500 header values with one CRC32';

{
    my $t0 = time;
    my %c;
    for my $i (0 .. $#coll) {
        $c{ st('/coll', sprintf('{"phone":"+1415556%04d"}', $i),
               headers => ["X-K: $coll[$i]"]) }++;
    }
    my $t = time - $t0;
    is shown(\%c), '200=1500', 'one hash, one bucket, 1500 keys: each counted apart';
    my %again;
    $again{ st('/coll', '{"phone":"+14155569999"}',
               headers => ["X-K: $coll[$_]"]) }++ for 0, 700, 1499;
    is shown(\%again), '429=3', '... each still found (lookup among equal hashes)';
    diag sprintf 'colliding keys: %.2f s for 1500 requests', $t;
    cmp_ok $t, '<', 30, '... in reasonable time';
}

# numbers chosen to share a bucket of the tiny zones (64 buckets: the
# low 6 bits of the CRC32 of the E.164 number, for numbers of one length)
my @same;
for (my $i = 0; @same < 400; $i++) {
    my $num = sprintf '+141522%05d', $i;
    push @same, $num if (Compress::Zlib::crc32($num) & 63) == 0;
}

# a full=evict tiny zone flooded with one bucket's numbers: evictions and
# deletes in one tree, the numbers kept still exact
{
    my %c;
    $c{ st('/tinyevict', qq({"phone":"$_"})) }++ for @same;
    is shown(\%c), '200=400', 'evict, one bucket: 400 numbers pass once';
    my $last = $same[-1];
    is st('/tinyevict', qq({"phone":"$last"})), '429',
       '... the newest still counted';
}

# a full=reject tiny zone: filled, 503, no crash; the entries counted
{
    my %c;
    $c{ st('/tinyreject', qq({"phone":"$_"})) }++ for @same;
    ok $c{503} && $c{200}, 'reject, one bucket: some pass, then 503 ('
       . shown(\%c) . ')';
    is st('/tinyreject', qq({"phone":"$same[0]"})), '429',
       '... the first still counted';
}

# short windows in a full zone: entries expire and are freed from their
# trees (expiry on insertion, on lookup)
{
    sleep 1.1;
    my %c;
    $c{ st('/short', qq({"phone":"$_"})) }++ for @same[0 .. 49];
    ok !$c{500}, 'expiry in a full zone: no 500 (' . shown(\%c) . ')';
}

# a reload that keeps the zone: the counts stay, in their buckets
{
    is st('/kept', '{"phone":"+14155550600"}'), '200', 'before reload: 200';
    ok $n->reload, 'reload (zones kept)';
    is st('/kept', '{"phone":"+14155550600"}'), '429',
       'after reload: still counted';
    is st('/tinyevict', qq({"phone":"$same[-1]"})), '429',
       'after reload: the tiny zone kept too';
    my %c;
    $c{ st('/tinyevict', qq({"phone":"+1415333$_"})) }++ for 1000 .. 1299;
    is shown(\%c), '200=300', 'after reload: evictions in the kept zone';
}

# a reload that resizes sms: a new zone (new buckets), counts start over
{
    $n->{http} = http_block('2m');
    $n->write_conf;
    ok $n->reload, 'reload (sms resized)';
    is st('/kept', '{"phone":"+14155550600"}'), '200',
       'resized: a new zone, counted from zero';
    is st('/kept', '{"phone":"+14155550600"}'), '429', '... then 429';
}

ok !(grep { /signal|was locked/ } $n->bad_log_lines),
   'no worker died, no lock left held';
is_deeply [ grep { !/ignore long locked inactive cache entry/ } $n->bad_log_lines ],
    [], 'no alert or crit lines';

$n->stop;
done_testing;
