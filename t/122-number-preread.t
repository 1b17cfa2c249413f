# vim:set ft= ts=4 sw=4 et:
# The SMS guard's fast path: an HTTP/1.x body that came whole with the
# headers is decided from those bytes (ngx_http_twilio_guard_preread()),
# the proxy reads the same bytes later.  Against the body read as before
# (sent later, in its own packet): the same verdicts, upstream bodies,
# variables and log lines; pipelined requests each decided on their own
# body; a body still on its way, one over the guard's cap, Expect:
# 100-continue and HTTP/2 read as before; internal redirects after a
# decision from the preread bytes; a rejection followed by the next
# request on the same connection; a key=$variable limit (which could come
# from $request_body) reads the body, also after a redirect.  Which way
# a body went shows in the debug log (nginx built --with-debug, the
# runner's level): a body read by the guard finalizes the request with
# NGX_DONE twice (the guard's read, then the proxy's), preread once.

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use Twilio::Backend;

our $J_US = '{"phone":"+1 (415) 555-0100","code":"123456"}';
our $J_GB = '{"phone":"+447700900123","code":"654321"}';
our $JSON = 'application/json';
our $FORM = 'application/x-www-form-urlencoded';

# a request as bytes, for raw_request
sub req {
    my ($target, $body, $type, $conn) = @_;
    return "POST $target HTTP/1.1\r\nHost: localhost\r\n"
         . "Content-Type: $type\r\nContent-Length: " . length($body)
         . "\r\nConnection: $conn\r\n\r\n$body";
}

# the request line and headers now, the body 0.2 s later
sub split_later {
    my ($target, $body) = @_;
    return [["POST $target\n", { value => $body, delay_before => 0.2 }]];
}

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value("http_config", <<'_EOC_');
    twilio_guard_zone sms:1m;
    log_format number '$request_uri $status $twilio_guard_number '
                      '$twilio_guard_number_region $twilio_guard_number_result';
    map $request_body $device {
        "~\"device\":\"(?<d>[a-z0-9]+)\"" $d;
        default "";
    }
_EOC_
    }

    if (!defined $block->config) {
        $block->set_value("config", <<'_EOC_');
    access_log $TEST_NGINX_SERVER_ROOT/logs/access.log number;

    location /otp {
        twilio_guard_number phone;
        add_header X-Number $twilio_guard_number always;
        add_header X-Region $twilio_guard_number_region always;
        add_header X-Result $twilio_guard_number_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }

    location /deny {
        twilio_guard_number phone;
        twilio_guard_number_deny GB;
        add_header X-Number $twilio_guard_number always;
        add_header X-Result $twilio_guard_number_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }

    location /limit {
        twilio_guard_number phone;
        twilio_guard_limit zone=sms key=number 1/1h;
        add_header X-Number $twilio_guard_number always;
        add_header X-Result $twilio_guard_number_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }

    # a key the body gives, through a map of $request_body
    location /device {
        twilio_guard_number phone;
        twilio_guard_limit zone=sms key=$device 1/1h;
        add_header X-Number $twilio_guard_number always;
        add_header X-Result $twilio_guard_number_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }

    # decided, then redirected (the body not read) to other rules
    location /try {
        twilio_guard_number phone;
        try_files /nonexistent @gb;
    }

    # decided, the body read by the proxy, then redirected
    location /proxied {
        twilio_guard_number phone;
        proxy_set_header X-Backend-Status 503;
        proxy_intercept_errors on;
        error_page 503 = @gb;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }

    location @gb {
        twilio_guard_number phone;
        twilio_guard_number_deny GB;
        add_header X-Number $twilio_guard_number always;
        add_header X-Result $twilio_guard_number_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }

    # decided without a variable key, redirected to one
    location /try-device {
        twilio_guard_number phone;
        try_files /nonexistent @device;
    }

    location @device {
        twilio_guard_number phone;
        twilio_guard_limit zone=sms key=$device 1/1h;
        add_header X-Number $twilio_guard_number always;
        add_header X-Result $twilio_guard_number_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
_EOC_
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: JSON with the headers (preread): number, variables, the upstream's body, the access log
--- request eval
"POST /otp\n$::J_US"
--- more_headers
Content-Type: application/json
--- error_code: 200
--- response_headers
X-Number: +14155550100
X-Region: US
X-Result: ok
--- response_body eval
backend_echo("POST", "/otp", $::J_US, "content-type" => $::JSON)
--- access_log
/otp 200 +14155550100 US ok
--- grep_error_log: http finalize request: -4
--- grep_error_log_out
http finalize request: -4
--- no_error_log
twilio_guard: number



=== TEST 2: the same JSON, its body in a later packet (read): the same
--- request eval
::split_later("/otp", $::J_US)
--- more_headers
Content-Type: application/json
--- error_code: 200
--- response_headers
X-Number: +14155550100
X-Region: US
X-Result: ok
--- response_body eval
backend_echo("POST", "/otp", $::J_US, "content-type" => $::JSON)
--- access_log
/otp 200 +14155550100 US ok
--- grep_error_log: http finalize request: -4
--- grep_error_log_out
http finalize request: -4
http finalize request: -4
--- no_error_log
twilio_guard: number



=== TEST 3: an invalid number with the headers: 400, the log line
--- request eval
"POST /otp\n{\"phone\":\"+1 415\"}"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_headers
X-Number:
X-Result: number_invalid
--- access_log
/otp 400 - - number_invalid
--- error_log
twilio_guard: number: rejected: number_invalid, number -, "phone" is not a phone number in service



=== TEST 4: the same, its body later: the same
--- request eval
::split_later("/otp", "{\"phone\":\"+1 415\"}")
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_headers
X-Number:
X-Result: number_invalid
--- access_log
/otp 400 - - number_invalid
--- error_log
twilio_guard: number: rejected: number_invalid, number -, "phone" is not a phone number in service



=== TEST 5: a denied number with the headers: 403, the masked number logged
--- request eval
"POST /deny\n$::J_GB"
--- more_headers
Content-Type: application/json
--- error_code: 403
--- response_headers
X-Number: +447700900123
X-Result: number_denied
--- error_log
twilio_guard: number: rejected: number_denied, number +44770090****,



=== TEST 6: the same, its body later: the same
--- request eval
::split_later("/deny", $::J_GB)
--- more_headers
Content-Type: application/json
--- error_code: 403
--- response_headers
X-Number: +447700900123
X-Result: number_denied
--- error_log
twilio_guard: number: rejected: number_denied, number +44770090****,



=== TEST 7: pipelined JSON: each request decided on its own body, each body forwarded whole
--- pipelined_requests eval
["POST /otp\n$::J_US", "POST /otp\n$::J_GB"]
--- more_headers eval
["Content-Type: application/json", "Content-Type: application/json"]
--- error_code eval
[200, 200]
--- response_headers eval
["X-Number: +14155550100\nX-Result: ok", "X-Number: +447700900123\nX-Result: ok"]
--- response_body eval
[backend_echo("POST", "/otp", $::J_US, "content-type" => $::JSON),
 backend_echo("POST", "/otp", $::J_GB, "content-type" => $::JSON)]
--- no_error_log
twilio_guard: number



=== TEST 8: pipelined forms: a number in the next request is not the first's (400 closes the connection)
--- raw_request eval
::req("/otp", "code=1", $::FORM, "keep-alive")
. ::req("/otp", "x=1&phone=%2B447700900123", $::FORM, "close")
--- error_code: 400
--- response_headers
Connection: close
X-Number:
X-Result: number_missing
--- error_log
twilio_guard: number: rejected: number_missing, number -, no "phone" in the query or the body



=== TEST 9: pipelined forms: the next request's number does not make the first ambiguous
--- pipelined_requests eval
["POST /otp\nphone=%2B14155550100", "POST /otp\nx=1&phone=%2B447700900123"]
--- more_headers eval
["Content-Type: $::FORM", "Content-Type: $::FORM"]
--- error_code eval
[200, 200]
--- response_headers eval
["X-Number: +14155550100", "X-Number: +447700900123"]
--- response_body eval
[backend_echo("POST", "/otp", "phone=%2B14155550100", "content-type" => $::FORM),
 backend_echo("POST", "/otp", "x=1&phone=%2B447700900123", "content-type" => $::FORM)]
--- no_error_log
twilio_guard: number



=== TEST 10: Content-Length past the first packet: the rest read, then decided
--- request eval
[["POST /otp\n{\"phone\":\"+1415", { value => "5550100\",\"code\":\"1\"}", delay_before => 0.2 }]]
--- more_headers
Content-Type: application/json
--- error_code: 200
--- response_headers
X-Number: +14155550100
X-Result: ok
--- response_body eval
backend_echo("POST", "/otp", "{\"phone\":\"+14155550100\",\"code\":\"1\"}",
    "content-type" => $::JSON)
--- no_error_log
twilio_guard: number



=== TEST 11: a body over the guard's cap, all in a large header buffer: 413 body_too_large
--- config
    client_header_buffer_size 128k;
    location /otp {
        twilio_guard_number phone;
        add_header X-Result $twilio_guard_number_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
"POST /otp\n{\"phone\":\"+14155550100\",\"pad\":\"" . ("x" x 65520) . "\"}"
--- more_headers
Content-Type: application/json
--- error_code: 413
--- response_headers
X-Result: body_too_large
--- error_log
twilio_guard: number: rejected: body_too_large, number -, a body of 65553 bytes, over 65536



=== TEST 12: a body at the cap, all in a large header buffer: decided, forwarded whole
--- config
    client_header_buffer_size 128k;
    location /otp {
        twilio_guard_number phone;
        add_header X-Result $twilio_guard_number_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
"POST /otp\n{\"phone\":\"+14155550100\",\"pad\":\"" . ("x" x 65503) . "\"}"
--- more_headers
Content-Type: application/json
--- error_code: 200
--- response_headers
X-Result: ok
--- response_body eval
backend_echo("POST", "/otp",
    "{\"phone\":\"+14155550100\",\"pad\":\"" . ("x" x 65503) . "\"}",
    "content-type" => $::JSON)
--- no_error_log
twilio_guard: number



=== TEST 13: decided from the preread bytes, try_files to other rules: decided again from them (denied)
--- request eval
"POST /try\n$::J_GB"
--- more_headers
Content-Type: application/json
--- error_code: 403
--- response_headers
X-Number: +447700900123
X-Result: number_denied
--- error_log
twilio_guard: number: rejected: number_denied, number +44770090****,



=== TEST 14: the same redirect, an allowed number: the upstream gets the body whole
--- request eval
"POST /try\n$::J_US"
--- more_headers
Content-Type: application/json
--- error_code: 200
--- response_headers
X-Number: +14155550100
X-Result: ok
--- response_body eval
backend_echo("POST", "/try", $::J_US, "content-type" => $::JSON)
--- no_error_log
twilio_guard: number



=== TEST 15: decided from the preread bytes, read by a proxy that fails, error_page to other rules: decided from the read body
--- pipelined_requests eval
["POST /proxied\n$::J_GB", "POST /proxied\n$::J_US"]
--- more_headers eval
["Content-Type: application/json", "Content-Type: application/json"]
--- error_code eval
[403, 200]
--- response_headers eval
["X-Result: number_denied", "X-Number: +14155550100\nX-Result: ok"]
--- response_body_like eval
["403 Forbidden", "length: 45\n"]
--- access_log
/proxied 403 +447700900123 GB number_denied
/proxied 200 +14155550100 US ok



=== TEST 16: denied from the preread bytes, then the next requests on the connection, each on its own body
--- pipelined_requests eval
["POST /deny\n$::J_GB", "POST /deny\n$::J_US", "POST /deny\n$::J_GB",
 "POST /otp\n$::J_GB"]
--- more_headers eval
[("Content-Type: application/json") x 4]
--- error_code eval
[403, 200, 403, 200]
--- response_headers eval
["X-Result: number_denied", "X-Number: +14155550100\nX-Result: ok",
 "X-Result: number_denied", "X-Number: +447700900123\nX-Result: ok"]
--- response_body_like eval
["403 Forbidden", "sha256: @{[Digest::SHA::sha256_hex($::J_US)]}",
 "403 Forbidden", "sha256: @{[Digest::SHA::sha256_hex($::J_GB)]}"]
--- access_log
/deny 403 +447700900123 GB number_denied
/deny 200 +14155550100 US ok
/otp 200 +447700900123 GB ok



=== TEST 16a: invalid from the preread bytes: 400 closes the connection, the next request is not served
--- raw_request eval
::req("/otp", '{"phone":"+1 415"}', $::JSON, "keep-alive")
. ::req("/otp", $::J_US, $::JSON, "close")
--- error_code: 400
--- response_headers
Connection: close
X-Result: number_invalid
--- access_log
/otp 400 - - number_invalid
--- no_access_log
/otp 200



=== TEST 17: limited from the preread bytes, then the next request on the connection
--- pipelined_requests eval
["POST /limit\n$::J_US", "POST /limit\n$::J_US", "POST /limit\n$::J_GB"]
--- more_headers eval
[("Content-Type: application/json") x 3]
--- error_code eval
[200, 429, 200]
--- response_headers eval
["X-Number: +14155550100\nX-Result: ok", "X-Number: +14155550100\nX-Result: limited",
 "X-Number: +447700900123\nX-Result: ok"]
--- response_body_like eval
["sha256: @{[Digest::SHA::sha256_hex($::J_US)]}", "429 Too Many Requests",
 "sha256: @{[Digest::SHA::sha256_hex($::J_GB)]}"]
--- access_log
/limit 200 +14155550100 US ok
/limit 429 +14155550100 US limited
/limit 200 +447700900123 GB ok



=== TEST 18: a key=$variable limit from $request_body: the body is read, the key counts
--- pipelined_requests eval
["POST /device\n{\"phone\":\"+14155550100\",\"device\":\"d1\"}",
 "POST /device\n{\"phone\":\"+14155550199\",\"device\":\"d1\"}",
 "POST /device\n{\"phone\":\"+14155550199\",\"device\":\"d2\"}"]
--- more_headers eval
[("Content-Type: application/json") x 3]
--- error_code eval
[200, 429, 200]
--- response_headers eval
["X-Result: ok", "X-Result: limited", "X-Result: ok"]
--- response_body_like eval
["length: 38\n", "429 Too Many Requests", "length: 38\n"]



=== TEST 19: decided from the preread bytes, redirected to a key=$variable limit: the body is read there, the key counts
--- pipelined_requests eval
["POST /try-device\n{\"phone\":\"+14155550100\",\"device\":\"d1\"}",
 "POST /try-device\n{\"phone\":\"+14155550199\",\"device\":\"d1\"}",
 "POST /try-device\n{\"phone\":\"+14155550199\",\"device\":\"d2\"}"]
--- more_headers eval
[("Content-Type: application/json") x 3]
--- error_code eval
[200, 429, 200]
--- response_headers eval
["X-Result: ok", "X-Result: limited", "X-Result: ok"]
--- response_body_like eval
["length: 38\n", "429 Too Many Requests", "length: 38\n"]



=== TEST 20: Expect: 100-continue, the body sent after the 100: read, decided
--- raw_request eval
["POST /otp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
 . "Content-Length: " . length($::J_US) . "\r\nExpect: 100-continue\r\n"
 . "Connection: close\r\n\r\n",
 { value => $::J_US, delay_before => 0.2 }]
--- error_code: 100
--- response_body_like eval
qr{\AHTTP/1\.1 200 OK\r\n.*X-Number: \+14155550100\r\n.*sha256: @{[Digest::SHA::sha256_hex($::J_US)]}\n}s
--- no_error_log
twilio_guard: number



=== TEST 21: Expect: 100-continue with the body at once (preread): decided, forwarded
--- raw_request eval
"POST /otp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
 . "Content-Length: " . length($::J_US) . "\r\nExpect: 100-continue\r\n"
 . "Connection: close\r\n\r\n$::J_US"
--- error_code: 100
--- response_body_like eval
qr{\AHTTP/1\.1 200 OK\r\n.*X-Number: \+14155550100\r\n.*sha256: @{[Digest::SHA::sha256_hex($::J_US)]}\n}s
--- no_error_log
twilio_guard: number



=== TEST 22: HTTP/2 (h2c): read, decided, forwarded
--- http2
--- request eval
"POST /otp\n$::J_US"
--- more_headers
Content-Type: application/json
--- error_code: 200
--- response_headers
X-Number: +14155550100
X-Result: ok
--- response_body eval
backend_echo("POST", "/otp", $::J_US, "content-type" => $::JSON)
--- no_error_log
twilio_guard: number



=== TEST 23: HTTP/2 (h2c): a denied number, 403
--- http2
--- request eval
"POST /deny\n$::J_GB"
--- more_headers
Content-Type: application/json
--- error_code: 403
--- response_headers
X-Result: number_denied
--- error_log
twilio_guard: number: rejected: number_denied, number +44770090****,
