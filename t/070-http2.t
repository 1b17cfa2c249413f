# vim:set ft= ts=4 sw=4 et:
# HTTP/2 over TLS (certificate made at test time): the body is read from
# HTTP/2 DATA frames, in memory or in a temporary file, and reaches the
# upstream intact; forged requests are rejected.

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket;
use Twilio::Sign;
use Twilio::Backend;
use Twilio::Request;
use Twilio::Cert;

our $SMS = 'From=%2B14155550100&To=%2B14155550199&Body=Hello+over+h2+%F0%9F%98%80';
# 500 parameters (under twilio_guard_max_params), about 9 KiB
our $BIG = join '&', map { sprintf 'P%04d=value+%d', $_, $_ } 0 .. 499;
our $JSON = qq({"EventType":"com.twilio.messaging.message.delivered","n":1});
our $JURL = json_url('https://example.com/events', $JSON);

# Test::Nginx 0.31 and 0.32 write "http2 on;" for "--- http2" blocks on
# every nginx >= 1.19.9, a directive nginx only has since 1.25.1: under
# those releases nginx cannot start here (Debian 12 has 1.22.1).
sub real_http2_directive_broken {
    my $util = $INC{'Test/Nginx/Util.pm'} or return 0;    # our runner is fine
    my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';
    my $n = `$bin -v 2>&1` =~ m{nginx/(\d+)\.(\d+)\.(\d+)}
            ? $1 * 1_000_000 + $2 * 1_000 + $3 : 0;
    return 0 unless $n >= 1_019_009 && $n < 1_025_001;
    open my $fh, '<', $util or return 0;
    my $src = do { local $/; <$fh> };
    return $src =~ /NginxVersion >= "1\.019009"/ ? 1 : 0;
}

if (real_http2_directive_broken()) {
    plan skip_all => 'this Test::Nginx writes "http2 on;", which this nginx '
                     . 'lacks: use our runner (util/tnx) or Test::Nginx 0.30';
} else {
    plan 'no_plan';
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http2", 1);
    $block->set_value("curl_protocol", "https");
    $block->set_value("curl_options", "-k");

    my $config = $block->config // '';
    $block->set_value("config", <<"_EOC_" . $config);
    listen 127.0.0.1:\$TEST_NGINX_SERVER_PORT ssl http2;
    ssl_certificate     \$TEST_NGINX_CERT_DIR/cert.pem;
    ssl_certificate_key \$TEST_NGINX_CERT_DIR/key.pem;

    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        add_header X-Result "\$twilio_guard_result \$server_protocol \$https" always;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_BACKEND_PORT;
    }
_EOC_
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a signed form POST over HTTP/2 and TLS
--- request eval
"POST /sms\n$::SMS"
--- more_headers eval
"Content-Type: application/x-www-form-urlencoded
X-Twilio-Signature: " . signature_for(body => $::SMS)
--- error_code: 200
--- response_headers
X-Result: ok HTTP/2.0 on
--- response_body eval
backend_echo("POST", "/sms", $::SMS,
    "content-type" => "application/x-www-form-urlencoded",
    "x-twilio-signature" => signature_for(body => $::SMS))
--- no_error_log
[error]



=== TEST 2: a forged one is rejected
--- request eval
"POST /sms\n$::SMS"
--- more_headers eval
"Content-Type: application/x-www-form-urlencoded
X-Twilio-Signature: " . signature_for(body => "$::SMS&x=1")
--- error_code: 403
--- response_headers
X-Result: bad_signature HTTP/2.0 on
--- error_log
twilio_guard: rejected: bad_signature



=== TEST 3: a body over HTTP/2 buffered to a temporary file
--- config
    client_body_buffer_size 1k;
--- request eval
"POST /sms\n$::BIG"
--- more_headers eval
"Content-Type: application/x-www-form-urlencoded
X-Twilio-Signature: " . signature_for(body => $::BIG)
--- error_code: 200
--- response_body_like eval
my $sha = Digest::SHA::sha256_hex($::BIG);
qr/^length: ${\ length $::BIG}\nsha256: $sha$/m
--- error_log
a client request body is buffered to a temporary file
--- no_error_log
twilio_guard: rejected



=== TEST 4: a JSON body with bodySHA256 over HTTP/2
--- config
    location /events {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url "https://example.com$request_uri";
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
(my $t = $::JURL) =~ s{^https://example\.com}{};
"POST $t\n$::JSON"
--- more_headers eval
"Content-Type: application/json
X-Twilio-Signature: " . signature_for(url => $::JURL, body => $::JSON,
                                      ct => "application/json")
--- error_code: 200
--- response_body_like eval
my $sha = Digest::SHA::sha256_hex($::JSON);
qr/^sha256: $sha$/m



=== TEST 5: over HTTP/2, a changed JSON body fails its hash
--- config
    location /events {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url "https://example.com$request_uri";
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
(my $t = $::JURL) =~ s{^https://example\.com}{};
(my $body = $::JSON) =~ s/"n":1/"n":2/;
"POST $t\n$body"
--- more_headers eval
"Content-Type: application/json
X-Twilio-Signature: " . signature_for(url => $::JURL, body => $::JSON,
                                      ct => "application/json")
--- error_code: 403
--- error_log
twilio_guard: rejected: body_hash_mismatch
