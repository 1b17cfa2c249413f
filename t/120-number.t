# vim:set ft= ts=4 sw=4 et:
# The SMS pumping guard's number: found once in the query, a form or a
# JSON body (memory, temporary file, chunked), normalised to E.164, its
# region; missing, ambiguous and invalid numbers; allow and deny rules;
# masked log lines; dry run; configuration errors.  Limits:
# t/121-number-limits.t.

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use Twilio::Backend;
use Twilio::Sign;
use Twilio::Request;

# a form of about 12 KiB with the number at its end
our $BIG = join('&', map { "pad$_=" . ('x' x 40) } 1 .. 300)
         . '&phone=%2B14155550100';

sub chunked {
    my ($body, $size) = @_;
    my $out = '';
    for (my $i = 0; $i < length $body; $i += $size) {
        my $c = substr $body, $i, $size;
        $out .= sprintf("%x\r\n", length $c) . "$c\r\n";
    }
    return "${out}0\r\n\r\n";
}

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->config) {
        $block->set_value("config", <<'_EOC_');
    location /otp {
        twilio_guard_number phone;
        add_header X-Number $twilio_guard_number always;
        add_header X-CC $twilio_guard_number_cc always;
        add_header X-Region $twilio_guard_number_region always;
        add_header X-Result $twilio_guard_number_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
_EOC_
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the number in the query
--- request
GET /otp?phone=%2B1+(415)+555-0100
--- error_code: 200
--- response_headers
X-Number: +14155550100
X-CC: 1
X-Region: US
X-Result: ok
--- no_error_log
twilio_guard: number



=== TEST 2: the number in a form body; the upstream gets the body as sent
--- request
POST /otp
phone=00447700900123&code=1
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 200
--- response_headers
X-Number: +447700900123
X-Region: GB
X-Result: ok
--- response_body eval
backend_echo("POST", "/otp", "phone=00447700900123&code=1",
    "content-type" => "application/x-www-form-urlencoded")



=== TEST 3: JSON, \u escapes decoded, nested members ignored
--- request eval
qq(POST /otp\n{"user":{"phone":"+15555550100"},"ph\\u006fne":"\\u002B1 876 555 0100","n":[1,2.5e3,null]})
--- more_headers
Content-Type: application/json; charset=utf-8
--- error_code: 200
--- response_headers
X-Number: +18765550100
X-Region: JM
X-Result: ok



=== TEST 3a: a "+json" type, in capitals, read as JSON
--- request eval
qq(POST /otp\n{"phone":"+447700900123"})
--- more_headers
Content-Type: Application/VND.API+JSON; charset=utf-8
--- error_code: 200
--- response_headers
X-Number: +447700900123
X-Result: ok



=== TEST 3b: a form type in capitals read as a form
--- request
POST /otp
phone=%2B447700900123
--- more_headers
Content-Type: APPLICATION/X-WWW-FORM-URLENCODED
--- error_code: 200
--- response_headers
X-Number: +447700900123
X-Result: ok



=== TEST 3c: "application/jsonx" is not JSON
--- request eval
qq(POST /otp?phone=%2B14155550100\n{"a":1})
--- more_headers
Content-Type: application/jsonx
--- error_code: 400
--- response_headers
X-Result: number_ambiguous



=== TEST 3d: "text/json" is not JSON
--- request eval
qq(POST /otp?phone=%2B14155550100\n{"a":1})
--- more_headers
Content-Type: text/json
--- error_code: 400
--- response_headers
X-Result: number_ambiguous



=== TEST 4: a body in a temporary file
--- config
    client_body_buffer_size 1k;
    location /otp {
        twilio_guard_number phone;
        add_header X-Number $twilio_guard_number always;
        add_header X-Result $twilio_guard_number_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
"POST /otp\n$::BIG"
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 200
--- response_headers
X-Number: +14155550100
X-Result: ok
--- response_body eval
backend_echo("POST", "/otp", $::BIG,
    "content-type" => "application/x-www-form-urlencoded")
--- error_log
a client request body is buffered to a temporary file



=== TEST 5: a chunked JSON body
--- raw_request eval
"POST /otp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
. "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
. ::chunked('{"phone": "+44 7624 123456", "code": "123456"}', 7)
--- error_code: 200
--- response_headers
X-Number: +447624123456
X-Region: IM
X-Result: ok



=== TEST 6: missing
--- request
POST /otp
code=1
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 400
--- response_headers
X-Result: number_missing
--- error_log
twilio_guard: number: rejected: number_missing, number -, no "phone" in the query or the body



=== TEST 7: the same name twice in a form
--- request
POST /otp
phone=%2B14155550100&phone=%2B14155550101
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 400
--- response_headers
X-Result: number_ambiguous
--- error_log
"phone" is there 2 times



=== TEST 8: in the query and in the body
--- request
POST /otp?phone=%2B14155550100
phone=%2B14155550100
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 400
--- response_headers
X-Result: number_ambiguous



=== TEST 9: twice in a JSON object, once spelt with an escape
--- request
POST /otp
{"phone":"+14155550100","p\u0068one":"+18765550100"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_headers
X-Result: number_ambiguous



=== TEST 10: a body of another type is not read: ambiguous
--- request
POST /otp?phone=%2B14155550100
--boundary--
--- more_headers
Content-Type: multipart/form-data; boundary=boundary
--- error_code: 400
--- response_headers
X-Result: number_ambiguous
--- error_log
a body that is neither a form nor JSON is not searched for "phone"



=== TEST 11: invalid: letters, an unassigned code, a national number
--- request eval
["GET /otp?phone=%2B1+415+CALL+NOW", "GET /otp?phone=%2B999123456789",
 "GET /otp?phone=4155550100", "GET /otp?phone=%2B1+211+555+0100"]
--- error_code eval
[400, 400, 400, 400]



=== TEST 11b: the log line of an invalid number shows none of it
--- request
GET /otp?phone=%2B1+415+CALL+NOW
--- error_code: 400
--- error_log
rejected: number_invalid, number -, "phone" is not a phone number in service (E.164, libphonenumber



=== TEST 12: invalid: malformed JSON, a number that is not a string
--- request eval
["POST /otp\n{\"phone\":\"+14155550100\",}", "POST /otp\n{\"phone\":14155550100}"]
--- more_headers
Content-Type: application/json
--- error_code eval
[400, 400]



=== TEST 12b: the log line of malformed JSON
--- request
POST /otp
{"phone":"+14155550100",}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- error_log
the JSON body is not one valid object (RFC 8259)



=== TEST 13: default_country: national numbers, the trunk prefix dropped
--- config
    location /otp {
        twilio_guard_number To default_country=GB;
        add_header X-Number $twilio_guard_number always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request
GET /otp?To=07700+900123
--- error_code: 200
--- response_headers
X-Number: +447700900123



=== TEST 14: deny by prefix, region and regex, first match wins; masked log
--- config
    location /otp {
        twilio_guard_number phone;
        twilio_guard_number_allow +18765550199;
        twilio_guard_number_deny +1876;
        twilio_guard_number_deny ~^\+88[0-9];
        twilio_guard_number_allow US;
        twilio_guard_number_allow CA;
        twilio_guard_number_deny all;
        add_header X-Result $twilio_guard_number_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
["GET /otp?phone=%2B18765550100", "GET /otp?phone=%2B18765550199",
 "GET /otp?phone=%2B14155550100", "GET /otp?phone=%2B14165550100",
 "GET /otp?phone=%2B447700900123", "GET /otp?phone=%2B8801712345678"]
--- error_code eval
[403, 200, 200, 200, 403, 403]
--- no_error_log
+18765550100
+8801712345678



=== TEST 14b: the log line of a denied number: masked
--- config
    location /otp {
        twilio_guard_number phone;
        twilio_guard_number_deny +1876;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request
GET /otp?phone=%2B18765550100
--- error_code: 403
--- error_log
rejected: number_denied, number +1876555****, region JM, denied by rule 1 ("+1876")
--- no_error_log
+18765550100



=== TEST 15: twilio_guard_number_log full
--- config
    location /otp {
        twilio_guard_number phone;
        twilio_guard_number_deny JM;
        twilio_guard_number_log full;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request
GET /otp?phone=%2B18765550100
--- error_code: 403
--- error_log
rejected: number_denied, number +18765550100, region JM



=== TEST 16: dry run: logged, let through
--- config
    location /otp {
        twilio_guard_number phone;
        twilio_guard_number_dry_run on;
        twilio_guard_number_deny all;
        add_header X-Result $twilio_guard_number_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request
GET /otp?phone=%2B18765550100
--- error_code: 200
--- response_headers
X-Result: number_denied
--- error_log
twilio_guard: number: dry run, would reject: number_denied, number +1876555****
--- no_error_log
rejected



=== TEST 17: rules without a number fail nginx -t
--- config
    location /otp {
        twilio_guard_number_deny all;
    }
--- must_die
--- error_log
twilio_guard_number_allow, _deny and twilio_guard_limit need a number



=== TEST 18: an unknown region
--- config
    location /otp {
        twilio_guard_number phone default_country=UK;
    }
--- must_die
--- error_log
unknown region in "default_country=UK"



=== TEST 19: a region whose national numbers are not parsed
--- config
    location /otp {
        twilio_guard_number phone default_country=BY;
    }
--- must_die
--- error_log
national numbers of BY take local dialling



=== TEST 20: a limit without a zone
--- config
    location /otp {
        twilio_guard_number phone;
        twilio_guard_limit key=number 3/10m;
    }
--- must_die
--- error_log
"twilio_guard_limit" needs zone=NAME



=== TEST 20a: a name with "[" (an array or nested field) fails nginx -t
--- config
    location /otp {
        twilio_guard_number user[phone];
    }
--- must_die
--- error_log
invalid parameter name "user[phone]": a name with "[" is an array or a nested field



=== TEST 21: a zone never declared
--- config
    location /otp {
        twilio_guard_number phone;
        twilio_guard_limit zone=nope key=number 3/10m;
    }
--- must_die
--- error_log
unknown zone "nope" in "twilio_guard_limit"



=== TEST 22: a bad window
--- http_config
    twilio_guard_zone sms:1m;
--- config
    location /otp {
        twilio_guard_number phone;
        twilio_guard_limit zone=sms key=number 3/often;
    }
--- must_die
--- error_log
invalid window "3/often": write COUNT/PERIOD



=== TEST 23: a body over 64 KiB is not searched
--- config
    location /otp {
        client_max_body_size 1m;
        twilio_guard_number phone;
        add_header X-Result $twilio_guard_number_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
"POST /otp\nphone=%2B14155550100&pad=" . ('x' x 70000)
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 413
--- response_headers
X-Result: body_too_large



=== TEST 24: with twilio_guard in the same location: both pass
--- http_config
    twilio_guard_https off;
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_number To;
        twilio_guard_number_deny JM;
        add_header X-Result $twilio_guard_result always;
        add_header X-Number-Result $twilio_guard_number_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "To=%2B14155550100&Body=hi")
--- error_code: 200
--- response_headers
X-Result: ok
X-Number-Result: ok



=== TEST 25: a genuine webhook for a denied number
--- http_config
    twilio_guard_https off;
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_number To;
        twilio_guard_number_deny JM;
        add_header X-Result $twilio_guard_result always;
        add_header X-Number-Result $twilio_guard_number_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "To=%2B18765550100&Body=hi")
--- error_code: 403
--- response_headers
X-Result: ok
X-Number-Result: number_denied



=== TEST 26: a forged webhook is refused by the signature check first
--- http_config
    twilio_guard_https off;
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_number To;
        twilio_guard_number_deny JM;
        add_header X-Result $twilio_guard_result always;
        add_header X-Number-Result $twilio_guard_number_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "To=%2B18765550100&Body=hi",
               sig => "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
--- error_code: 403
--- response_headers
X-Result: bad_signature
!X-Number-Result
--- no_error_log
twilio_guard: number
