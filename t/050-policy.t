# vim:set ft= ts=4 sw=4 et:
# The policy layer: HTTPS, trusted proxies with realip, IP rules, tokens
# bound to accounts, shared keys, dry run, and the variables.

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use Twilio::Secrets;
use Twilio::Sign;
use Twilio::Backend;
use Twilio::Request;
use Twilio::Cert;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

our $AC1 = 'AC0123456789abcdef0123456789abcdef';
our $AC2 = 'AC11111111111111111111111111111111';
our $AC3 = 'AC22222222222222222222222222222222';
our $TOK1 = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
our $TOK2 = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
our $TOK3 = 'cccccccccccccccccccccccccccccccc';

sub sms { my $sid = shift; "AccountSid=$sid&From=%2B14155550100&Body=Hi+there" }

# JSON webhooks at https://example.com/events$query, signed by bodySHA256
sub jurl { my ($body, $query) = @_; json_url("https://example.com/events$query", $body) }
sub jtarget { (my $t = jurl(@_)) =~ s{^https://example\.com}{}; $t }
sub jreq {
    my ($body, $query, $token) = @_;
    signed_request(target => jtarget($body, $query), url => jurl($body, $query),
                   body => $body, ct => "application/json", token => $token);
}

# Event Streams: an array of CloudEvents, the account inside "data"
our $ES_NONE = '[{"specversion":"1.0","type":"com.twilio.messaging.message.delivered",'
             . '"id":"EZ1","data":{"messageStatus":"DELIVERED"}}]';
sub events {
    my ($sid1, $sid2, $name) = @_;
    $name //= 'accountSid';
    '[' . join(',', map { qq({"specversion":"1.0","id":"EZ$_->[1]",)
                          . qq("data":{"$name":"$_->[0]","to":"+1"}}) }
                    [$sid1, 1], [$sid2, 2]) . "]\n";
}

# a signature under the shared key KS0002 of TEST 12
sub sk {
    shared_key_signature("second-shared-secret-012345678",
                         "https://example.com/sms", "a=1",
                         "application/x-www-form-urlencoded");
}

# secret files: "--- user_files" cannot set the modes they need
secret_file("t050-9-tokens", <<'_EOF_', 0600);
AC0123456789abcdef0123456789abcdef aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
AC11111111111111111111111111111111 bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
_EOF_
secret_file("t050-10-tokens", <<'_EOF_', 0600);
AC0123456789abcdef0123456789abcdef aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
# any other account, e.g. during a migration
cccccccccccccccccccccccccccccccc
_EOF_
secret_file("t050-11-tokens", <<'_EOF_', 0600);
AC0123456789abcdef0123456789abcdef aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
_EOF_
secret_file("t050-12-keys", <<'_EOF_', 0600);
# key id, secret
KS0001 first-shared-secret-0123456789
KS0002 second-shared-secret-012345678
_EOF_

no_shuffle();
run_tests();

__DATA__

=== TEST 1: HTTPS is required by default
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1")
--- error_code: 403
--- error_log
twilio_guard: rejected: not_https, request did not arrive over HTTPS (twilio_guard_https on), and has no X-Forwarded-Proto



=== TEST 2: ... and met by a real TLS connection
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_TLS_PORT ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/cert.pem;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/key.pem;

        location /sms {
            twilio_guard on;
            twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
            add_header X-Result $twilio_guard_result;
            proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
        }
    }
--- config
    location /sms {
        proxy_pass https://127.0.0.1:$TEST_NGINX_TLS_PORT;
        proxy_set_header Host example.com;
    }
--- raw_request eval
signed_request(body => "a=1", url => "https://example.com/sms")
--- error_code: 200
--- response_headers
X-Result: ok
--- response_body_like
^method: POST
--- no_error_log
[error]



=== TEST 3a: a trusted proxy's X-Forwarded-Proto/-Host make the URL (1/3)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_trusted_proxy 127.0.0.0/8;
        twilio_guard_forwarded_host on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", url => "https://hooks.example.com/sms",
                headers => ["X-Forwarded-Proto" => "https",
                            "X-Forwarded-Host" => "hooks.example.com"])
--- error_code: 200



=== TEST 3b: a trusted proxy's X-Forwarded-Proto/-Host make the URL (2/3)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_trusted_proxy 127.0.0.0/8;
        twilio_guard_forwarded_host on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", url => "https://hooks.example.com:8443/sms",
                headers => ["X-Forwarded-Proto" => "http, https",
                            "X-Forwarded-Host" => "hooks.example.com",
                            "X-Forwarded-Port" => "8443"])
--- error_code: 200



=== TEST 3c: a trusted proxy's X-Forwarded-Proto/-Host make the URL (3/3)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_trusted_proxy 127.0.0.0/8;
        twilio_guard_forwarded_host on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", url => "http://hooks.example.com/sms",
                headers => ["X-Forwarded-Proto" => "http",
                            "X-Forwarded-Host" => "hooks.example.com"])
--- error_code: 403
--- error_log
rejected: not_https, request did not arrive over HTTPS (twilio_guard_https on), and the trusted proxy 127.0.0.1 says "X-Forwarded-Proto: http"



=== TEST 4: forwarded headers from an untrusted peer are ignored
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_trusted_proxy 10.0.0.0/8;
        twilio_guard_forwarded_host on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", url => "https://hooks.example.com/sms",
               headers => ["X-Forwarded-Proto" => "https",
                           "X-Forwarded-Host" => "hooks.example.com"])
--- error_code: 403
--- error_log
twilio_guard: rejected: not_https, request did not arrive over HTTPS (twilio_guard_https on); its X-Forwarded-Proto is ignored because 127.0.0.1 is not a twilio_guard_trusted_proxy



=== TEST 5: with twilio_guard_https off, forwarded headers from an untrusted peer still do not change the URL
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_forwarded_host on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", url => "https://hooks.example.com/sms",
               headers => ["X-Forwarded-Proto" => "https",
                           "X-Forwarded-Host" => "hooks.example.com"])
--- error_code: 403
--- error_log
signature does not match url "http://localhost/sms"



=== TEST 6a: with realip, the client address is the real one, trust is the peer's (1/2)
--- config
    location /sms {
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;

        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_trusted_proxy 127.0.0.1;
        twilio_guard_forwarded_host on;
        twilio_guard_allow 35.90.102.128/25;
        twilio_guard_deny all;

        add_header X-Client $remote_addr always;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", url => "https://hooks.example.com/sms",
                headers => ["X-Forwarded-For" => "35.90.102.200",
                            "X-Forwarded-Proto" => "https",
                            "X-Forwarded-Host" => "hooks.example.com"])
--- error_code: 200
--- response_headers eval
"X-Client: 35.90.102.200\nX-Result: ok"



=== TEST 6b: with realip, the client address is the real one, trust is the peer's (2/2)
--- config
    location /sms {
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;

        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_trusted_proxy 127.0.0.1;
        twilio_guard_forwarded_host on;
        twilio_guard_allow 35.90.102.128/25;
        twilio_guard_deny all;

        add_header X-Client $remote_addr always;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", url => "https://hooks.example.com/sms",
                headers => ["X-Forwarded-For" => "203.0.113.7",
                            "X-Forwarded-Proto" => "https",
                            "X-Forwarded-Host" => "hooks.example.com"])
--- error_code: 403
--- response_headers eval
"X-Client: 203.0.113.7\nX-Result: ip_denied"
--- error_log
twilio_guard: rejected: ip_denied, address 203.0.113.7 is denied by the twilio_guard_allow/deny rules



=== TEST 7a: IPv6 rules, first match wins (1/4)
--- config
    location /sms {
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Real-IP;

        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_deny 2001:db8::dead/128;
        twilio_guard_allow 2001:db8::/32;
        twilio_guard_allow 192.0.2.0/24;
        twilio_guard_deny all;

        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", headers => ["X-Real-IP" => "2001:db8::5"])
--- error_code: 200



=== TEST 7b: IPv6 rules, first match wins (2/4)
--- config
    location /sms {
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Real-IP;

        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_deny 2001:db8::dead/128;
        twilio_guard_allow 2001:db8::/32;
        twilio_guard_allow 192.0.2.0/24;
        twilio_guard_deny all;

        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", headers => ["X-Real-IP" => "2001:db8::dead"])
--- error_code: 403



=== TEST 7c: IPv6 rules, first match wins (3/4)
--- config
    location /sms {
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Real-IP;

        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_deny 2001:db8::dead/128;
        twilio_guard_allow 2001:db8::/32;
        twilio_guard_allow 192.0.2.0/24;
        twilio_guard_deny all;

        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", headers => ["X-Real-IP" => "2001:db9::1"])
--- error_code: 403



=== TEST 7d: IPv6 rules, first match wins (4/4)
--- config
    location /sms {
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Real-IP;

        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_deny 2001:db8::dead/128;
        twilio_guard_allow 2001:db8::/32;
        twilio_guard_allow 192.0.2.0/24;
        twilio_guard_deny all;

        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", headers => ["X-Real-IP" => "192.0.2.9"])
--- error_code: 200



=== TEST 8: a denied address is rejected (before the body is read)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_deny 127.0.0.1;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1")
--- error_code: 403
--- error_log
twilio_guard: rejected: ip_denied



=== TEST 9a: tokens bound to accounts (1/5)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t050-9-tokens;
        twilio_guard_url https://example.com/sms;
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        add_header X-Token $twilio_guard_token always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => ::sms($::AC1), token => $::TOK1)
--- error_code: 200
--- response_headers eval
"X-Result: ok\nX-Account: $::AC1\nX-Token: 1"



=== TEST 9b: tokens bound to accounts (2/5)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t050-9-tokens;
        twilio_guard_url https://example.com/sms;
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        add_header X-Token $twilio_guard_token always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => ::sms($::AC2), token => $::TOK2)
--- error_code: 200
--- response_headers eval
"X-Result: ok\nX-Account: $::AC2\nX-Token: 2"



=== TEST 9c: tokens bound to accounts (3/5)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t050-9-tokens;
        twilio_guard_url https://example.com/sms;
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        add_header X-Token $twilio_guard_token always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => ::sms($::AC1), token => $::TOK2)
--- error_code: 403
--- response_headers eval
"X-Result: bad_signature\nX-Account: $::AC1\nX-Token: "



=== TEST 9d: tokens bound to accounts (4/5)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t050-9-tokens;
        twilio_guard_url https://example.com/sms;
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        add_header X-Token $twilio_guard_token always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => ::sms($::AC3), token => $::TOK1)
--- error_code: 403
--- response_headers eval
"X-Result: unknown_account\nX-Account: $::AC3"



=== TEST 9e: tokens bound to accounts (5/5): a request claiming no account is from the token's
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t050-9-tokens;
        twilio_guard_url https://example.com/sms;
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        add_header X-Token $twilio_guard_token always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "From=x", token => $::TOK1)
--- error_code: 200
--- response_headers eval
"X-Result: ok\nX-Account: $::AC1\nX-Token: 1"



=== TEST 9f: ... and signed by no token: bad_signature, no account
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t050-9-tokens;
        twilio_guard_url https://example.com/sms;
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        add_header X-Token $twilio_guard_token always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "From=x", token => $::TOK3)
--- error_code: 403
--- response_headers eval
"X-Result: bad_signature\nX-Account: \nX-Token: "



=== TEST 10a: bound and unbound tokens together; GET takes AccountSid from the query (1/4)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t050-10-tokens;
        twilio_guard_url "https://example.com$request_uri";
        add_header X-Token $twilio_guard_token always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => ::sms($::AC3), token => $::TOK3)
--- error_code: 200
--- response_headers eval
"X-Token: 2"



=== TEST 10b: bound and unbound tokens together; GET takes AccountSid from the query (2/4)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t050-10-tokens;
        twilio_guard_url "https://example.com$request_uri";
        add_header X-Token $twilio_guard_token always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => ::sms($::AC1), token => $::TOK1)
--- error_code: 200
--- response_headers eval
"X-Token: 1"



=== TEST 10c: bound and unbound tokens together; GET takes AccountSid from the query (3/4)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t050-10-tokens;
        twilio_guard_url "https://example.com$request_uri";
        add_header X-Token $twilio_guard_token always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(method => "GET", target => "/sms?AccountSid=$::AC1&x=1",
                url => "https://example.com/sms?AccountSid=$::AC1&x=1",
                token => $::TOK1)
--- error_code: 200
--- response_headers eval
"X-Token: 1"



=== TEST 10d: bound and unbound tokens together; GET takes AccountSid from the query (4/4)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t050-10-tokens;
        twilio_guard_url "https://example.com$request_uri";
        add_header X-Token $twilio_guard_token always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(method => "GET", target => "/sms?AccountSid=$::AC2&x=1",
                url => "https://example.com/sms?AccountSid=$::AC2&x=1",
                token => $::TOK1)
--- error_code: 403
--- response_headers eval
"X-Token: "



=== TEST 10e: the same AccountSid key twice is ambiguous, whatever the order
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t050-9-tokens;
        twilio_guard_url https://example.com/sms;
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "AccountSid=$::AC2&AccountSid=$::AC1&Body=hi",
               token => $::TOK1)
--- error_code: 403
--- response_headers eval
"X-Result: account_ambiguous\nX-Account: "
--- error_log
twilio_guard: rejected: account_ambiguous, the request names more than one AccountSid



=== TEST 10f: AccountSid in another letter case counts as a second one
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t050-9-tokens;
        twilio_guard_url https://example.com/sms;
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "accountsid=$::AC2&AccountSid=$::AC1&Body=hi",
               token => $::TOK1)
--- error_code: 403
--- response_headers eval
"X-Result: account_ambiguous\nX-Account: "



=== TEST 10g: AccountSid in the query and in the form body is ambiguous
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t050-9-tokens;
        twilio_guard_url "https://example.com$request_uri";
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(target => "/sms?AccountSid=$::AC2",
               url => "https://example.com/sms?AccountSid=$::AC2",
               body => ::sms($::AC1), token => $::TOK1)
--- error_code: 403
--- response_headers
X-Result: account_ambiguous



=== TEST 10h: a JSON body naming another account than the query
--- config
    location /events {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t050-9-tokens;
        twilio_guard_url "https://example.com$request_uri";
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
::jreq(qq({"AccountSid":"$::AC2","Body":"hi"}), "?AccountSid=$::AC1", $::TOK1)
--- error_code: 403
--- response_headers eval
"X-Result: account_ambiguous\nX-Account: "



=== TEST 10i: all tokens bound: an Event Streams body naming no account passes under its token
--- config
    location /events {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t050-9-tokens;
        twilio_guard_url "https://example.com$request_uri";
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        add_header X-Token $twilio_guard_token always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
::jreq($::ES_NONE, "", $::TOK2)
--- error_code: 200
--- response_headers eval
"X-Result: ok\nX-Account: $::AC2\nX-Token: 2"
--- response_body eval
backend_echo("POST", ::jtarget($::ES_NONE, ""), $::ES_NONE,
             "content-type" => "application/json",
             "x-twilio-signature" => signature_for(url => ::jurl($::ES_NONE, ""),
                 body => $::ES_NONE, ct => "application/json", token => $::TOK2))



=== TEST 10j: all tokens bound: Event Streams events naming their account (in "data") pass under its token
--- config
    location /events {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t050-9-tokens;
        twilio_guard_url "https://example.com$request_uri";
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        add_header X-Token $twilio_guard_token always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
::jreq(::events($::AC2, $::AC2), "", $::TOK2)
--- error_code: 200
--- response_headers eval
"X-Result: ok\nX-Account: $::AC2\nX-Token: 2"



=== TEST 10k: ... but not under another account's token
--- config
    location /events {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t050-9-tokens;
        twilio_guard_url "https://example.com$request_uri";
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
::jreq(::events($::AC2, $::AC2), "", $::TOK1)
--- error_code: 403
--- response_headers eval
"X-Result: bad_signature\nX-Account: $::AC2"



=== TEST 10l: events of two accounts in one body are ambiguous (escaped member name)
--- config
    location /events {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t050-9-tokens;
        twilio_guard_url "https://example.com$request_uri";
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
::jreq(::events($::AC1, $::AC2, "account\\u0053id"), "", $::TOK1)
--- error_code: 403
--- response_headers
X-Result: account_ambiguous



=== TEST 10m: with bound tokens, a bodySHA256 body that is not JSON is rejected
--- config
    location /events {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t050-9-tokens;
        twilio_guard_url "https://example.com$request_uri";
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
::jreq(qq({"accountSid":"$::AC1",}), "", $::TOK1)
--- error_code: 403
--- response_headers
X-Result: json_malformed
--- error_log
twilio_guard: rejected: json_malformed, the 52-byte body signed by bodySHA256 is not a form nor well-formed JSON



=== TEST 10n: plain tokens only: two AccountSid keys pass, but name no account
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        add_header X-Result $twilio_guard_result always;
        add_header X-Account "[$twilio_account_sid]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "accountsid=$::AC2&AccountSid=$::AC1&Body=hi")
--- error_code: 200
--- response_headers
X-Result: ok
X-Account: []



=== TEST 11a: tokens never reach the log, even at debug level (1/2)
--- log_level: debug
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t050-11-tokens;
        twilio_guard_shared_key K1 s3cr3tsh4r3dk3yv4lu3xxxxxxxxxxxx
                                AC0123456789abcdef0123456789abcdef;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => ::sms($::AC1), token => $::TOK1)
--- error_code: 200
--- error_log
twilio_guard: ok, url "https://example.com/sms"
--- no_error_log
9f86d081884c7d659a2feaa0c55ad015
aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
s3cr3tsh4r3dk3yv4lu3



=== TEST 11b: tokens never reach the log, even at debug level (2/2)
--- log_level: debug
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t050-11-tokens;
        twilio_guard_shared_key K1 s3cr3tsh4r3dk3yv4lu3xxxxxxxxxxxx
                                AC0123456789abcdef0123456789abcdef;
        twilio_guard_url https://example.com/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => ::sms($::AC1), token => $::TOK2)
--- error_code: 403
--- error_log
twilio_guard: rejected: bad_signature
--- no_error_log
9f86d081884c7d659a2feaa0c55ad015
aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
s3cr3tsh4r3dk3yv4lu3



=== TEST 12a: shared keys: the right key
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_shared_key_file $TEST_NGINX_SECRETS_DIR/t050-12-keys;
        twilio_guard_url https://example.com/sms;
        add_header X-Token $twilio_guard_token always;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", sig => ::sk(),
               headers => ["X-Twilio-Webhooks-Signature-Settings" => "key=KS0002,algorithm=HMAC_SHA256"])
--- error_code: 200
--- response_headers
X-Token: KS0002
X-Result: ok



=== TEST 12b: shared keys: another key id
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_shared_key_file $TEST_NGINX_SECRETS_DIR/t050-12-keys;
        twilio_guard_url https://example.com/sms;
        add_header X-Token $twilio_guard_token always;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", sig => ::sk(),
               headers => ["X-Twilio-Webhooks-Signature-Settings" => "key=KS0001,algorithm=HMAC_SHA256"])
--- error_code: 403
--- response_headers
X-Result: bad_signature



=== TEST 12c: shared keys: an unknown key id
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_shared_key_file $TEST_NGINX_SECRETS_DIR/t050-12-keys;
        twilio_guard_url https://example.com/sms;
        add_header X-Token $twilio_guard_token always;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", sig => ::sk(),
               headers => ["X-Twilio-Webhooks-Signature-Settings" => "key=KS0009,algorithm=HMAC_SHA256"])
--- error_code: 403
--- response_headers
X-Result: unknown_key



=== TEST 12d: shared keys: another algorithm
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_shared_key_file $TEST_NGINX_SECRETS_DIR/t050-12-keys;
        twilio_guard_url https://example.com/sms;
        add_header X-Token $twilio_guard_token always;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", sig => ::sk(),
               headers => ["X-Twilio-Webhooks-Signature-Settings" => "key=KS0002,algorithm=HMAC_SHA512"])
--- error_code: 403
--- response_headers
X-Result: unsupported_algorithm



=== TEST 12e: shared keys: a malformed settings header
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_shared_key_file $TEST_NGINX_SECRETS_DIR/t050-12-keys;
        twilio_guard_url https://example.com/sms;
        add_header X-Token $twilio_guard_token always;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", sig => ::sk(),
               headers => ["X-Twilio-Webhooks-Signature-Settings" => "KS0002"])
--- error_code: 403
--- response_headers
X-Result: signature_settings_malformed



=== TEST 12f: shared keys: an auth-token signature with the settings header
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_shared_key_file $TEST_NGINX_SECRETS_DIR/t050-12-keys;
        twilio_guard_url https://example.com/sms;
        add_header X-Token $twilio_guard_token always;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1",
               headers => ["X-Twilio-Webhooks-Signature-Settings" => "key=KS0002,algorithm=HMAC_SHA256"])
--- error_code: 403
--- response_headers
X-Result: signature_malformed



=== TEST 12g: shared keys: no settings header: the auth tokens apply
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_shared_key_file $TEST_NGINX_SECRETS_DIR/t050-12-keys;
        twilio_guard_url https://example.com/sms;
        add_header X-Token $twilio_guard_token always;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1")
--- error_code: 200
--- response_headers
X-Token: 1
X-Result: ok



=== TEST 13: dry run checks and logs, rejects nothing; one line (at error) per request
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_dry_run on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", token => "wrong")
--- error_code: 200
--- response_headers
X-Result: not_https
--- response_body_like
^method: POST
--- error_log eval
qr/\[error\] .*twilio_guard: dry run, would reject: not_https/
--- no_error_log
would reject: bad_signature
twilio_guard: rejected



=== TEST 14a: $twilio_param_NAME: decoded parameters of a request that passed (1/2)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        add_header X-From "[$twilio_param_From]" always;
        add_header X-Body "[$twilio_param_body]" always;
        add_header X-None "[$twilio_param_Nope]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => ::sms($::AC1))
--- error_code: 200
--- response_headers eval
"X-From: [+14155550100]\nX-Body: [Hi there]\nX-None: []"



=== TEST 14b: $twilio_param_NAME: decoded parameters of a request that passed (2/2)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        add_header X-From "[$twilio_param_From]" always;
        add_header X-Body "[$twilio_param_body]" always;
        add_header X-None "[$twilio_param_Nope]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => ::sms($::AC1), sig => undef)
--- error_code: 403
--- response_headers eval
"X-From: []\nX-Body: []"



=== TEST 14c: $twilio_param_NAME in proxy_set_header: a line break cannot add a header upstream
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        proxy_set_header X-Twilio-Body $twilio_param_body;
        proxy_set_header X-Echo-All 1;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "Body=hi%0AX-Admin%3A+true&From=%2B14155550100")
--- error_code: 200
--- response_body_like
(?ms)\A(?!.*^header: x-admin:).*^header: x-twilio-body: hi%0AX-Admin: true$



=== TEST 14d: $twilio_param_NAME in add_header: the response is not split
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        add_header X-Body $twilio_param_body always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "Body=hi%0D%0AX-Admin%3A+true&From=%2B14155550100")
--- error_code: 200
--- response_headers
X-Body: hi%0D%0AX-Admin: true
!X-Admin



=== TEST 14e: $twilio_param_NAME: control bytes, DEL and "%" are escaped, UTF-8 and "+" stay
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        add_header X-Body "[$twilio_param_body]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "Body=%00%09%1F%7F%25+100%25%2B%C3%A9%0")
--- error_code: 200
--- response_headers eval
"X-Body: [%00%09%1F%7F%25 100%25+\xc3\xa9%250]"



=== TEST 15: $twilio_param_NAME in limit_req_zone: per-sender rate limits
--- http_config
    limit_req_zone $twilio_param_From zone=sender:1m rate=1r/m;
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;

        # limit_req runs before the access phase: hand validated requests
        # to a location that limits them
        try_files /.validated @app;
    }
    location @app {
        limit_req zone=sender;
        add_header X-From $twilio_param_From always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
["POST /sms\nFrom=%2B1&Body=a", "POST /sms\nFrom=%2B1&Body=b",
 "POST /sms\nFrom=%2B2&Body=c", "POST /sms\nFrom=%2B3&Body=d"]
--- more_headers eval
[map { "Content-Type: application/x-www-form-urlencoded\n"
       . "X-Twilio-Signature: " . signature_for(body => $_) }
 "From=%2B1&Body=a", "From=%2B1&Body=b", "From=%2B2&Body=c", "From=x"]
--- error_code eval
[200, 503, 200, 403]
--- response_headers eval
["X-From: +1", "X-From: +1", "X-From: +2", "X-From: "]



=== TEST 16a: X-Forwarded-Proto: the last line counts, not the first
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_trusted_proxy 127.0.0.0/8;
        twilio_guard_forwarded_host on;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", url => "https://hooks.example.com/sms",
               headers => ["X-Forwarded-Proto" => "https",
                           "X-Forwarded-Host" => "hooks.example.com",
                           "X-Forwarded-Proto" => "http"])
--- error_code: 403
--- response_headers
X-Result: not_https
--- error_log
rejected: not_https, request did not arrive over HTTPS (twilio_guard_https on), and the trusted proxy 127.0.0.1 says "X-Forwarded-Proto: http"



=== TEST 16b: X-Forwarded-Proto: the last element counts, not the first
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_trusted_proxy 127.0.0.0/8;
        twilio_guard_forwarded_host on;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", url => "https://hooks.example.com/sms",
               headers => ["X-Forwarded-Proto" => "https, http",
                           "X-Forwarded-Host" => "hooks.example.com"])
--- error_code: 403
--- response_headers
X-Result: not_https



=== TEST 16c: X-Forwarded-Host: the last element counts
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_trusted_proxy 127.0.0.0/8;
        twilio_guard_forwarded_host on;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", url => "https://hooks.example.com/sms",
               headers => ["X-Forwarded-Proto" => "https",
                           "X-Forwarded-Host" => "evil.example.com",
                           "X-Forwarded-Host" => "other.example.com, hooks.example.com"])
--- error_code: 200
--- response_headers
X-Result: ok



=== TEST 16d: a malformed X-Forwarded-Host is rejected, never signed
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_trusted_proxy 127.0.0.0/8;
        twilio_guard_forwarded_host on;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", url => "https://hooks.example.com/x?/sms",
               headers => ["X-Forwarded-Proto" => "https",
                           "X-Forwarded-Host" => "hooks.example.com/x?"])
--- error_code: 403
--- response_headers
X-Result: forwarded_malformed
--- error_log
rejected: forwarded_malformed, X-Forwarded-Host "hooks.example.com/x?" from the trusted proxy 127.0.0.1 is not a host name or address with an optional port



=== TEST 16e: a malformed X-Forwarded-Port is rejected, never signed
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_trusted_proxy 127.0.0.0/8;
        twilio_guard_forwarded_host on;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", url => 'https://hooks.example.com:443@evil/sms',
               headers => ["X-Forwarded-Proto" => "https",
                           "X-Forwarded-Host" => "hooks.example.com",
                           "X-Forwarded-Port" => '443@evil'])
--- error_code: 403
--- response_headers
X-Result: forwarded_malformed
--- error_log
rejected: forwarded_malformed, X-Forwarded-Port "443@evil" from the trusted proxy 127.0.0.1 is not a port number



=== TEST 16f: X-Forwarded-Port 0 or over 65535 is malformed too
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_trusted_proxy 127.0.0.0/8;
        twilio_guard_forwarded_host on;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", url => "https://hooks.example.com:65536/sms",
               headers => ["X-Forwarded-Proto" => "https",
                           "X-Forwarded-Host" => "hooks.example.com",
                           "X-Forwarded-Port" => "65536"])
--- error_code: 403
--- response_headers
X-Result: forwarded_malformed



=== TEST 16g: an X-Forwarded-Proto other than http or https is malformed
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_trusted_proxy 127.0.0.0/8;
        twilio_guard_forwarded_host on;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", url => "https://hooks.example.com/sms",
               headers => ["X-Forwarded-Proto" => "https, ",
                           "X-Forwarded-Host" => "hooks.example.com"])
--- error_code: 403
--- response_headers
X-Result: forwarded_malformed
--- error_log
rejected: forwarded_malformed, X-Forwarded-Proto "" from the trusted proxy 127.0.0.1 is not "http" or "https"



=== TEST 16h: an IPv6 literal X-Forwarded-Host takes X-Forwarded-Port
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_trusted_proxy 127.0.0.0/8;
        twilio_guard_forwarded_host on;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", url => "https://[2001:db8::1]:8443/sms",
               headers => ["X-Forwarded-Proto" => "HTTPS",
                           "X-Forwarded-Host" => "[2001:db8::1]",
                           "X-Forwarded-Port" => "8443"])
--- error_code: 200
--- response_headers
X-Result: ok



=== TEST 16i: control bytes of a malformed X-Forwarded-Host are escaped in the log, a long one is cut
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_trusted_proxy 127.0.0.0/8;
        twilio_guard_forwarded_host on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1",
               headers => ["X-Forwarded-Proto" => "https",
                           "X-Forwarded-Host" => "a\x01\"b" . ("c" x 1000)])
--- error_code: 403
--- error_log eval
qr/forwarded_malformed, X-Forwarded-Host "a\\x01\\x22bc{200,256}\.\.\.\(cut, 1004 bytes\)" from the trusted proxy/



=== TEST 16j: forwarded headers the configuration does not use are not checked
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_trusted_proxy 127.0.0.0/8;
        twilio_guard_url https://example.com/sms;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1",
               headers => ["X-Forwarded-Proto" => "https",
                           "X-Forwarded-Host" => "not a host",
                           "X-Forwarded-Port" => "x"])
--- error_code: 200
--- response_headers
X-Result: ok



=== TEST 16k: X-Forwarded-Host counts only with twilio_guard_forwarded_host on (1/2)
Not every balancer overwrites it (AWS ALB passes a client's
X-Forwarded-Host): by default the Host header makes the URL, the trusted
proxy's X-Forwarded-Proto still its scheme.
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_trusted_proxy 127.0.0.0/8;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", url => "https://hooks.example.com/sms",
               headers => ["X-Forwarded-Proto" => "https",
                           "X-Forwarded-Host" => "hooks.example.com"])
--- error_code: 403
--- response_headers
X-Result: bad_signature



=== TEST 16l: ... (2/2) the Host header does, X-Forwarded-Port is ignored too
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_trusted_proxy 127.0.0.0/8;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", url => "https://localhost/sms",
               headers => ["X-Forwarded-Proto" => "https",
                           "X-Forwarded-Host" => "hooks.example.com",
                           "X-Forwarded-Port" => "8443"])
--- error_code: 200
--- response_headers
X-Result: ok



=== TEST 16m: the default URL's Host may have a port and upper case
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", host => "Hooks.Example.com:8080",
               url => "http://Hooks.Example.com:8080/sms")
--- error_code: 200
--- response_headers
X-Result: ok



=== TEST 16n: the default URL's Host may be an IP literal
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", host => "[2001:db8::1]:8080",
               url => "http://[2001:db8::1]:8080/sms")
--- error_code: 200
--- response_headers
X-Result: ok



=== TEST 16o: userinfo ("@") in the default URL's Host is host_malformed, even signed
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", host => "u\@h", url => "http://u\@h/sms")
--- error_code: 403
--- response_headers
X-Result: host_malformed



=== TEST 16p: a missing Host (HTTP/1.0) is host_malformed for the default URL
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
"POST /sms HTTP/1.0\r\nX-Twilio-Signature: "
    . twilio_signature("9f86d081884c7d659a2feaa0c55ad015", "http:///sms",
                       "a=1")
    . "\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    . "Content-Length: 3\r\n\r\na=1"
--- error_code: 403
--- response_headers
X-Result: host_malformed



=== TEST 17a: IPv4-mapped rules match IPv4 clients on a dual-stack listener (1/2)
--- http_config
    server {
        listen [::]:$TEST_NGINX_RAND_PORT_1 ipv6only=off;

        location /sms {
            twilio_guard on;
            twilio_guard_https off;
            twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
            twilio_guard_url https://example.com/sms;
            twilio_guard_deny ::ffff:127.0.0.1;
            add_header X-Client $remote_addr always;
            add_header X-Result $twilio_guard_result always;
            proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
        }
    }
--- config
    location /sms {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- raw_request eval
signed_request(body => "a=1")
--- error_code: 403
--- response_headers
X-Client: ::ffff:127.0.0.1
X-Result: ip_denied



=== TEST 17b: IPv4-mapped rules match IPv4 clients on a dual-stack listener (2/2)
--- http_config
    server {
        listen [::]:$TEST_NGINX_RAND_PORT_1 ipv6only=off;

        location /sms {
            twilio_guard on;
            twilio_guard_https off;
            twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
            twilio_guard_url https://example.com/sms;
            twilio_guard_allow ::ffff:10.0.0.0/104;
            twilio_guard_deny ::ffff:127.0.0.0/104;
            add_header X-Result $twilio_guard_result always;
            proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
        }
    }
--- config
    location /sms {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- raw_request eval
signed_request(body => "a=1")
--- error_code: 403
--- response_headers
X-Result: ip_denied



=== TEST 17c: ... and the same client on an IPv4 listener
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        twilio_guard_deny ::ffff:127.0.0.1;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1")
--- error_code: 403
--- response_headers
X-Result: ip_denied



=== TEST 17d: an IPv6 client does not match an IPv4-mapped rule
--- http_config
    server {
        listen [::]:$TEST_NGINX_RAND_PORT_1 ipv6only=off;

        location /sms {
            twilio_guard on;
            twilio_guard_https off;
            twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
            twilio_guard_url https://example.com/sms;
            twilio_guard_deny ::ffff:127.0.0.1;
            twilio_guard_deny 127.0.0.1;
            add_header X-Client $remote_addr always;
            add_header X-Result $twilio_guard_result always;
            proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
        }
    }
--- config
    location /sms {
        proxy_pass http://[::1]:$TEST_NGINX_RAND_PORT_1;
    }
--- raw_request eval
signed_request(body => "a=1")
--- error_code: 200
--- response_headers
X-Client: ::1
X-Result: ok



=== TEST 17e: an IPv4-mapped twilio_guard_trusted_proxy on a dual-stack listener
--- http_config
    server {
        listen [::]:$TEST_NGINX_RAND_PORT_1 ipv6only=off;

        location /sms {
            twilio_guard on;
            twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
            twilio_guard_trusted_proxy ::ffff:127.0.0.1;
            add_header X-Result $twilio_guard_result always;
            proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
        }
    }
--- config
    location /sms {
        proxy_set_header Host example.com;
        proxy_set_header X-Forwarded-Proto https;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- raw_request eval
signed_request(body => "a=1")
--- error_code: 200
--- response_headers
X-Result: ok



=== TEST 18a: an absolute-form target naming another virtual host is rejected, never forwarded
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name internal.example.com;

        location /sms {
            twilio_guard on;
            twilio_guard_https off;
            twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
            add_header X-Server internal always;
            add_header X-Result $twilio_guard_result always;
            proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
        }
    }
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        add_header X-Server localhost always;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /__ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
["GET /__reset",
 "POST http://internal.example.com/sms\na=1",
 "GET /__hits",
 "POST http://LocalHost/sms\na=1",
 "GET /__hits"]
--- more_headers eval
["",
 "Host: localhost\nContent-Type: application/x-www-form-urlencoded\n"
 . "X-Twilio-Signature: "
 . signature_for(body => "a=1", url => "http://localhost/sms"),
 "",
 "Host: localhost\nContent-Type: application/x-www-form-urlencoded\n"
 . "X-Twilio-Signature: "
 . signature_for(body => "a=1", url => "http://localhost/sms"),
 ""]
--- error_code eval
[200, 403, 200, 200, 200]
--- response_headers eval
["", "X-Server: internal\nX-Result: host_mismatch", "",
 "X-Server: localhost\nX-Result: ok", ""]
--- response_body_like eval
[qr/^hits: 0$/, qr/403 Forbidden/, qr/^hits: 0$/, qr/^uri: \/sms$/m,
 qr/^hits: 1$/]



=== TEST 18b: ... and the log says why
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name internal.example.com;

        location /sms {
            twilio_guard on;
            twilio_guard_https off;
            twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
            proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
        }
    }
--- config
    location /sms {
        return 200;
    }
--- raw_request eval
signed_request(body => "a=1", url => "http://localhost/sms",
               target => "http://internal.example.com/sms")
--- error_code: 403
--- error_log
rejected: host_mismatch, the request target names the host "internal.example.com", the Host header "localhost"



=== TEST 18c: an absolute-form target with a port: the port is part of the host compared (nginx 1.25 and later record no end for it)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
[signed_request(body => "a=1", url => "http://localhost:8443/sms",
                target => "http://localhost:8443/sms",
                host => "localhost:8443"),
 signed_request(body => "a=1", url => "http://localhost/sms",
                target => "http://localhost:8443/sms")]
--- error_code eval
[200, 403]
--- response_headers eval
["X-Result: ok", "X-Result: host_mismatch"]



=== TEST 19a: twilio_guard_log_level
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_log_level notice;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com$request_uri;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", sig => undef)
--- error_code: 403
--- error_log eval
qr/\[notice\] .*twilio_guard: rejected: not_https/
--- no_error_log
[error]
[warn]



=== TEST 19b: twilio_guard_log_level also sets the level of dry-run lines
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_dry_run on;
        twilio_guard_log_level info;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com$request_uri;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", sig => undef)
--- error_code: 200
--- error_log eval
qr/\[info\] .*twilio_guard: dry run, would reject: no_signature/
--- no_error_log
[error]
[warn]



=== TEST 19c: a long URL is cut in the log line
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(target => "/sms?" . ("x" x 3000), body => "a=1")
--- error_code: 403
--- error_log eval
qr/rejected: bad_signature, signature does not match url "http:\/\/localhost\/sms\?x{200,256}\.\.\.\(cut, 3021 bytes\)"/



=== TEST 20a: keys are one set: a location with only a shared key does not inherit the server's auth token
--- config
    twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_shared_key_file $TEST_NGINX_SECRETS_DIR/t050-12-keys;
        twilio_guard_url https://example.com/sms;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1")
--- error_code: 403
--- response_headers
X-Result: bad_signature
--- error_log
no auth token here, only shared-key signatures are accepted



=== TEST 20b: ... while its own shared key works
--- config
    twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_shared_key_file $TEST_NGINX_SECRETS_DIR/t050-12-keys;
        twilio_guard_url https://example.com/sms;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", sig => ::sk(),
               headers => ["X-Twilio-Webhooks-Signature-Settings" => "key=KS0002,algorithm=HMAC_SHA256"])
--- error_code: 200
--- response_headers
X-Result: ok



=== TEST 20c: keys are one set: a location with only an auth token does not inherit the server's shared keys
--- config
    twilio_guard_shared_key_file $TEST_NGINX_SECRETS_DIR/t050-12-keys;
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/sms;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", sig => ::sk(),
               headers => ["X-Twilio-Webhooks-Signature-Settings" => "key=KS0002,algorithm=HMAC_SHA256"])
--- error_code: 403
--- response_headers
X-Result: unknown_key



=== TEST 20d: ... and a location that sets no key inherits both: the auth token
--- config
    twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
    twilio_guard_shared_key_file $TEST_NGINX_SECRETS_DIR/t050-12-keys;
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_url https://example.com/sms;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1")
--- error_code: 200
--- response_headers
X-Result: ok



=== TEST 20e: ... and the shared keys
--- config
    twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
    twilio_guard_shared_key_file $TEST_NGINX_SECRETS_DIR/t050-12-keys;
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_url https://example.com/sms;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", sig => ::sk(),
               headers => ["X-Twilio-Webhooks-Signature-Settings" => "key=KS0002,algorithm=HMAC_SHA256"])
--- error_code: 200
--- response_headers
X-Result: ok
