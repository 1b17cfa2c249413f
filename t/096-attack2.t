# Second round of outside attacks, against the replay guard and the "one
# verdict per request" rule, on a real nginx loading the module.  Plain
# Test::More (several requests, timing, aborted connections): it runs its
# own nginx with TEST_NGINX_BINARY and TEST_NGINX_LOAD_MODULES.
#
# Same convention as t/095-attack.t: a block marked FINDING asserts the
# secure behaviour and fails on the code it was written against (the attack
# works), so it is skipped unless TEST_NGINX_ATTACK_FINDINGS=1; drop its
# skip with the fix.  The other blocks are regression proofs of attacks
# that failed, and always run.  Findings A to F are fixed: their blocks
# run always now, as regression tests.
#
# The attacker holds a request Twilio signed for the victim (captured from
# a log, a debugging proxy, a HAR file), and in the tenant scenarios also a
# token of its own that the location accepts (a second account).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Path qw(make_path remove_tree);
use IO::Socket::INET ();
use MIME::Base64 qw(decode_base64 encode_base64);
use Time::HiRes qw(sleep time);
use Test::More;
use Twilio::Backend qw(:all);
use Twilio::Request;
use Twilio::Nginx;

my $port = $ENV{TEST_NGINX_ATTACK2_PORT} || 1960;
my $B = $ENV{TEST_NGINX_BACKEND_PORT} || backend_port();
my $FINDINGS = $ENV{TEST_NGINX_ATTACK_FINDINGS};
my $TOK2 = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';

my $n = Twilio::Nginx->new(name => 'attack2', port => $port, http => <<"EOC");
    twilio_guard_zone main:1m;
    twilio_guard_zone tiny:32k;
    server {
        listen 127.0.0.1:$port;
        twilio_guard_https off;
        twilio_guard_auth_token $TOKEN;
        twilio_guard_auth_token $TOK2;
        twilio_guard_url https://example.com/sms;
        add_header X-Result \$twilio_guard_result always;

        location /sms {
            twilio_guard on;
            twilio_guard_replay zone=main window=1h;
            proxy_pass http://127.0.0.1:$B;
        }

        # README-style split: the public location is guarded, the replay
        # guard sits where the request is proxied
        location /front {
            twilio_guard on;
            try_files /nonexistent \@app;
        }
        location \@app {
            twilio_guard on;
            twilio_guard_replay zone=main window=1h;
            proxy_pass http://127.0.0.1:$B;
        }

        # the try_files recipe of docs/directives.md ("Embedded
        # variables"), with the replay guard added where the request is
        # proxied: with "twilio_guard on" there, which nginx -t now
        # requires (see FINDING D below for the recipe without it)
        location /recipe {
            twilio_guard on;
            try_files /.validated \@sms;
        }
        location \@sms {
            twilio_guard on;
            twilio_guard_replay zone=main window=1h;
            proxy_pass http://127.0.0.1:$B;
        }

        location /stream {
            twilio_guard on;
            twilio_guard_max_body 100;
            twilio_guard_replay zone=main;
            proxy_request_buffering off;
            proxy_http_version 1.1;
            mirror /mirror;
            proxy_pass http://127.0.0.1:$B;
        }
        location /mirror { internal; proxy_pass http://127.0.0.1:$B; }
        location /file {
            twilio_guard on;
            client_body_in_file_only on;
            twilio_guard_replay zone=main;
            proxy_pass http://127.0.0.1:$B;
        }

        location /ignore {
            twilio_guard on;
            twilio_guard_replay zone=main window=1h;
            proxy_ignore_client_abort on;
            proxy_pass http://127.0.0.1:$B;
        }

        location /authreq {
            auth_request /check;
            proxy_pass http://127.0.0.1:$B;
        }
        location = /check {
            internal;
            twilio_guard on;
            return 204;
        }

        location /inflight {
            twilio_guard on;
            twilio_guard_replay zone=main window=1h inflight=1s;
            proxy_read_timeout 10s;
            proxy_pass http://127.0.0.1:$B;
        }

        location /evict {
            twilio_guard on;
            twilio_guard_replay zone=tiny window=1h;
            proxy_pass http://127.0.0.1:$B;
        }
    }
EOC

sub req {
    my ($body, %o) = @_;
    return signed_request(body => $body, target => $o{target} // '/sms',
                          headers => $o{headers} // [],
                          (defined $o{token} ? (token => $o{token}) : ()),
                          (defined $o{sig} ? (sig => $o{sig}) : ()));
}

sub status {
    my $r = $n->send(req(@_));
    my ($res) = $r =~ m{^X-Result: (\S*)}mi;
    return Twilio::Nginx::status_of($r) . (defined $res ? " $res" : '');
}

ok $n->start, 'nginx starts';

# ---------------------------------------------------------------------
# FINDING A: a client that aborts after the upstream got the request
# frees the entry (499 counts as a failure), so a captured request can be
# replayed without limit against any application slower than the
# attacker's abort.  Each copy reaches the upstream.

{
    backend_reset();
    # the application takes 0.5 s to answer (simulated by the echo backend)
    my $captured = req('Body=abort', headers => ['X-Backend-Delay' => '0.5']);
    for (1 .. 5) {
        my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die $!;
        syswrite $c, $captured;
        sleep 0.2;              # the upstream has it; go away
        close $c;
        sleep 0.1;
    }
    sleep 0.6;
    is backend_hits(), 1,
       'FINDING A: five copies, each aborted after 0.2 s, reach the upstream once';
    like status('Body=abort'), qr/^409/,
       'FINDING A: and a later copy is still a replay';
}

# The operator's mitigation today: with proxy_ignore_client_abort on the
# upstream's own status settles the entry, and the abort attack fails.

{
    backend_reset();
    my $captured = req('Body=ignore', target => '/ignore',
                       headers => ['X-Backend-Delay' => '0.5']);
    for (1 .. 3) {
        my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die $!;
        syswrite $c, $captured;
        sleep 0.2;
        close $c;
        sleep 0.1;
    }
    sleep 0.6;
    is backend_hits(), 1,
       'abort with proxy_ignore_client_abort on: the upstream saw one copy';
    like status('Body=ignore', target => '/ignore'), qr/^409/,
       'abort with proxy_ignore_client_abort on: a later copy is a replay';
}

# ---------------------------------------------------------------------
# FINDING B: one verdict per request skips the replay guard of the
# location reached by an internal redirect (try_files, error_page, named
# location, X-Accel-Redirect): check_again() compares keys, rules and
# HTTPS, not twilio_guard_replay.

{
    backend_reset();
    is status('Body=redirect', target => '/front'), '200 ok',
       'FINDING B: the genuine request passes through /front to @app';
    like status('Body=redirect', target => '/front'), qr/^409/,
       'FINDING B: its copy is a replay in @app';
    is backend_hits(), 1, 'FINDING B: the upstream saw it once';
}

# ---------------------------------------------------------------------
# FINDING D: twilio_guard_replay in a location without "twilio_guard on"
# is accepted by nginx -t and does nothing; the docs' try_files recipe
# puts the proxy (where an operator adds the replay guard) in exactly such
# a location.  Either nginx -t should say so, or the copy be refused.

{
    backend_reset();
    is status('Body=recipe', target => '/recipe'), '200 ok',
       'FINDING D: the genuine request passes the recipe';
    like status('Body=recipe', target => '/recipe'), qr/^409/,
       'FINDING D: with twilio_guard on next to it, its copy is a replay';

    # the recipe without "twilio_guard on" where the replay guard is
    my $bad = Twilio::Nginx->new(name => 'attack2-recipe', port => $port + 1,
                                 http => <<"EOB");
    twilio_guard_zone main:1m;
    server {
        listen 127.0.0.1:@{[ $port + 1 ]};
        twilio_guard_auth_token $TOKEN;
        location /recipe {
            twilio_guard on;
            try_files /.validated \@sms;
        }
        location \@sms {
            twilio_guard_replay zone=main window=1h;
            proxy_pass http://127.0.0.1:$B;
        }
    }
EOB
    remove_tree($bad->root);
    make_path(map { $bad->root . "/$_" } qw(conf logs tmp html));
    $bad->write_conf;
    ok !$bad->ctl('-t'),
       'FINDING D: nginx -t refuses twilio_guard_replay without twilio_guard on';
    open my $fh, '<', $bad->root . '/logs/ctl.log' or die $!;
    my $out = do { local $/; <$fh> };
    like $out, qr/"twilio_guard_replay" in \S*nginx\.conf:\d+ .*needs twilio_guard on in the same location/,
       'FINDING D: naming file:line and the fix';
    remove_tree($bad->root);
}

# ---------------------------------------------------------------------
# Regression: without a valid signature nobody records anything, so a
# flood of forged requests (wrong signature, or the captured signature on
# another body) neither evicts the victim's entry nor fills the zone.

{
    is status('Body=kept', target => '/evict'), '200 ok',
       'unsigned flood: the victim request passes';
    my $sig = signature_for(body => 'Body=kept');
    my %st;
    for my $i (1 .. 400) {
        $st{ status("Body=forged+$i", target => '/evict',
                    $i % 2 ? (sig => $sig) : (token => '0' x 32)) =~ s/ .*//r }++;
    }
    is_deeply \%st, { 403 => 400 }, 'unsigned flood: 400 forged requests, 403';
    like status('Body=kept', target => '/evict'), qr/^409/,
         'unsigned flood: the victim\'s copy is still a replay';
    ok !grep({ /"tiny" is full/ } $n->log_lines),
       'unsigned flood: the zone never filled';
}

# ---------------------------------------------------------------------
# FINDING C: a second account whose token the location accepts signs
# requests of its own until the zone evicts the victim's entry (the
# oldest completed), then replays the victim's captured request.

{
    is status('Body=victim', target => '/evict'), '200 ok',
       'the victim request passes';
    status("Body=flood+$_", target => '/evict', token => $TOK2) for 1 .. 400;
    like status('Body=victim', target => '/evict'), qr/^409/,
       'FINDING C: after 400 signed requests of another account, the '
       . 'victim\'s copy is still a replay';
}

# ---------------------------------------------------------------------
# FINDING E (documented in README and directives.md, still open at run
# time): auth_request into a guarded location lets an unsigned request
# through, because nginx skips the access phase for subrequests.  The
# module could refuse a subrequest in a guarded location at run time.

{
    like status('Body=unsigned', target => '/authreq', sig => 'x' x 28),
         qr/^(?:401|403|500)/,
         'FINDING E: a forged request through auth_request is refused';
}

# ---------------------------------------------------------------------
# FINDING F (configuration-dependent): an entry in flight expires after
# inflight= even though its request is still at the upstream (here
# inflight=1s, an application taking 2 s, proxy_read_timeout 10s); a copy
# sent then reaches the upstream too.  The default inflight=60s equals
# nginx's default proxy_read_timeout, so an operator raising that (slow
# TwiML) or lowering inflight= gets double deliveries.

{
    backend_reset();
    my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die $!;
    syswrite $c, req('Body=slow', target => '/inflight',
                     headers => ['X-Backend-Delay' => '2']);
    sleep 1.2;
    like status('Body=slow', target => '/inflight'), qr/^409/,
         'FINDING F: a copy while the first is still at the upstream: 409';
    sleep 1.2;
    close $c;
    is backend_hits(), 1, 'FINDING F: the upstream saw one';
}

# ---------------------------------------------------------------------
# Regression: other encodings of the captured signature are not a new key
# and not a valid signature (canonical base64 only).

{
    my $body = 'Body=encode';
    my $sig = signature_for(body => $body);
    is status($body), '200 ok', 'encodings: the genuine request passes';
    my $bytes = decode_base64($sig);
    (my $nopad = $sig) =~ s/=+$//;
    (my $urlsafe = $sig) =~ tr{+/}{-_};
    my $last = substr($sig, -2, 1);
    my $alpha = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    my $i = index($alpha, $last);
    my $bits = substr($sig, 0, -2) . substr($alpha, ($i & ~3) | 1, 1) . '=';
    my %variants = (
        'no padding'        => $nopad,
        'two pads'          => "$sig=",
        'URL-safe alphabet' => $urlsafe,
        'unused bits set'   => $bits,
        'inner space'       => substr($sig, 0, 10) . ' ' . substr($sig, 10),
        'lower case'        => lc $sig,
        'tab inside'        => substr($sig, 0, 10) . "\t" . substr($sig, 10),
    );
    for my $v (sort keys %variants) {
        next if $variants{$v} eq $sig;
        unlike status($body, sig => $variants{$v}), qr/^2/,
               "encodings: the copy with its signature re-encoded ($v) "
               . 'does not pass';
    }
    like status($body, sig => " $sig "), qr/^409/,
         'encodings: leading and trailing spaces (stripped by nginx): 409';
    my $two = req($body);
    $two =~ s/(X-Twilio-Signature: [^\r]*\r\n)/$1$1/;
    unlike Twilio::Nginx::status_of($n->send($two)), qr/^2/,
           'encodings: the signature header twice does not pass';
}

# ---------------------------------------------------------------------
# Regression: headers that make nginx answer 412 after the upstream
# acted (If-Match / If-Unmodified-Since on a 200) do not free the entry:
# the replay header filter sees the upstream's 200 first.

{
    backend_reset();
    is status('Body=precond'), '200 ok', 'precondition: genuine passes';
    my $r = $n->send(req('Body=precond',
                         headers => ['If-Match' => '"nope"',
                                     'If-Unmodified-Since'
                                         => 'Thu, 01 Jan 1970 00:00:00 GMT']));
    like Twilio::Nginx::status_of($r), qr/^409/,
         'precondition: the copy with If-Match is a replay';
    is backend_hits(), 1, 'precondition: the upstream saw it once';
}

# ---------------------------------------------------------------------
# Regression: the upstream answers 4xx or 5xx for the attacker's copy in
# flight? Only a genuine first request can fail; a copy sent while it is
# in flight is rejected, and a 5xx of the first frees only its own entry.

{
    backend_reset();
    my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die $!;
    syswrite $c, req('Body=fail', headers => ['X-Backend-Delay' => '0.5',
                                              'X-Backend-Status' => '500']);
    sleep 0.2;
    like status('Body=fail'), qr/^409/, 'in flight: the copy is rejected';
    sleep 0.6;
    close $c;
    is backend_hits(), 1, 'in flight: one reached the upstream';
}

# ---------------------------------------------------------------------
# Regression: body shapes against a location with proxy_request_buffering
# off, a mirror and twilio_guard_max_body 100; and client_body_in_file_only.

{
    my $raw = sub {
        my ($target, $body, $te, @extra) = @_;
        my $sig = signature_for(body => $body);
        my $h = "POST $target HTTP/1.1\r\nHost: localhost\r\n"
              . "Content-Type: $FORM\r\nX-Twilio-Signature: $sig\r\n"
              . join('', map { "$_\r\n" } @extra);
        return $te eq 'chunked'
            ? $h . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
              . join('', map { "1\r\n$_\r\n" } split //, $body) . "0\r\n\r\n"
            : $h . "Content-Length: " . length($body)
              . "\r\nConnection: close\r\n\r\n$body";
    };
    my $st = sub { scalar Twilio::Nginx::status_of(scalar $n->send(@_)) };
    my $b100 = 'Body=' . ('x' x 95);
    is $st->($raw->('/stream', $b100, 'cl')), 200, 'stream: exactly 100 bytes pass';
    is $st->($raw->('/stream', $b100, 'cl')), 409, 'stream: and its copy is 409';
    is $st->($raw->('/stream', "${b100}x", 'cl')), 413, 'stream: 101 bytes: 413';
    my $c100 = 'Body=' . ('c' x 95);
    is $st->($raw->('/stream', $c100, 'chunked')), 200,
       'stream: exactly 100 bytes in 1-byte chunks pass';
    is $st->($raw->('/stream', $c100, 'chunked')), 409,
       'stream: and the chunked copy is 409';
    is $st->($raw->('/stream', 'Body=' . ('y' x 300), 'chunked')), 413,
       'stream: 305 bytes in 1-byte chunks: 413';
    my $both = $raw->('/stream', 'Body=both', 'chunked', 'Content-Length: 5');
    is $st->($both), 400, 'stream: Content-Length with chunked: 400';
    my $p = req('Body=pipe', target => '/stream');
    (my $keep = $p) =~ s/Connection: close\r\n//i;
    is join(',', Twilio::Nginx::status_of(scalar $n->send($keep . $p))),
       '200,409', 'stream: a pipelined copy is 409';
    my $e = $raw->('/stream', 'Body=expect', 'cl', 'Expect: 100-continue');
    $e =~ s/Body=expect\z//;
    is join(',', Twilio::Nginx::status_of(scalar $n->send([$e, 'Body=expect'],
                                                          delay => 0.3))),
       '100,200', 'stream: Expect: 100-continue, then the body: 200';
    is $st->(req('Body=file', target => '/file')), 200, 'file: passes';
    is $st->(req('Body=file', target => '/file')), 409, 'file: copy 409';
}

ok !grep({ /\[(alert|crit|emerg)\]|signal \d+/ } $n->log_lines),
   'no alert, crit or crash in the error log';

$n->stop;
done_testing;
