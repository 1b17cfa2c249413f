# vim:set ft= ts=4 sw=4 et:
# twilio_guard_metrics and the SMS pumping guard: a twilio_guard_number
# location has a record under its label, signed or not; each verdict
# moves one nginx_twilio_guard_number_requests_total line by one, and a
# limit's refusal one nginx_twilio_guard_limited_total line, labelled by
# the kind of key of the limit that refused (never the number, range,
# region or variable's value).  promtool: t/111-metrics-nginx.t.

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use Twilio::Backend;
use Twilio::Sign;
use Twilio::Request;

# a line of the exposition, as a pattern
sub m_num {
    my ($loc, $result, $reason, $n) = @_;
    return qr/^\Qnginx_twilio_guard_number_requests_total{location="$loc",result="$result",reason="$reason"} $n\E$/m;
}

# the five limited_total lines of a location: the counts of number,
# range, region, all, var
sub m_lim {
    my ($loc, @n) = @_;
    my @k = qw(number range region all var);
    return join '', map {
        "(?=.*^\Qnginx_twilio_guard_limited_total{location=\"$loc\",key=\"$k[$_]\"} $n[$_]\E\$)"
    } 0 .. 4;
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config",
                      "twilio_guard_https off;\n"
                      . "twilio_guard_zone sms:1m;\n"
                      . ($block->http_config // ''));
    $block->set_value("config", $block->config . <<'_EOC_');
    location = /metrics {
        allow 127.0.0.1;
        deny all;
        twilio_guard_metrics;
    }
_EOC_
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: missing, invalid, denied, accepted: each counted once, by reason
--- config
    location /otp {
        twilio_guard_number phone;
        twilio_guard_number_deny +1876;
        twilio_guard_metrics_label otp;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
["GET /otp", "GET /otp?code=1", "GET /otp?phone=abc",
 "GET /otp?phone=%2B18765550100", "GET /otp?phone=%2B18765550101",
 "GET /otp?phone=%2B18765550102", "GET /otp?phone=%2B14155550100",
 "GET /metrics"]
--- error_code eval
[400, 400, 400, 403, 403, 403, 200, 200]
--- response_body_like eval
["", "", "", "", "", "", "",
 qr/\A(?=.*${\ ::m_num('otp', 'rejected', 'number_missing', 2)})
      (?=.*${\ ::m_num('otp', 'rejected', 'number_invalid', 1)})
      (?=.*${\ ::m_num('otp', 'rejected', 'number_denied', 3)})
      (?=.*${\ ::m_num('otp', 'accepted', 'ok', 1)})
      (?=.*${\ ::m_num('otp', 'rejected', 'limited', 0)})
      (?=.*${\ ::m_num('otp', 'dry_run', 'number_denied', 0)})
      ${\ ::m_lim('otp', 0, 0, 0, 0, 0)}
      (?=.*^\x23\ TYPE\ nginx_twilio_guard_number_requests_total\ counter\n)
      (?=.*^\x23\ TYPE\ nginx_twilio_guard_limited_total\ counter\n)
      (?!.*nginx_twilio_guard_requests_total\{)
      (?!.*nginx_twilio_guard_key_matches_total\{)
      (?!.*\+1876)
      (?!(?:.*_total\{[^\n]*\}\ [1-9]){5})/msx]
--- no_error_log
[alert]



=== TEST 2: limited, by the kind of key of the limit line that refused
--- config
    location /n {
        twilio_guard_number phone;
        twilio_guard_limit zone=sms key=number 1/1h;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /r {
        twilio_guard_number phone;
        twilio_guard_limit zone=sms key=range:2 1/1h;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /g {
        twilio_guard_number phone;
        twilio_guard_limit zone=sms key=region 1/1h;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /a {
        twilio_guard_number phone;
        twilio_guard_limit zone=sms key=all 1/1h;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /v {
        twilio_guard_number phone;
        twilio_guard_limit zone=sms key=$arg_client 1/1h;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /two {
        twilio_guard_number phone;
        twilio_guard_limit zone=sms key=number 5/1h;
        twilio_guard_limit zone=sms key=region 2/1h;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
["GET /n?phone=%2B14155550100", "GET /n?phone=%2B14155550100",
 "GET /n?phone=%2B14155550100",
 "GET /r?phone=%2B14155550100", "GET /r?phone=%2B14155550199",
 "GET /g?phone=%2B14155550100", "GET /g?phone=%2B14155550150",
 "GET /a?phone=%2B14155550100", "GET /a?phone=%2B447700900123",
 "GET /v?client=c1&phone=%2B14155550100",
 "GET /v?client=c1&phone=%2B14155550101",
 "GET /v?client=c2&phone=%2B14155550102",
 "GET /two?phone=%2B18765550100", "GET /two?phone=%2B18765550101",
 "GET /two?phone=%2B18765550102", "GET /two?phone=%2B18765550103",
 "GET /metrics"]
--- error_code eval
[200, 429, 429, 200, 429, 200, 429, 200, 429, 200, 429, 200,
 200, 200, 429, 429, 200]
--- response_body_like eval
[("") x 16,
 qr/\A(?=.*${\ ::m_num('\/n', 'accepted', 'ok', 1)})
      (?=.*${\ ::m_num('\/n', 'rejected', 'limited', 2)})
      ${\ ::m_lim('\/n', 2, 0, 0, 0, 0)}
      (?=.*${\ ::m_num('\/r', 'rejected', 'limited', 1)})
      ${\ ::m_lim('\/r', 0, 1, 0, 0, 0)}
      (?=.*${\ ::m_num('\/g', 'rejected', 'limited', 1)})
      ${\ ::m_lim('\/g', 0, 0, 1, 0, 0)}
      (?=.*${\ ::m_num('\/a', 'rejected', 'limited', 1)})
      ${\ ::m_lim('\/a', 0, 0, 0, 1, 0)}
      (?=.*${\ ::m_num('\/v', 'accepted', 'ok', 2)})
      (?=.*${\ ::m_num('\/v', 'rejected', 'limited', 1)})
      ${\ ::m_lim('\/v', 0, 0, 0, 0, 1)}
      (?=.*${\ ::m_num('\/two', 'accepted', 'ok', 2)})
      (?=.*${\ ::m_num('\/two', 'rejected', 'limited', 2)})
      ${\ ::m_lim('\/two', 0, 0, 2, 0, 0)}
      (?!.*(?:c1|c2|US|\+1415|\+1876|141555501))/msx]
--- no_error_log
[alert]



=== TEST 3: dry run: counted as dry_run, and the limit that would refuse
--- config
    location /otp {
        twilio_guard_number phone;
        twilio_guard_number_dry_run on;
        twilio_guard_number_deny +1876;
        twilio_guard_limit zone=sms key=number 1/1h;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
["GET /otp", "GET /otp?phone=%2B18765550100",
 "GET /otp?phone=%2B14155550100", "GET /otp?phone=%2B14155550100",
 "GET /otp?phone=%2B14155550100", "GET /metrics"]
--- error_code eval
[200, 200, 200, 200, 200, 200]
--- response_body_like eval
[("") x 5,
 qr/\A(?=.*${\ ::m_num('\/otp', 'dry_run', 'number_missing', 1)})
      (?=.*${\ ::m_num('\/otp', 'dry_run', 'number_denied', 1)})
      (?=.*${\ ::m_num('\/otp', 'dry_run', 'limited', 2)})
      (?=.*${\ ::m_num('\/otp', 'accepted', 'ok', 1)})
      (?=.*${\ ::m_num('\/otp', 'rejected', 'limited', 0)})
      (?=.*${\ ::m_num('\/otp', 'rejected', 'number_missing', 0)})
      ${\ ::m_lim('\/otp', 2, 0, 0, 0, 0)}
      (?!(?:.*_total\{[^\n]*\}\ [1-9]){6})/msx]
--- no_error_log
[alert]



=== TEST 4: signed and number in one location: one record, both counted
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_number To;
        twilio_guard_number_deny JM;
        twilio_guard_metrics_label "sms \"in\"";
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
[signed_request(body => "To=%2B14155550100&Body=hi"),
 signed_request(body => "To=%2B18765550100&Body=hi"),
 "GET /metrics HTTP/1.0\r\n\r\n"]
--- error_code eval
[200, 403, 200]
--- response_body_like eval
["", "",
 qr/\A(?=.*^\Qnginx_twilio_guard_requests_total{location="sms \"in\"",result="accepted",reason="ok"} 2\E$)
      (?=.*${\ ::m_num('sms \"in\"', 'accepted', 'ok', 1)})
      (?=.*${\ ::m_num('sms \"in\"', 'rejected', 'number_denied', 1)})
      (?=.*^\Qnginx_twilio_guard_key_matches_total{location="sms \"in\"",token="1"} 2\E$)
      ${\ ::m_lim('sms \"in\"', 0, 0, 0, 0, 0)}
      (?!(?:.*_total\{[^\n]*\}\ [1-9]){5})/msx]
--- no_error_log
[alert]



=== TEST 5: a location without twilio_guard_number has no number lines
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /plain {
        twilio_guard_number off;
        return 204;
    }
--- request
GET /metrics
--- error_code: 200
--- response_body_like eval
qr/\A(?=.*^\Qnginx_twilio_guard_requests_total{location="\/sms",result="accepted",reason="ok"} 0\E$)
     (?=.*^\x23\ TYPE\ nginx_twilio_guard_limited_total\ counter\n)
     (?!.*nginx_twilio_guard_number_requests_total\{)
     (?!.*nginx_twilio_guard_limited_total\{)/msx
