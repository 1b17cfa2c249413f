# vim:set ft= ts=4 sw=4 et:
# Reading the body in the access phase: memory, temporary files, chunked,
# slow and aborted clients, limits, JSON bodies, internal redirects.

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use Twilio::Sign;
use Twilio::Backend;
use Twilio::Request;

our $JSON = qq({"EventType":"onMessageAdded","Body":"Ol\xc3\xa1 \xf0\x9f\x98\x80",)
          . qq( "Index":3}\n);
our $JURL = json_url('https://example.com/events?source=conversations', $JSON);
(our $JTARGET = $JURL) =~ s{^https://example\.com}{};

# about 12 KiB of form parameters: more than client_body_buffer_size 1k
our $BIG = join '&', map { sprintf 'Param%04d=value+%d+%%2B%%F0%%9F%%98%%80', $_, $_ }
                     0 .. 299;

# 20,000 tiny parameters, many of them repeated keys
our $MANY = join '&', map { 'k' . ($_ % 97) . '=' . ($_ % 13) } 1 .. 20000;

# bytes a form may carry: NUL, invalid UTF-8, a lone % at the end
our $SMS1 = "a=1&b=2";

our $ODD = "A=%00%FF%FE&B=\xff\xfe\x00raw&C=%zz&D=100%";

sub chunked {
    my ($body, $size) = @_;
    my $out = '';
    for (my $i = 0; $i < length $body; $i += $size) {
        my $c = substr $body, $i, $size;
        $out .= sprintf("%x\r\n", length $c) . "$c\r\n";
    }
    return "${out}0\r\n\r\n";
}

sub chunked_request {
    my ($body, %o) = @_;
    my $sig = $o{sig} // signature_for(body => $body);
    return "POST /sms HTTP/1.1\r\nHost: localhost\r\n"
         . "Content-Type: application/x-www-form-urlencoded\r\n"
         . "X-Twilio-Signature: $sig\r\n"
         . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
         . ($o{chunks} // chunked($body, $o{size} // 100));
}

add_block_preprocessor(sub {
    my $block = shift;

    # these tests talk plain HTTP; t/050-policy.t covers twilio_guard_https
    $block->set_value("http_config",
                      "twilio_guard_https off;\n" . ($block->http_config // ''));

    if (!defined $block->config) {
        $block->set_value("config", <<'_EOC_');
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /events {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com$request_uri;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /__ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
_EOC_
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a body buffered to a temporary file is read and forwarded intact
--- config
    client_body_buffer_size 1k;
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => $::BIG)
--- error_code: 200
--- response_body eval
backend_echo("POST", "/sms", $::BIG,
    "content-type" => "application/x-www-form-urlencoded",
    "x-twilio-signature" => signature_for(body => $::BIG))
--- error_log
a client request body is buffered to a temporary file
--- no_error_log
twilio_guard: rejected



=== TEST 2: client_body_in_file_only
--- config
    client_body_in_file_only clean;
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => $::BIG)
--- error_code: 200
--- response_body_like eval
my $sha = Digest::SHA::sha256_hex($::BIG);
qr/^length: ${\ length $::BIG}\nsha256: $sha$/m
--- no_error_log
[error]



=== TEST 3: a chunked body, in memory
--- raw_request eval
::chunked_request($::BIG, size => 7000)
--- error_code: 200
--- response_body_like eval
my $sha = Digest::SHA::sha256_hex($::BIG);
qr/^length: ${\ length $::BIG}\nsha256: $sha$/m
--- no_error_log
[error]



=== TEST 4: a chunked body in many small chunks, to a temporary file
--- config
    client_body_buffer_size 1k;
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
::chunked_request($::BIG, size => 10)
--- error_code: 200
--- response_body_like eval
my $sha = Digest::SHA::sha256_hex($::BIG);
qr/^length: ${\ length $::BIG}\nsha256: $sha$/m
--- no_error_log
[error]



=== TEST 5a: a chunked body larger than twilio_guard_max_body gets 413 (1/3)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_max_body 4k;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /__ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
"GET /__reset HTTP/1.0\r\n\r\n"
--- error_code: 200
--- response_body_like eval
qr/hits: 0/



=== TEST 5b: a chunked body larger than twilio_guard_max_body gets 413 (2/3)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_max_body 4k;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /__ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
::chunked_request($::BIG, size => 1000)
--- error_code: 413
--- response_body_like eval
qr/413 Request Entity Too Large/
--- error_log eval
qr/twilio_guard: rejected: body_too_large, body larger than twilio_guard_max_body 4096, reading stopped at \d+ bytes/



=== TEST 5c: a chunked body larger than twilio_guard_max_body gets 413 (3/3)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_max_body 4k;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /__ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
"GET /__hits HTTP/1.0\r\n\r\n"
--- error_code: 200
--- response_body_like eval
qr/^hits: 0$/



=== TEST 6a: a Content-Length over the limit is refused before the body is read (1/2)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_max_body 100;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a" x 101)
--- error_code: 413
--- error_log
twilio_guard: rejected: body_too_large, body of 101 bytes is larger than twilio_guard_max_body 100



=== TEST 6b: a Content-Length over the limit is refused before the body is read (2/2)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_max_body 100;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=" . "b" x 98)
--- error_code: 200



=== TEST 7: a body sent slowly, in pieces
--- raw_request eval
my $r = signed_request(body => $::BIG);
[map { substr $r, $_ * 1000, 1000 } 0 .. int(length($r) / 1000)]
--- raw_request_middle_delay: 0.01
--- error_code: 200
--- response_body_like eval
my $sha = Digest::SHA::sha256_hex($::BIG);
qr/^sha256: $sha$/m
--- no_error_log
[error]



=== TEST 8a: reset the upstream's hit counter
--- raw_request eval
"GET /__reset HTTP/1.0\r\n\r\n"
--- response_body
hits: 0



=== TEST 8: a client that closes mid-body: nothing is forwarded, no alert
--- config
    client_body_timeout 1s;
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /__ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
my $r = signed_request(body => $::BIG);
[substr($r, 0, length($r) - 500)]
--- timeout: 0.5
--- abort
--- ignore_response
--- wait: 0.2
--- no_error_log
[alert]
[crit]
twilio_guard: rejected



=== TEST 9: ... and the upstream never saw it
--- raw_request eval
"GET /__hits HTTP/1.0\r\n\r\n"
--- response_body
hits: 0



=== TEST 10a: a bad chunk size is a 400 from nginx, nothing forwarded (1/3)
--- raw_request eval
"GET /__reset HTTP/1.0\r\n\r\n"
--- error_code: 200
--- response_body_like eval
qr/hits: 0/



=== TEST 10b: a bad chunk size is a 400 from nginx, nothing forwarded (2/3)
--- raw_request eval
::chunked_request($::BIG, chunks => "zz\r\nabc\r\n0\r\n\r\n")
--- error_code: 400
--- response_body_like eval
qr/400 Bad Request/
--- error_log
client sent invalid chunked body



=== TEST 10c: a bad chunk size is a 400 from nginx, nothing forwarded (3/3)
--- raw_request eval
"GET /__hits HTTP/1.0\r\n\r\n"
--- error_code: 200
--- response_body_like eval
qr/^hits: 0$/



=== TEST 11a: 20,000 tiny parameters with repeated keys (1/3)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_max_body 1m;
        twilio_guard_max_params 20001;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => $::MANY)
--- error_code: 200
--- no_error_log
[alert]



=== TEST 11b: 20,000 tiny parameters with repeated keys (2/3)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_max_body 1m;
        twilio_guard_max_params 20001;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "$::MANY&k1=1", sig => signature_for(body => $::MANY))
--- error_code: 200
--- no_error_log
[alert]



=== TEST 11c: 20,000 tiny parameters with repeated keys (3/3)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_max_body 1m;
        twilio_guard_max_params 20001;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "$::MANY&k1=14", sig => signature_for(body => $::MANY))
--- error_code: 403
--- no_error_log
[alert]



=== TEST 12: NUL bytes, invalid UTF-8 and a trailing % are signed and kept
--- raw_request eval
signed_request(body => $::ODD)
--- error_code: 200
--- response_body eval
backend_echo("POST", "/sms", $::ODD,
    "content-type" => "application/x-www-form-urlencoded",
    "x-twilio-signature" => signature_for(body => $::ODD))



=== TEST 13a: an empty POST is signed over the URL alone (1/2)
--- raw_request eval
signed_request(body => "")
--- error_code: 200



=== TEST 13b: an empty POST is signed over the URL alone (2/2)
--- raw_request eval
signed_request(body => "", sig => signature_for(body => "x=1"))
--- error_code: 403



=== TEST 14: a JSON body with bodySHA256
--- raw_request eval
signed_request(target => $::JTARGET, body => $::JSON, url => $::JURL,
               ct => "application/json")
--- error_code: 200
--- response_body eval
backend_echo("POST", $::JTARGET, $::JSON,
    "content-type" => "application/json",
    "x-twilio-signature" => signature_for(url => $::JURL, body => $::JSON,
                                          ct => "application/json"))
--- no_error_log
[error]



=== TEST 15: a JSON body changed after signing: the URL signature holds, the hash does not
--- raw_request eval
my $body = $::JSON;
$body =~ s/"Index":3/"Index":4/;
signed_request(target => $::JTARGET, body => $body, url => $::JURL,
               ct => "application/json",
               sig => signature_for(url => $::JURL, body => $::JSON,
                                    ct => "application/json"))
--- error_code: 403
--- error_log eval
qr/twilio_guard: rejected: body_hash_mismatch, SHA-256 of the \d+-byte body does not match bodySHA256/



=== TEST 16: JSON re-serialised (whitespace) fails too
--- raw_request eval
(my $body = $::JSON) =~ s/\n\z//;
signed_request(target => $::JTARGET, body => $body, url => $::JURL,
               ct => "application/json",
               sig => signature_for(url => $::JURL, body => $::JSON,
                                    ct => "application/json"))
--- error_code: 403
--- error_log
twilio_guard: rejected: body_hash_mismatch



=== TEST 17: a JSON body without bodySHA256 is not accepted
--- raw_request eval
signed_request(target => "/events?source=x", body => $::JSON,
               url => "https://example.com/events?source=x",
               ct => "application/json")
--- error_code: 403
--- error_log
twilio_guard: rejected: body_unsigned



=== TEST 18a: a malformed bodySHA256
--- raw_request eval
signed_request(target => "/events?bodySHA256=abc", body => $::JSON,
               url => "https://example.com/events?bodySHA256=abc",
               ct => "application/json")
--- error_code: 403
--- error_log eval
qr/rejected: body_hash_malformed, bodySHA256 in url "https:\/\/example.com\/events\?bodySHA256=abc" is not 64 hex digits, or repeated/



=== TEST 18b: a repeated bodySHA256
--- raw_request eval
signed_request(target => "$::JTARGET&bodySHA256=" . ("0" x 64),
               body => $::JSON, ct => "application/json",
               url => "$::JURL&bodySHA256=" . ("0" x 64))
--- error_code: 403
--- error_log eval
qr/rejected: body_hash_malformed.*bodySHA256=0{64}"/



=== TEST 19: two pipelined signed requests on one connection
--- pipelined_requests eval
["POST /sms\n$::SMS1", "POST /sms\n$::SMS1"]
--- more_headers eval
"X-Twilio-Signature: " . signature_for(body => "a=1&b=2") . "
Content-Type: application/x-www-form-urlencoded"
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^length: 7$/m, qr/^length: 7$/m]



=== TEST 20: internal redirect after an upstream error: validated again, body kept
--- config
    client_body_buffer_size 1k;
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:1;
        error_page 502 = @retry;
    }
    location @retry {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        add_header X-Result $twilio_guard_result;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => $::BIG)
--- error_code: 200
--- response_headers
X-Result: ok
--- response_body_like eval
my $sha = Digest::SHA::sha256_hex($::BIG);
qr{^method: POST\nuri: /sms\nlength: ${\ length $::BIG}\nsha256: $sha$}m



=== TEST 21a: satisfy any: another access module may grant what the guard refused (1/2)
--- config
    location /sms {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /closed {
        satisfy any;
        deny all;
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", sig => undef)
--- error_code: 200



=== TEST 21b: satisfy any: another access module may grant what the guard refused (2/2)
--- config
    location /sms {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /closed {
        satisfy any;
        deny all;
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", sig => undef, target => "/closed")
--- error_code: 403



=== TEST 22a: subrequests skip the access phase; the main request was checked (1/2)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        mirror /mirror;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /mirror {
        internal;
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1")
--- error_code: 200
--- no_error_log
subrequest_unchecked



=== TEST 22b: subrequests skip the access phase; the main request was checked (2/2)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        mirror /mirror;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /mirror {
        internal;
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=2", sig => undef)
--- error_code: 403
--- error_log
twilio_guard: rejected: no_signature






=== TEST 23a: one verdict: the documented try_files @named recipe under a server-wide guard
--- http_config
limit_req_zone $twilio_param_a zone=per_sender:1m rate=10r/m;
--- config
    twilio_guard on;
    twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;

    location /sms {
        twilio_guard_url https://example.com/sms;
        try_files /.validated @sms;
    }

    location @sms {
        limit_req zone=per_sender burst=5;
        add_header X-Result "$twilio_guard_result $twilio_param_a";
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1")
--- error_code: 200
--- response_headers
X-Result: ok 1
--- response_body_like eval
qr{^method: POST\nuri: /sms\nlength: 3\n}
--- no_error_log
twilio_guard: rejected



=== TEST 23b: one verdict: an app's X-Accel-Redirect into an internal location that inherits the guard
--- config
    twilio_guard on;
    twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;

    location /sms {
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location = /app {
        twilio_guard off;
        add_header X-Accel-Redirect /internal/done;
        return 204;
    }

    location /internal/ {
        internal;
        add_header X-Result $twilio_guard_result;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1")
--- error_code: 200
--- response_headers
X-Result: ok
--- response_body_like eval
qr{^method: GET\nuri: /internal/done\n}
--- no_error_log
twilio_guard: rejected



=== TEST 23c: one verdict, unless the target asks for other keys: it checks again
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:1;
        error_page 502 = @other;
    }

    location @other {
        twilio_guard on;
        twilio_guard_auth_token 0123456789abcdef0123456789abcdef;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1")
--- error_code: 403
--- error_log
twilio_guard: rejected: bad_signature



=== TEST 23d: one verdict, unless the target asks for HTTPS where it was off: it checks again
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:1;
        error_page 502 = /sms/secure;

        location /sms/secure {
            twilio_guard_https on;
            proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
        }
    }
--- raw_request eval
signed_request(body => "a=1")
--- error_code: 403
--- error_log
twilio_guard: rejected: not_https



=== TEST 23e: one verdict, unless a dry run let a forged request through into an enforcing location
--- config
    twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
    twilio_guard_url https://example.com/sms;

    location /sms {
        twilio_guard on;
        twilio_guard_dry_run on;
        proxy_pass http://127.0.0.1:1;
        error_page 502 = @enforce;
    }

    location @enforce {
        twilio_guard on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", sig => signature_for(body => "a=2"))
--- error_code: 403
--- error_log
twilio_guard: dry run, would reject: bad_signature
twilio_guard: rejected: bad_signature



=== TEST 24a: a chunked body that goes over client_max_body_size late, under a server-wide guard with error_page: answered, not left hanging
--- config
    twilio_guard on;
    twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
    twilio_guard_url https://example.com/sms;
    error_page 400 413 /sms/error.html;
    location /sms {
        client_max_body_size 2k;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
my $r = ::chunked_request("a=1&b=2", chunks => "");
[$r, "7\r\na=1&b=2\r\n", sprintf("%x\r\n%s\r\n", 3000, "c" x 3000)]
--- raw_request_middle_delay: 0.2
--- timeout: 3
--- error_code: 413
--- error_log
client intended to send too large chunked body
twilio_guard: rejected: body_unavailable, the request body could not be read, nginx answers 413



=== TEST 24b: an invalid chunk late, likewise
--- config
    twilio_guard on;
    twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
    twilio_guard_url https://example.com/sms;
    error_page 400 413 /sms/error.html;
    location /sms {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
my $r = ::chunked_request("a=1&b=2", chunks => "");
[$r, "7\r\na=1&b=2\r\n", "zz\r\nabc\r\n"]
--- raw_request_middle_delay: 0.2
--- timeout: 3
--- error_code: 400
--- error_log
client sent invalid chunked body
twilio_guard: rejected: body_unavailable, the request body could not be read, nginx answers 400



=== TEST 24c: over twilio_guard_max_body late, likewise: the read stops there
--- config
    twilio_guard on;
    twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
    twilio_guard_url https://example.com/sms;
    twilio_guard_max_body 1k;
    error_page 400 413 /sms/error.html;
    location /sms {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
my $r = ::chunked_request("a=1&b=2", chunks => "");
[$r, "7\r\na=1&b=2\r\n", sprintf("%x\r\n%s\r\n", 3000, "c" x 3000)]
--- raw_request_middle_delay: 0.2
--- timeout: 3
--- error_code: 413
--- error_log eval
qr/twilio_guard: rejected: body_too_large, body larger than twilio_guard_max_body 1024, reading stopped at \d+ bytes/
