# vim:set ft= ts=4 sw=4 et:
# twilio_guard_max_params: a form with more parameters than the cap is
# rejected (too_many_params) before anything is decoded or sorted, and
# never reaches the upstream; one at the cap passes.

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use Twilio::Sign;
use Twilio::Backend;
use Twilio::Request;

# N distinct parameters, in reverse order so that the sort has work to do
sub params {
    my ($n) = @_;
    return join '&', map { sprintf 'P%04d=%d', $_, $_ } reverse 1 .. $n;
}

our $AT_DEFAULT = params(512);
our $OVER_DEFAULT = params(513);

# 5 parameters with empty segments, which do not count; then 6
our $AT_FIVE = "&a=1&&b=2&c=3&a=1&d=4&";
our $OVER_FIVE = "a=1&b=2&c=3&a=1&d=4&e";

add_block_preprocessor(sub {
    my $block = shift;

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
    location /five {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_max_params 5;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT/sms;
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

=== TEST 1a: one parameter over the default cap of 512 (1/3)
--- raw_request eval
"GET /__reset HTTP/1.0\r\n\r\n"
--- response_body_like eval
qr/hits: 0/



=== TEST 1b: one parameter over the default cap of 512: rejected (2/3)
--- raw_request eval
signed_request(body => $::OVER_DEFAULT)
--- error_code: 403
--- error_log
twilio_guard: rejected: too_many_params, form body has more than twilio_guard_max_params 512 parameters



=== TEST 1c: ... and the upstream never saw it (3/3)
--- raw_request eval
"GET /__hits HTTP/1.0\r\n\r\n"
--- response_body
hits: 0



=== TEST 2: exactly 512 parameters, signed: forwarded intact
--- raw_request eval
signed_request(body => $::AT_DEFAULT)
--- error_code: 200
--- response_body_like eval
my $sha = Digest::SHA::sha256_hex($::AT_DEFAULT);
qr/^length: ${\ length $::AT_DEFAULT}\nsha256: $sha$/m
--- no_error_log
twilio_guard: rejected



=== TEST 3a: a cap of 5 (1/3)
--- raw_request eval
"GET /__reset HTTP/1.0\r\n\r\n"
--- response_body_like eval
qr/hits: 0/



=== TEST 3b: a cap of 5: six parameters (a repeated one counts twice) are rejected (2/3)
--- raw_request eval
signed_request(body => $::OVER_FIVE, target => '/five')
--- error_code: 403
--- error_log
twilio_guard: rejected: too_many_params, form body has more than twilio_guard_max_params 5 parameters



=== TEST 3c: ... and the upstream never saw it (3/3)
--- raw_request eval
"GET /__hits HTTP/1.0\r\n\r\n"
--- response_body
hits: 0



=== TEST 4: a cap of 5: five parameters and empty segments pass
--- raw_request eval
signed_request(body => $::AT_FIVE, target => '/five')
--- error_code: 200
--- response_body_like eval
qr/^method: POST$/m
--- no_error_log
twilio_guard: rejected



=== TEST 5: the rejection answers with twilio_guard_reject_status
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_max_params 5;
        twilio_guard_reject_status 404;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => $::OVER_FIVE)
--- error_code: 404
--- error_log
rejected: too_many_params



=== TEST 6: $twilio_guard_result says why
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_max_params 5;
        twilio_guard_dry_run on;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => $::OVER_FIVE)
--- error_code: 200
--- response_headers
X-Result: too_many_params
--- error_log
twilio_guard: dry run, would reject: too_many_params



=== TEST 7: a cap of 0 is refused by nginx -t
--- config
    location /sms {
        twilio_guard_max_params 0;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*value must be between 1 and 65535 in \S+nginx\.conf:\d+/



=== TEST 8: so is a word
--- config
    location /sms {
        twilio_guard_max_params many;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"twilio_guard_max_params" directive invalid number in \S+nginx\.conf:\d+/
