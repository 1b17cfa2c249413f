# Hostile clients against one running nginx: each case gets a clear status
# (or a close within the configured timeouts), never a hang or a crash, and
# the next genuine request still succeeds.  Plain Test::More with its own
# nginx (TEST_NGINX_BINARY, TEST_NGINX_LOAD_MODULES), like t/060-reload.t.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep time);
use Twilio::Backend qw(:all);
use Twilio::Request;
use Twilio::Nginx;

my $port = $ENV{TEST_NGINX_HOSTILE_PORT} || 1989;
my $bport = $ENV{TEST_NGINX_BACKEND_PORT};

my $n = Twilio::Nginx->new(name => 'hostile', port => $port, http => <<"EOC");
    client_header_timeout 2s;
    client_body_timeout 2s;
    send_timeout 2s;
    keepalive_timeout 2s;
    client_body_buffer_size 2k;

    server {
        listen 127.0.0.1:$port;
        listen 127.0.0.1:@{[$port + 100]} http2;

        location /sms {
            twilio_guard on;
            twilio_guard_https off;
            twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
            twilio_guard_url https://example.com/sms;
            twilio_guard_max_body 64k;
            proxy_pass http://127.0.0.1:$bport;
        }

        location /__ {
            proxy_pass http://127.0.0.1:$bport;
        }
    }
EOC

ok $n->start, 'nginx starts' or BAIL_OUT('nginx did not start');

my $SMS = 'From=%2B14155550100&To=%2B14155550199&Body=Hello+there';

sub genuine_ok {
    my ($what) = @_;
    my $raw = $n->send(signed_request(body => $SMS));
    is Twilio::Nginx::status_of($raw), 200, "$what: the next genuine request succeeds";
}

sub case {
    my ($name, $pieces, $expect, %o) = @_;
    my ($raw, $secs) = $n->send($pieces, timeout => $o{timeout} // 6, %o);
    my $got = Twilio::Nginx::status_of($raw);
    if (ref $expect eq 'Regexp') {
        like $got, $expect, "$name: status $got";
    } else {
        is $got, $expect, "$name: status";
    }
    cmp_ok $secs, '<', $o{max_secs} // 4, "$name: answered or closed in time ("
        . sprintf('%.2f', $secs) . ' s)';
    genuine_ok($name);
}

backend_reset();
my $hits = 0;

# a body one byte at a time
my $req = signed_request(body => $SMS);
case('one byte at a time', [split //, $req], 200, delay => 0.002);
$hits += 2;

# a body that stops halfway: nginx gives up after client_body_timeout
$req = signed_request(body => $SMS x 20);
case('stalled body', [substr($req, 0, length($req) - 300)], 0,
     max_secs => 4.5);
$hits += 1;

# a client that half-closes mid-body
case('closed mid-body', [substr($req, 0, length($req) - 300)], 0,
     half_close => 1);
$hits += 1;

my $chunked = sub {
    my ($chunks) = @_;
    return "POST /sms HTTP/1.1\r\nHost: localhost\r\n"
         . "Content-Type: application/x-www-form-urlencoded\r\n"
         . "X-Twilio-Signature: " . signature_for(body => $SMS) . "\r\n"
         . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n$chunks";
};

case('chunk size not hex', $chunked->("zz\r\nabc\r\n0\r\n\r\n"), 400);
$hits += 1;
case('chunk size negative', $chunked->("-5\r\nabcde\r\n0\r\n\r\n"), 400);
$hits += 1;
case('chunk size huge', $chunked->("ffffffffffffffffffff\r\nabc\r\n"), 400);
$hits += 1;
case('chunk larger than sent, then close',
     $chunked->("100\r\nabc"), 0, half_close => 1);
$hits += 1;
case('chunked body over the limit',
     $chunked->(sprintf("%x\r\n%s\r\n", 70000, 'a' x 70000) . "0\r\n\r\n"),
     413);
$hits += 1;

# headers
case('signature header at the header buffer limit',
     signed_request(body => $SMS, sig => 'A' x 9000), qr/^(400|403|494)$/);
$hits += 1;
case('a hundred signature headers',
     signed_request(body => $SMS, headers => [map { ('X-Twilio-Signature'
         => signature_for(body => $SMS)) } 1 .. 100]), 403);
$hits += 1;
case('a NUL in the signature header',
     signed_request(body => $SMS, sig => "GvWf1cFY/Q7PnoempGyD5oX\0ezc="),
     qr/^40[03]$/);
$hits += 1;

# bodies
case('64k of percent signs, signed', signed_request(body => '%' x 65000), 200);
$hits += 2;
case('64k of percent signs, forged',
     signed_request(body => '%' x 65000, sig => signature_for(body => '%')),
     403);
$hits += 1;
case('30,000 empty segments and one parameter',
     signed_request(body => ('&' x 30000) . 'a=1'), 200);
$hits += 2;
case('deeply repeated key, at twilio_guard_max_params',
     signed_request(body => join('&', map { "K=" . ($_ % 7) } 1 .. 512)), 200);
$hits += 2;
case('deeply repeated key, over twilio_guard_max_params',
     signed_request(body => join('&', map { "K=" . ($_ % 7) } 1 .. 8000)), 403);
$hits += 1;
case('invalid UTF-8 and NUL, signed', signed_request(body => "A=\xff\xfe%00&B=\0"),
     200);
$hits += 2;
case('invalid UTF-8 in the request target (the URL is configured)',
     signed_request(body => $SMS, target => "/sms?\xff\xfe"), 200);
$hits += 2;

# pipelining: genuine and forged requests on one connection, in order
my @pipe = map {
    my $r = signed_request(body => "$SMS&n=$_",
                           $_ % 2 ? (sig => signature_for(body => 'x')) : ());
    $r =~ s/Connection: close\r\n//;
    $r;
} 1 .. 20;
my ($raw) = $n->send(join('', @pipe) . signed_request(body => $SMS),
                     timeout => 6);
my @codes = Twilio::Nginx::status_of($raw);
is "@codes", join(' ', (map { $_ % 2 ? 403 : 200 } 1 .. 20), 200),
   'twenty pipelined requests answered in order';
$hits += 11;

is backend_hits(), $hits,
   "the upstream saw exactly the genuine requests ($hits)";

# HTTP/2: several streams with bodies on one connection
SKIP: {
    skip 'h2load not installed', 2 unless -x '/usr/bin/h2load';
    my $dir = $n->root;
    open my $fh, '>', "$dir/body" or die $!;
    print $fh $SMS;
    close $fh;
    my $sig = signature_for(body => $SMS);
    my $out = `h2load -n 200 -c 2 -m 10 -d $dir/body -H 'Content-Type: application/x-www-form-urlencoded' -H 'X-Twilio-Signature: $sig' http://127.0.0.1:@{[$port + 100]}/sms 2>&1`;
    like $out, qr/status codes: 200 2xx, 0 3xx, 0 4xx, 0 5xx/,
         'h2load: 200 signed POSTs over 2 connections x 10 streams, all 2xx';
    $out = `h2load -n 100 -c 1 -m 10 -d $dir/body -H 'Content-Type: application/x-www-form-urlencoded' -H 'X-Twilio-Signature: AAAAAAAAAAAAAAAAAAAAAAAAAAA=' http://127.0.0.1:@{[$port + 100]}/sms 2>&1`;
    like $out, qr/status codes: 0 2xx, 0 3xx, 100 4xx, 0 5xx/,
         'h2load: 100 forged POSTs on 10 streams, all rejected';
}

genuine_ok('after everything');

$n->stop;

my @bad = $n->bad_log_lines;
is scalar(@bad), 0, 'no alert, crit, emerg or crash in the error log'
    or diag @bad;

done_testing;
