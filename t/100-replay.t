# vim:set ft= ts=4 sw=4 et:
# twilio_guard_replay: a signed request reaches the upstream once within the
# window; a failure (4xx, 5xx) frees it for Twilio's retry.  The cases that
# need time, reloads, several workers or concurrency are in
# t/101-replay-nginx.t.

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use Twilio::Sign;
use Twilio::Backend;
use Twilio::Request;

our $FORM = 'application/x-www-form-urlencoded';

# a signed form request for "POST /sms", for "--- request eval"
sub sms { my $body = shift; "POST /sms\n$body" }
sub hdr {
    my ($body, @more) = @_;
    return join "\n", "Content-Type: $::FORM",
        "X-Twilio-Signature: " . signature_for(body => $body), @more;
}

our $JSON = qq({"EventType":"onMessageAdded","Index":3});
our $JURL = json_url('https://example.com/events?source=c', $JSON);
(our $JTARGET = $JURL) =~ s{^https://example\.com}{};
our $JSIG = twilio_signature($Twilio::Request::TOKEN, $JURL, $JSON,
                             'application/json');

# about 12 KiB: more than client_body_buffer_size 1k
our $BIG = join '&', map { sprintf 'P%04d=value+%d', $_, $_ } 0 .. 399;

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config",
                      "twilio_guard_https off;\n" . ($block->http_config // ''));
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the second copy is rejected with 409, the upstream sees one
--- http_config
    twilio_guard_zone r1:1m;
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_replay zone=r1;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /__ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
["GET /__reset", ::sms("Body=one"), ::sms("Body=one"), ::sms("Body=one"),
 "GET /__hits"]
--- more_headers eval
["", ::hdr("Body=one"),
 ::hdr("Body=one", "I-Twilio-Idempotency-Token: idem-1"),
 ::hdr("Body=one", "I-Twilio-Idempotency-Token: another"), ""]
--- error_code eval
[200, 200, 409, 409, 200]
--- response_headers eval
["", "X-Result: ok", "X-Result: replayed", "X-Result: replayed", ""]
--- response_body_like eval
[qr/^hits: 0$/, qr/^method: POST$/m, qr/409 Conflict/, qr/409 Conflict/,
 qr/^hits: 1$/]
--- no_error_log
[alert]



=== TEST 2: a different request passes; status= sets the answer
--- http_config
    twilio_guard_zone r2:1m;
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_replay zone=r2 status=429;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /__ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
["GET /__reset", ::sms("Body=a"), ::sms("Body=b"), ::sms("Body=a"),
 ::sms("Body=c"), "GET /__hits"]
--- more_headers eval
["", ::hdr("Body=a"), ::hdr("Body=b"), ::hdr("Body=a"), ::hdr("Body=c"), ""]
--- error_code eval
[200, 200, 200, 429, 200, 200]
--- response_body_like eval
[qr/^hits: 0$/, qr/^method: POST$/m, qr/^method: POST$/m, qr/429/,
 qr/^method: POST$/m, qr/^hits: 3$/]



=== TEST 3: an upstream 500 frees the request: the retry reaches it
--- http_config
    twilio_guard_zone r3:1m;
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_replay zone=r3;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /__ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
["GET /__reset", ::sms("Body=f"), ::sms("Body=f"), ::sms("Body=f"),
 ::sms("Body=f"), "GET /__hits"]
--- more_headers eval
["", ::hdr("Body=f", "X-Backend-Status: 500"),
 ::hdr("Body=f", "X-Backend-Status: 503"), ::hdr("Body=f"), ::hdr("Body=f"),
 ""]
--- error_code eval
[200, 500, 503, 200, 409, 200]
--- response_body_like eval
[qr/^hits: 0$/, qr/^method: POST$/m, qr/^method: POST$/m,
 qr/^method: POST$/m, qr/409/, qr/^hits: 3$/]



=== TEST 4: a 4xx from the upstream frees it too, 3xx burns it
--- http_config
    twilio_guard_zone r4:1m;
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_replay zone=r4;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /__ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
["GET /__reset", ::sms("Body=g"), ::sms("Body=g"), ::sms("Body=g"),
 ::sms("Body=h"), ::sms("Body=h"), "GET /__hits"]
--- more_headers eval
["", ::hdr("Body=g", "X-Backend-Status: 404"),
 ::hdr("Body=g", "X-Backend-Status: 201"), ::hdr("Body=g"),
 ::hdr("Body=h", "X-Backend-Status: 302"), ::hdr("Body=h"), ""]
--- error_code eval
[200, 404, 201, 409, 302, 409, 200]
--- response_body_like eval
[qr/^hits: 0$/, qr/^method: POST$/m, qr/^method: POST$/m, qr/409/,
 qr/^method: POST$/m,
 qr/409/, qr/^hits: 3$/]



=== TEST 5: a gateway error from nginx (upstream down) frees it
--- http_config
    twilio_guard_zone r5:1m;
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_replay zone=r5;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT$http_x_path;
    }
    location /down {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_replay zone=r5;
        proxy_pass http://127.0.0.1:1;
    }
--- request eval
[::sms("Body=d") =~ s{/sms}{/down}r, ::sms("Body=d"), ::sms("Body=d")]
--- more_headers eval
[::hdr("Body=d"), ::hdr("Body=d", "X-Path: /sms"),
 ::hdr("Body=d", "X-Path: /sms")]
--- error_code eval
[502, 200, 409]



=== TEST 6: dry run: the copy passes, logged and shown as replayed
--- http_config
    twilio_guard_zone r6:1m;
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_dry_run on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_replay zone=r6;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /__ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
["GET /__reset", ::sms("Body=dry"), ::sms("Body=dry"), "GET /__hits"]
--- more_headers eval
["", ::hdr("Body=dry"), ::hdr("Body=dry"), ""]
--- error_code eval
[200, 200, 200, 200]
--- response_headers eval
["", "X-Result: ok", "X-Result: replayed", ""]
--- response_body_like eval
[qr/^hits: 0$/, qr/^method: POST$/m, qr/^method: POST$/m, qr/^hits: 2$/]



=== TEST 7: a JSON body signed with bodySHA256
--- http_config
    twilio_guard_zone r7:1m;
--- config
    location /events {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com$request_uri;
        twilio_guard_replay zone=r7;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
["POST $::JTARGET\n$::JSON", "POST $::JTARGET\n$::JSON"]
--- more_headers eval
["Content-Type: application/json\nX-Twilio-Signature: $::JSIG",
 "Content-Type: application/json\nX-Twilio-Signature: $::JSIG"]
--- error_code eval
[200, 409]



=== TEST 8: a body in a temporary file
--- http_config
    twilio_guard_zone r8:1m;
--- config
    client_body_buffer_size 1k;
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_replay zone=r8;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
[::sms($::BIG), ::sms($::BIG)]
--- more_headers eval
[::hdr($::BIG), ::hdr($::BIG)]
--- error_code eval
[200, 409]
--- error_log
a client request body is buffered to a temporary file



=== TEST 9: shared keys: the key id is part of the entry
--- http_config
    twilio_guard_zone r9:1m;
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_shared_key KS1 first-shared-secret-0123456789;
        twilio_guard_url https://example.com/sms;
        twilio_guard_replay zone=r9;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
[::sms("a=1"), ::sms("a=1")]
--- more_headers eval
my $h = "Content-Type: $::FORM\nX-Twilio-Signature: "
      . shared_key_signature("first-shared-secret-0123456789",
                             "https://example.com/sms", "a=1", $::FORM)
      . "\nX-Twilio-Webhooks-Signature-Settings: key=KS1,algorithm=HMAC_SHA256";
[$h, $h]
--- error_code eval
[200, 409]



=== TEST 10: an internal redirect to another guarded location is not a replay
--- http_config
    twilio_guard_zone r10:1m;
--- config
    twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
    twilio_guard_url https://example.com/sms;
    location /sms {
        twilio_guard on;
        twilio_guard_replay zone=r10;
        try_files /no-such-file @inner;
    }
    location @inner {
        twilio_guard on;
        twilio_guard_replay zone=r10 window=10m;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
[::sms("Body=redir"), ::sms("Body=redir")]
--- more_headers eval
[::hdr("Body=redir"), ::hdr("Body=redir")]
--- error_code eval
[200, 409]



=== TEST 10b: the verdict stands after try_files; the replay guard where the request is proxied still checks
--- http_config
    twilio_guard_zone r10b:1m;
--- config
    twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
    location /sms {
        twilio_guard on;
        twilio_guard_url https://example.com/sms;
        try_files /no-such-file @inner;
    }
    location @inner {
        twilio_guard on;
        twilio_guard_replay zone=r10b;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /__ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
["GET /__reset", ::sms("Body=split"), ::sms("Body=split"), "GET /__hits"]
--- more_headers eval
["", ::hdr("Body=split"), ::hdr("Body=split"), ""]
--- error_code eval
[200, 200, 409, 200]
--- response_headers eval
["", "X-Result: ok", "X-Result: replayed", ""]
--- response_body_like eval
[qr/^hits: 0$/, qr/^method: POST$/m, qr/409 Conflict/, qr/^hits: 1$/]



=== TEST 11: a rejected copy sent by error_page to a guarded location keeps its rejection (one verdict per request)
--- http_config
    twilio_guard_zone r11:1m;
--- config
    twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
    twilio_guard_url https://example.com/sms;
    location /sms {
        twilio_guard on;
        twilio_guard_replay zone=r11;
        error_page 409 = /again;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /again {
        twilio_guard on;
        twilio_guard_replay zone=r11 status=410;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
[::sms("Body=ep"), ::sms("Body=ep")]
--- more_headers eval
[::hdr("Body=ep"), ::hdr("Body=ep")]
--- error_code eval
[200, 409]



=== TEST 12: off turns an inherited guard off
--- http_config
    twilio_guard_zone r12:1m;
--- config
    twilio_guard_replay zone=r12;
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_replay off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
[::sms("Body=off"), ::sms("Body=off")]
--- more_headers eval
[::hdr("Body=off"), ::hdr("Body=off")]
--- error_code eval
[200, 200]



=== TEST 13: twilio_guard_replay without zone=
--- config
    location /sms {
        twilio_guard_replay window=1h;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"twilio_guard_replay" needs zone=NAME, a zone declared with "twilio_guard_zone NAME:SIZE" in the http block in \S+nginx\.conf:\d+/



=== TEST 14: a zone never declared
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_replay zone=nosuch;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown zone "nosuch" in "twilio_guard_replay" in \S+nginx\.conf:\d+: declare it in the http block with "twilio_guard_zone nosuch:10m"/



=== TEST 15: a zone below 8 pages
--- http_config
    twilio_guard_zone tiny:4k;
--- config
    location /x {
        return 204;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*zone "tiny" is too small: 4096 bytes, at least \d+ are needed in \S+nginx\.conf:\d+/



=== TEST 16: a size that is not one
--- http_config
    twilio_guard_zone z:ten;
--- config
    location /x {
        return 204;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid size "ten" of zone "z": write a number of bytes, with k or m, e.g. 10m in \S+nginx\.conf:\d+/



=== TEST 17: no size
--- http_config
    twilio_guard_zone z;
--- config
    location /x {
        return 204;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid zone "z": write name:size, e.g. "twilio_guard_zone twilio:10m" in \S+nginx\.conf:\d+/



=== TEST 18: the same zone declared twice, with two sizes
--- http_config
    twilio_guard_zone z:1m;
    twilio_guard_zone z:2m;
--- config
    location /x {
        return 204;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*the size 2097152 of shared memory zone "z" conflicts with already declared size 1048576 in \S+nginx\.conf:\d+/



=== TEST 19: bad parameters
--- http_config
    twilio_guard_zone z:1m;
--- config
    location /sms {
        twilio_guard_replay zone=z window=0s;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid time in "window=0s": write a duration above zero, e.g. 1h, 90s, 500ms in \S+nginx\.conf:\d+/



=== TEST 20: bad status
--- http_config
    twilio_guard_zone z:1m;
--- config
    location /sms {
        twilio_guard_replay zone=z status=200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid status in "status=200": write a code between 400 and 599 in \S+nginx\.conf:\d+/



=== TEST 21: an unknown parameter
--- http_config
    twilio_guard_zone z:1m;
--- config
    location /sms {
        twilio_guard_replay zone=z windw=1h;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "windw=1h": write zone=NAME \[window=TIME\] \[status=CODE\] \[inflight=TIME\], or "off" in \S+nginx\.conf:\d+/



=== TEST 22: twilio_guard_zone only in http
--- config
    location /sms {
        twilio_guard_zone z:1m;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"twilio_guard_zone" directive is not allowed here in \S+nginx\.conf:\d+/
