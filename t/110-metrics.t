# vim:set ft= ts=4 sw=4 et:
# twilio_guard_metrics: every verdict counted once, by location label,
# result and reason; key matches by token position and shared key id;
# the replay zone's gauges; the endpoint's methods and format.  Several
# workers, reloads, promtool and a real Prometheus scrape are in
# t/111-metrics-nginx.t.

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use Twilio::Sign;
use Twilio::Backend;
use Twilio::Request;

our $FORM = 'application/x-www-form-urlencoded';

sub sms { my $body = shift; "POST /sms\n$body" }
sub hdr {
    my ($body, @more) = @_;
    return join "\n", "Content-Type: $::FORM",
        "X-Twilio-Signature: " . signature_for(body => $body), @more;
}
sub bad { "Content-Type: $::FORM\nX-Twilio-Signature: "
          . signature_for(body => 'other') }
sub unsigned { "Content-Type: $::FORM" }

# a line of the exposition, as a pattern
sub m_req {
    my ($loc, $result, $reason, $n) = @_;
    return qr/^\Qnginx_twilio_guard_requests_total{location="$loc",result="$result",reason="$reason"} $n\E$/m;
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config",
                      "twilio_guard_https off;\n" . ($block->http_config // ''));
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: each request moves one counter by one; the others stay at 0
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 00000000000000000000000000000000;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location = /metrics {
        allow 127.0.0.1;
        deny all;
        twilio_guard_metrics;
    }
--- request eval
[::sms("a=1"), ::sms("a=1"), ::sms("a=2"), ::sms("a=3"), ::sms("a=4"),
 "GET /metrics"]
--- more_headers eval
[::unsigned(), ::unsigned(), ::bad(), ::hdr("a=3"), ::hdr("a=4"), ""]
--- error_code eval
[403, 403, 403, 200, 200, 200]
--- response_headers eval
["", "", "", "", "", "Content-Type: text/plain; version=0.0.4"]
--- response_body_like eval
["", "", "", "", "",
 qr/\A(?=.*${\ ::m_req('\/sms', 'rejected', 'no_signature', 2)})
      (?=.*${\ ::m_req('\/sms', 'rejected', 'bad_signature', 1)})
      (?=.*${\ ::m_req('\/sms', 'accepted', 'ok', 2)})
      (?=.*${\ ::m_req('\/sms', 'dry_run', 'bad_signature', 0)})
      (?=.*^\Qnginx_twilio_guard_key_matches_total{location="\/sms",token="1"} 0\E\n)
      (?=.*^\Qnginx_twilio_guard_key_matches_total{location="\/sms",token="2"} 2\E\n)
      (?=.*^\x23\ TYPE\ nginx_twilio_guard_requests_total\ counter\n)
      (?!(?:.*\}\ [1-9]){5})/msx]
--- no_error_log
[alert]



=== TEST 2: a dry run counts dry_run with the first reason; the label is escaped
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_dry_run on;
        twilio_guard_metrics_label 'we"ird\\label';
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location = /metrics {
        twilio_guard_metrics;
    }
--- request eval
[::sms("a=1"), ::sms("a=1"), "GET /metrics"]
--- more_headers eval
[::unsigned(), ::hdr("a=1"), ""]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
["", "",
 qr/\A(?=.*${\ ::m_req('we\"ird\\\\label', 'dry_run', 'no_signature', 1)})
      (?=.*${\ ::m_req('we\"ird\\\\label', 'accepted', 'ok', 1)})
      (?=.*${\ ::m_req('we\"ird\\\\label', 'rejected', 'no_signature', 0)})/msx]



=== TEST 3: replays and the zone's gauges
--- http_config
    twilio_guard_zone replays:1m;
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_metrics_label sms;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_replay zone=replays;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location = /metrics {
        twilio_guard_metrics;
    }
--- request eval
[::sms("a=1"), ::sms("a=1"), ::sms("a=1"), ::sms("a=2"), "GET /metrics"]
--- more_headers eval
[::hdr("a=1"), ::hdr("a=1"), ::hdr("a=1"), ::hdr("a=2"), ""]
--- error_code eval
[200, 409, 409, 200, 200]
--- response_body_like eval
["", "", "", "",
 qr/\A(?=.*${\ ::m_req('sms', 'rejected', 'replayed', 2)})
      (?=.*${\ ::m_req('sms', 'accepted', 'ok', 2)})
      (?=.*^\Qnginx_twilio_guard_key_matches_total{location="sms",token="1"} 4\E\n)
      (?=.*^\Qnginx_twilio_guard_zone_entries{zone="replays"} 2\E\n)
      (?=.*^\Qnginx_twilio_guard_zone_size_bytes{zone="replays"} 1048576\E\n)
      (?=.*^\Qnginx_twilio_guard_zone_evictions_total{zone="replays"} 0\E\n)
      (?=.*^\Qnginx_twilio_guard_zone_allocation_failures_total{zone="replays"} 0\E\n)/msx]



=== TEST 4: shared keys are counted by id, never by secret
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_shared_key KS0001 first-shared-secret-0123456789;
        twilio_guard_shared_key KS0002 second-shared-secret-012345678;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location = /metrics {
        twilio_guard_metrics;
    }
--- request eval
[::sms("a=1"), "GET /metrics"]
--- more_headers eval
["Content-Type: $::FORM\nX-Twilio-Webhooks-Signature-Settings: key=KS0002,algorithm=HMAC_SHA256\nX-Twilio-Signature: "
 . shared_key_signature("second-shared-secret-012345678",
                        "https://example.com/sms", "a=1", $::FORM), ""]
--- error_code eval
[200, 200]
--- response_body_like eval
["",
 qr/\A(?=.*^\Qnginx_twilio_guard_key_matches_total{location="\/sms",key="KS0001"} 0\E\n)
      (?=.*^\Qnginx_twilio_guard_key_matches_total{location="\/sms",key="KS0002"} 1\E\n)
      (?=.*${\ ::m_req('\/sms', 'accepted', 'ok', 1)})
      (?!.*secret)/msx]



=== TEST 5: only GET and HEAD
--- config
    location = /metrics {
        twilio_guard_metrics;
    }
--- request eval
["POST /metrics\nx", "PUT /metrics\nx", "DELETE /metrics", "HEAD /metrics",
 "GET /metrics"]
--- error_code eval
[405, 405, 405, 200, 200]
--- response_body_like eval
[qr/405/, qr/405/, qr/405/, qr/^$/,
 qr/^# HELP nginx_twilio_guard_requests_total /]



=== TEST 6: a label must be short
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_metrics_label aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*twilio_guard_metrics_label "a+" must have 1 to 128 bytes: a short name for the location, e\.g\. "sms" in \S+nginx\.conf:\d+/



=== TEST 7: twilio_guard_metrics takes no argument, and only in a location
--- config
    twilio_guard_metrics;
--- must_die
--- error_log eval
qr/\[emerg\] .*"twilio_guard_metrics" directive is not allowed here/



=== TEST 8: "twilio_guard on" of the server is not inherited by the metrics location
--- config
    twilio_guard on;
    twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
    twilio_guard_url https://example.com/sms;
    location /sms {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location = /metrics {
        twilio_guard_metrics;
    }
--- request eval
[::sms("a=1"), "GET /metrics"]
--- more_headers eval
[::unsigned(), ""]
--- error_code eval
[403, 200]
--- response_body_like eval
["", qr/\A(?=.*${\ ::m_req('\/sms', 'rejected', 'no_signature', 1)})
         (?!.*location="\/metrics")/msx]
