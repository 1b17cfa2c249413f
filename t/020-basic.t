# vim:set ft= ts=4 sw=4 et:
# The core guard through nginx: accepted requests reach the upstream with
# the body intact, forged ones are rejected with a reason and never reach it.

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use Twilio::Secrets;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use Twilio::Sign;
use Twilio::Backend;
use Twilio::Request;

our $SMS = 'ToCountry=US&Body=Hello+%2B+%F0%9F%98%80&From=%2B12125550199'
         . '&To=%2B14155550100&AccountSid=AC0123456789abcdef0123456789abcdef';

# these tests talk plain HTTP; t/050-policy.t covers twilio_guard_https
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config",
                      "twilio_guard_https off;\n" . ($block->http_config // ''));
});

# secret files: "--- user_files" cannot set the modes they need
secret_file("t020-13-tokens", <<'_EOF_', 0600);
# old token, remove after the rotation
11111111111111111111111111111111

9f86d081884c7d659a2feaa0c55ad015
_EOF_

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a signed form POST reaches the upstream byte for byte
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => $::SMS)
--- error_code: 200
--- response_body eval
backend_echo("POST", "/sms", $::SMS,
    "content-type" => "application/x-www-form-urlencoded",
    "x-twilio-signature" => signature_for(body => $::SMS))
--- no_error_log
[error]



=== TEST 2: a wrong signature is rejected with 403 and a reason
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => $::SMS, token => "0000000000000000000000000000000")
--- error_code: 403
--- response_body_like: 403 Forbidden
--- error_log eval
qr/twilio_guard: rejected: bad_signature, signature does not match url "https:\/\/example.com\/sms"/
--- no_error_log
9f86d081884c7d659a2feaa0c55ad015



=== TEST 3: a body changed after signing is rejected
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "$::SMS&Extra=1",
               sig => signature_for(body => $::SMS))
--- error_code: 403
--- error_log
twilio_guard: rejected: bad_signature



=== TEST 4: rejected requests never reach the upstream, accepted ones do
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /__ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
["GET /__reset",
 "POST /sms\n$::SMS",
 "GET /__hits",
 "POST /sms\n$::SMS",
 "GET /__hits"]
--- more_headers eval
["", "X-Twilio-Signature: AAAAAAAAAAAAAAAAAAAAAAAAAAA=
Content-Type: application/x-www-form-urlencoded", "",
 "X-Twilio-Signature: " . signature_for(body => $::SMS) . "
Content-Type: application/x-www-form-urlencoded", ""]
--- error_code eval
[200, 403, 200, 200, 200]
--- response_body_like eval
[qr/^hits: 0$/, qr/403 Forbidden/, qr/^hits: 0$/, qr/^method: POST$/m,
 qr/^hits: 1$/]



=== TEST 5: no signature header
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => $::SMS, sig => undef)
--- error_code: 403
--- error_log
twilio_guard: rejected: no_signature, no X-Twilio-Signature header



=== TEST 6: the signature header sent twice
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => $::SMS, headers =>
    ["X-Twilio-Signature" => signature_for(body => $::SMS)])
--- error_code: 403
--- error_log
twilio_guard: rejected: signature_repeated



=== TEST 7a: malformed signature: too short
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => $::SMS, sig => "abc")
--- error_code: 403
--- error_log eval
qr/rejected: signature_malformed, X-Twilio-Signature is not a base64 HMAC-SHA1 \(3 bytes\)/
--- no_error_log
[alert]
[crit]



=== TEST 7b: malformed signature: base64url alphabet
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => $::SMS, sig => "GvWf1cFY-Q7PnoempGyD5oXAezc=")
--- error_code: 403
--- error_log eval
qr/rejected: signature_malformed, X-Twilio-Signature is not a base64 HMAC-SHA1 \(28 bytes\)/
--- no_error_log
[alert]
[crit]



=== TEST 7c: malformed signature: wrong padding
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => $::SMS, sig => "GvWf1cFY/Q7PnoempGyD5oXAe===")
--- error_code: 403
--- error_log eval
qr/rejected: signature_malformed, X-Twilio-Signature is not a base64 HMAC-SHA1 \(28 bytes\)/
--- no_error_log
[alert]
[crit]



=== TEST 7d: malformed signature: 4200 bytes, repeated value
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => $::SMS, sig => "GvWf1cFY/Q7PnoempGyD5oXAezc=" x 150)
--- error_code: 403
--- error_log eval
qr/rejected: signature_malformed, X-Twilio-Signature is not a base64 HMAC-SHA1 \(4200 bytes\)/
--- no_error_log
[alert]
[crit]



=== TEST 7e: malformed signature: empty
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => $::SMS, sig => "")
--- error_code: 403
--- error_log eval
qr/rejected: signature_malformed, X-Twilio-Signature is not a base64 HMAC-SHA1 \(0 bytes\)/
--- no_error_log
[alert]
[crit]



=== TEST 8: the default URL is $scheme://$http_host$request_uri, raw
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => $::SMS, target => "/sms/./x/../?a=%2b&b='+c",
               host => "Example.COM:8080",
               url => "http://Example.COM:8080/sms/./x/../?a=%2b&b='+c")
--- error_code: 200
--- response_body_like
^method: POST
uri: /sms/\./x/\.\./\?a=%2b&b='\+c
--- no_error_log
[error]



=== TEST 9: $host (lower-cased) or $uri (normalised) would not match
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => $::SMS, target => "/sms/./x/../?a=%2b",
               host => "Example.COM:8080",
               url => "http://example.com:8080/sms/?a=%2b")
--- error_code: 403
--- error_log eval
qr{bad_signature, signature does not match url "http://Example.COM:8080/sms/\./x/\.\./\?a=%2b"}



=== TEST 10a: the port toggle: signed without the port, requested with it (1/3)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url "https://$http_host$request_uri";
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => $::SMS, host => "example.com:443",
                url => "https://example.com/sms")
--- error_code: 200



=== TEST 10b: the port toggle: signed without the port, requested with it (2/3)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url "https://$http_host$request_uri";
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => $::SMS, host => "example.com",
                url => "https://example.com:443/sms")
--- error_code: 200



=== TEST 10c: the port toggle: signed without the port, requested with it (3/3)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url "https://$http_host$request_uri";
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => $::SMS, host => "example.com:444",
                url => "https://example.com:443/sms")
--- error_code: 403



=== TEST 11a: a GET webhook is signed over the URL alone (1/2)
--- config
    location /voice {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url "https://example.com$request_uri";
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(method => "GET", target => "/voice?From=%2B1&To=%2B2",
                url => "https://example.com/voice?From=%2B1&To=%2B2")
--- error_code: 200
--- response_body_like eval
qr{^method: GET\nuri: /voice\?From=%2B1&To=%2B2\nlength: 0\n}



=== TEST 11b: a GET webhook is signed over the URL alone (2/2)
--- config
    location /voice {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url "https://example.com$request_uri";
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(method => "GET", target => "/voice?From=%2B1&To=%2B3",
                url => "https://example.com/voice?From=%2B1&To=%2B2")
--- error_code: 403
--- response_body_like eval
qr/403 Forbidden/



=== TEST 12a: several tokens: any one of them validates (rotation) (1/3)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 11111111111111111111111111111111;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
        add_header X-Result $twilio_guard_result always;
    }
--- raw_request eval
signed_request(body => $::SMS)
--- error_code: 200
--- response_headers eval
"X-Result: ok"



=== TEST 12b: several tokens: any one of them validates (rotation) (2/3)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 11111111111111111111111111111111;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
        add_header X-Result $twilio_guard_result always;
    }
--- raw_request eval
signed_request(body => $::SMS, token => "11111111111111111111111111111111")
--- error_code: 200
--- response_headers eval
"X-Result: ok"



=== TEST 12c: several tokens: any one of them validates (rotation) (3/3)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 11111111111111111111111111111111;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
        add_header X-Result $twilio_guard_result always;
    }
--- raw_request eval
signed_request(body => $::SMS, token => "22222222222222222222222222222222")
--- error_code: 403
--- response_headers eval
"X-Result: bad_signature"



=== TEST 13: tokens from a file, comments and blank lines allowed
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t020-13-tokens;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => $::SMS)
--- error_code: 200
--- no_error_log
[error]



=== TEST 14a: settings are inherited, and "twilio_guard off" opens a location (1/3)
--- http_config
    twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
--- config
    twilio_guard on;
    twilio_guard_url https://example.com/sms;

    location /sms {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;

        location /sms/open {
            twilio_guard off;
            proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
        }
    }
--- raw_request eval
signed_request(body => $::SMS)
--- error_code: 200



=== TEST 14b: settings are inherited, and "twilio_guard off" opens a location (2/3)
--- http_config
    twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
--- config
    twilio_guard on;
    twilio_guard_url https://example.com/sms;

    location /sms {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;

        location /sms/open {
            twilio_guard off;
            proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
        }
    }
--- raw_request eval
signed_request(body => $::SMS, sig => undef)
--- error_code: 403



=== TEST 14c: settings are inherited, and "twilio_guard off" opens a location (3/3)
--- http_config
    twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
--- config
    twilio_guard on;
    twilio_guard_url https://example.com/sms;

    location /sms {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;

        location /sms/open {
            twilio_guard off;
            proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
        }
    }
--- raw_request eval
signed_request(body => $::SMS, sig => undef, target => "/sms/open")
--- error_code: 200



=== TEST 15: twilio_guard_reject_status
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_reject_status 401;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => $::SMS, sig => undef)
--- error_code: 401



=== TEST 16a: media type parameters and case do not matter (1/2)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => $::SMS, ct => "text/plain",
                sig => signature_for(body => $::SMS))
--- error_code: 403
--- error_log
twilio_guard: rejected: body_unsigned



=== TEST 16b: media type parameters and case do not matter (2/2)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => $::SMS,
                ct => "Application/X-WWW-Form-Urlencoded; charset=UTF-8")
--- error_code: 200



=== TEST 17: $twilio_guard_result in the access log
--- http_config
    log_format twilio '$request_uri $status $twilio_guard_result';
--- config
    access_log logs/twilio.log twilio;
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location = /log {
        root logs;
        try_files /twilio.log =404;
    }
--- request eval
["POST /sms\n$::SMS", "POST /sms?x\n$::SMS", "GET /log"]
--- more_headers eval
["X-Twilio-Signature: " . signature_for(body => $::SMS) . "
Content-Type: application/x-www-form-urlencoded",
"Content-Type: application/x-www-form-urlencoded", ""]
--- error_code eval
[200, 403, 200]
--- response_body_like eval
[qr/^method: POST/, qr/403 Forbidden/,
 qr{^/sms 200 ok\n/sms\?x 403 no_signature\n$}]
