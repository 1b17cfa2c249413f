# vim:set ft= ts=4 sw=4 et:
# Configuration mistakes stop nginx at start (and "nginx -t") with the file,
# the line and what to fix.

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use Twilio::Secrets;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

# secret files: "--- user_files" cannot set the modes they need
my $T = '9f86d081884c7d659a2feaa0c55ad015';
my $D = $ENV{TEST_NGINX_SECRETS_DIR};

secret_file("t040-3-tokens", "$T\n", 0644);
secret_file("t040-5-tokens", <<'_EOF_', 0600);
# comment
9f86d081884c7d659a2feaa0c55ad015
AC123 0123456789abcdef0123456789abcdef
_EOF_
secret_file("t040-6-tokens", <<'_EOF_', 0600);
# nothing yet
_EOF_
secret_file("t040-11-tokens", "$T\n", 0620);
secret_file("t040-12-tokens", "$T\n", 0640);
secret_file("t040-13-tokens", "$T\n", 0600);
chown scalar(getpwnam('nobody')), 0, "$D/t040-13-tokens"
    or die "chown nobody: $!\n";
secret_file("t040-good-tokens", "$T\n", 0600);

# a directory others may write to, one that is sticky and root's (/tmp)
for my $dir (['t040-open', 0777], ['t040-sticky', 01777]) {
    my $path = "$D/$dir->[0]";
    mkdir $path;
    chmod $dir->[1], $path or die "chmod $path: $!\n";
    secret_file("$dir->[0]/tokens", "$T\n", 0600);
}

# symbolic links: one in a directory others may write to, one that leads
# through it, one that is fine
for my $link (['t040-open/link', "$D/t040-good-tokens"],
              ['t040-via-open', 't040-open/tokens'],
              ['t040-good-link', 't040-good-tokens'])
{
    unlink "$D/$link->[0]";
    symlink $link->[1], "$D/$link->[0]" or die "symlink: $!\n";
}

secret_file("t040-19-keys", <<'_EOF_', 0600);
K1 first-shared-secret-0123456789
K1 second-shared-secret-012345678
_EOF_
secret_file("t040-19b-keys", <<'_EOF_', 0600);
K1 first-shared-secret-0123456789 AC0123456789abcdef0123456789abcdef
K2 second-shared-secret-012345678 AC123
_EOF_
secret_file("t040-19c-keys", <<'_EOF_', 0600);
K1 first-shared-secret-0123456789 AC0123456789abcdef0123456789abcdef
K2 second-shared-secret-012345678
_EOF_
secret_file("t040-22-tokens", <<'_EOF_', 0600);
AC0123456789abcdef0123456789abcdef:9f86d081884c7d659a2feaa0c55ad015
_EOF_

# tokens a request may try: 2 unbound + 7 bound to one account is too many;
# 2 unbound + 6 bound to one account + 40 to others is fine
my @hex = map { sprintf('%032x', $_) } 1 .. 60;
my $AC = 'AC0123456789abcdef0123456789abcdef';
secret_file("t040-26-tokens",
            join('', map { "$_\n" } @hex[0, 1])
            . join('', map { "$AC $_\n" } @hex[2 .. 8]), 0600);
secret_file("t040-27-tokens",
            join('', map { "$_\n" } @hex[0, 1])
            . join('', map { "$AC $_\n" } @hex[2 .. 7])
            . join('', map { sprintf("AC%032x %s\n", $_, $hex[$_ + 8]) }
                       1 .. 40), 0600);
secret_file("t040-27b-tokens",
            join('', map { sprintf("AC%032x %s\n", $_, $hex[$_ + 8]) }
                     1 .. 40), 0600);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: twilio_guard on without any token fails closed
--- config
    location /sms {
        twilio_guard on;
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"twilio_guard on" in \S+nginx\.conf:\d+ has no key to check signatures with: add "twilio_guard_auth_token_file" or "twilio_guard_auth_token" \(the account's auth token\), or "twilio_guard_shared_key_file" or "twilio_guard_shared_key" \(shared keys of Webhook Rules\), where it applies/



=== TEST 2: ... also when "on" is inherited into a location with no token
--- config
    twilio_guard on;
    location /sms {
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
    }
--- must_die
--- error_log eval
qr/"twilio_guard on" in \S+nginx\.conf:\d+ has no key to check signatures with/



=== TEST 3: a token file readable by others is refused
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t040-3-tokens;
    }
--- must_die
--- error_log eval
qr/token file "\S+tokens" has mode 0644, so others may read or change it: secret files must be owned by root and readable by root only \(chown root:root FILE; chmod 600 FILE\), in directories that only root can write to in \S+nginx\.conf:\d+/



=== TEST 4: a missing token file
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token_file $TEST_NGINX_HTML_DIR/no-such-file;
    }
--- must_die
--- error_log eval
qr/lstat\(\) "\S+no-such-file" failed \(2: No such file or directory\) in \S+nginx\.conf:\d+/



=== TEST 5: a bad line in a token file is reported with its number
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t040-5-tokens;
    }
--- must_die
--- error_log eval
qr/invalid line 3 in token file "\S+tokens": the account SID must be "AC" and 32 hex digits in \S+nginx\.conf:\d+/



=== TEST 6: a token file with no token
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t040-6-tokens;
    }
--- must_die
--- error_log eval
qr/token file "\S+tokens" has no token: add one per line in \S+nginx\.conf:\d+/



=== TEST 7: a rejection status out of range
--- config
    location /sms {
        twilio_guard_reject_status 200;
    }
--- must_die
--- error_log eval
qr/invalid status "200" in "twilio_guard_reject_status": use a code from 400 to 599, e.g. 403 in \S+nginx\.conf:\d+/



=== TEST 8: a token that is too long
--- config eval
"location /sms { twilio_guard_auth_token " . ("a" x 257) . "; }"
--- must_die
--- error_log eval
qr/invalid token in "twilio_guard_auth_token": a token must be 1 to 256 printable ASCII characters in \S+nginx\.conf:\d+/



=== TEST 9: twilio_guard takes on or off
--- config
    location /sms {
        twilio_guard yes;
    }
--- must_die
--- error_log eval
qr/invalid value "yes" in "twilio_guard" directive, it must be "on" or "off" in \S+nginx\.conf:\d+/



=== TEST 10: twilio_guard_max_body takes a size
--- config
    location /sms {
        twilio_guard_max_body 10q;
    }
--- must_die
--- error_log eval
qr/"twilio_guard_max_body" directive invalid value in \S+nginx\.conf:\d+/



=== TEST 11: a group-writable token file is refused
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t040-11-tokens;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*token file "\S+t040-11-tokens" has mode 0620, so others may read or change it: secret files must be owned by root and readable by root only \(chown root:root FILE; chmod 600 FILE\)/



=== TEST 12: so is a group-readable one: one rule, 0600
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t040-12-tokens;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*token file "\S+t040-12-tokens" has mode 0640, so others may read or change it/



=== TEST 13: a token file owned by another user is refused
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t040-13-tokens;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*token file "\S+t040-13-tokens": "\S+t040-13-tokens" is owned by uid \d+, not root: secret files must be owned by root/



=== TEST 14: a token file in a directory others may write to is refused
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t040-open/tokens;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*token file "\S+t040-open\/tokens" is under "\S+t040-open" \(mode 0777\), where others could replace it: secret files must be owned by root and readable by root only \(chown root:root FILE; chmod 600 FILE\), in directories that only root can write to in \S+nginx\.conf:\d+/



=== TEST 15: a root-owned link to a good file, from a directory others may write to, is refused
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t040-open/link;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*token file "\S+t040-open\/link" is under "\S+t040-open" \(mode 0777\), where others could replace it/



=== TEST 16: a link from a good directory that leads through one others may write to is refused
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t040-via-open;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*token file "\S+t040-via-open" is under "\S+t040-open" \(mode 0777\), where others could replace it/



=== TEST 17: a root-owned sticky directory (like /tmp) and a link between good places are fine
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t040-sticky/tokens;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t040-good-link;
        return 200 "ok\n";
    }
    location /t { return 200 "started\n"; }
--- request
GET /t
--- response_body
started
--- no_error_log
[emerg]



=== TEST 18: a shared key file readable by others is refused with the same rule
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_shared_key_file $TEST_NGINX_SECRETS_DIR/t040-3-tokens;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*shared key file "\S+t040-3-tokens" has mode 0644, so others may read or change it: secret files must be owned by root and readable by root only/



=== TEST 19: a duplicate shared key id in a file: one message, with the file's line
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_shared_key_file $TEST_NGINX_SECRETS_DIR/t040-19-keys;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*line 2 of shared key file "\S+t040-19-keys": duplicate shared key id "K1": give each key its own id in \S+nginx\.conf:\d+/
--- no_error_log
out of memory



=== TEST 19b: a shared key file line with an account SID that is not one is refused
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_shared_key_file $TEST_NGINX_SECRETS_DIR/t040-19b-keys;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid line 2 in shared key file "\S+t040-19b-keys": the account SID must be "AC" and 32 hex digits in \S+nginx\.conf:\d+/



=== TEST 19c: ... and so is one in twilio_guard_shared_key
--- config
    location /sms {
        twilio_guard_shared_key K1 first-shared-secret-0123456789 AC0123;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid account SID "AC0123" in "twilio_guard_shared_key": the account SID must be "AC" and 32 hex digits in \S+nginx\.conf:\d+/



=== TEST 19d: a shared key bound to no account next to bound keys is refused, naming the key
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_shared_key_file $TEST_NGINX_SECRETS_DIR/t040-19c-keys;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*shared key "K2" from \S+nginx\.conf:\d+, which applies in \S+nginx\.conf:\d+ next to keys bound to accounts, is bound to no account: whoever holds it could sign a request claiming any account; bind it to its account \("KEY_ID SECRET ACCOUNT_SID"\)/



=== TEST 19e: ... also next to bound auth tokens
--- config
    location /bad {
        twilio_guard on;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t040-27-tokens;
        twilio_guard_shared_key K1 first-shared-secret-0123456789;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*shared key "K1" from \S+nginx\.conf:\d+, which applies in \S+nginx\.conf:\d+ next to keys bound to accounts, is bound to no account/



=== TEST 19f: bound shared keys next to bound and unbound tokens, and unbound shared keys alone, are accepted
--- config
    location /a {
        twilio_guard on;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t040-27-tokens;
        twilio_guard_shared_key K1 first-shared-secret-0123456789
                                AC0123456789abcdef0123456789abcdef;
        return 200;
    }
    location /b {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_shared_key K1 first-shared-secret-0123456789;
        return 200;
    }
    location /t { return 200 "started\n"; }
--- request
GET /t
--- response_body
started
--- no_error_log
[emerg]



=== TEST 20: twilio_guard_trusted_proxy 0.0.0.0/0 is refused like "all"
--- config
    location /sms {
        twilio_guard_trusted_proxy 0.0.0.0/0;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"twilio_guard_trusted_proxy 0.0.0.0\/0" trusts every IPv4 address, like "all": any client could claim HTTPS and choose the host that is signed; list the addresses of your proxies in \S+nginx\.conf:\d+/



=== TEST 21: ... and so is ::/0
--- config
    location /sms {
        twilio_guard_trusted_proxy ::/0;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"twilio_guard_trusted_proxy ::\/0" trusts every IPv6 address, like "all"/



=== TEST 21a: ... and so is ::ffff:0:0/96, matched as the IPv4 range it carries
--- config
    location /sms {
        twilio_guard_trusted_proxy ::ffff:0:0/96;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"twilio_guard_trusted_proxy ::ffff:0:0\/96" trusts every IPv4 address \(an IPv4-mapped range is matched as the IPv4 range it carries\), like "all"/



=== TEST 21b: ... and so are ranges that together hold every IPv4 address, mapped or not
--- config
    location /sms {
        twilio_guard_trusted_proxy 10.0.0.0/8;
        twilio_guard_trusted_proxy 0.0.0.0/1;
        twilio_guard_trusted_proxy 192.0.0.0/2;
        twilio_guard_trusted_proxy ::ffff:128.0.0.0/98;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"twilio_guard_trusted_proxy ::ffff:128.0.0.0\/98" and the "twilio_guard_trusted_proxy" ranges before it together trust every IPv4 address, like "all"/



=== TEST 21c: ... while ranges with a gap, and IPv4-mapped ranges shorter than 96 bits, are accepted
--- config
    location /sms {
        twilio_guard_trusted_proxy 0.0.0.0/1;
        twilio_guard_trusted_proxy 192.0.0.0/2;
        twilio_guard_trusted_proxy ::ffff:128.0.0.0/99;
        twilio_guard_trusted_proxy ::ffff:0:0/95;
        twilio_guard_trusted_proxy unix:;
        return 200 "started\n";
    }
--- request
GET /sms
--- response_body
started
--- no_error_log
[emerg]



=== TEST 22: "ACCOUNT_SID:TOKEN" in a token file is refused, without the token in the message
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t040-22-tokens;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*line 1 of token file "\S+t040-22-tokens": the token is "ACCOUNT_SID:TOKEN": separate the account SID and the token with a space in \S+nginx\.conf:\d+/
--- no_error_log
9f86d081884c7d659a2feaa0c55ad015



=== TEST 23: an account SID given as the token is refused
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token AC0123456789abcdef0123456789abcdef;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*the token is an account SID, not an auth token: use the auth token shown next to it in the Twilio Console in \S+nginx\.conf:\d+/



=== TEST 23b: ... and so is an API key SID
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token SK0123456789abcdef0123456789abcdef;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*the token is an API key SID: Twilio signs webhooks with the account's auth token, use that in \S+nginx\.conf:\d+/



=== TEST 24: a token that is not 32 lowercase hex digits is accepted with a warning
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 12345;
        twilio_guard_auth_token 9F86D081884C7D659A2FEAA0C55AD015;
        return 200;
    }
    location /t { return 200 "started\n"; }
--- request
GET /t
--- response_body
started
--- error_log eval
[qr/\[warn\] .*the token \(5 characters\) is not 32 lowercase hex digits like Twilio's auth tokens, so no request Twilio signs will match it: copy the auth token from the Twilio Console in \S+nginx\.conf:\d+/,
 qr/\[warn\] .*the token \(32 characters\) is not 32 lowercase hex digits/]
--- no_error_log
12345;



=== TEST 25: more than 8 unbound tokens are refused
--- config eval
"location /sms { twilio_guard on;\n"
. join('', map { sprintf("twilio_guard_auth_token %032x;\n", $_) } 1 .. 9)
. "}\n"
--- must_die
--- error_log eval
qr/\[emerg\] .*9 auth tokens bound to no account from \S+nginx\.conf:\d+ apply in \S+nginx\.conf:\d+: at most 8 may, as a request tries each of them; a rotation needs two, bind the others to their accounts/



=== TEST 26: ... and so are 2 unbound and 7 bound to one account
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t040-26-tokens;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*9 auth tokens from \S+nginx\.conf:\d+ apply to a request from AC0123456789abcdef0123456789abcdef in \S+nginx\.conf:\d+ \(2 bound to no account, 7 bound to it\): at most 8 may/



=== TEST 27: many tokens bound to different accounts are fine
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t040-27-tokens;
        return 200;
    }
    location /t { return 200 "started\n"; }
--- request
GET /t
--- response_body
started
--- no_error_log
[warn]



=== TEST 27b: ... but when all of them are bound, requests that name no account are refused: a warning says so
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t040-27b-tokens;
        return 200;
    }
    location /t { return 200 "started\n"; }
--- request
GET /t
--- response_body
started
--- error_log eval
qr/\[warn\] .*all 40 auth tokens from \S+nginx\.conf:\d+ that apply in \S+nginx\.conf:\d+ are bound to accounts: a request that names no account \(a JSON webhook or Event Streams without AccountSid in its URL\) could try them all, so it is rejected \(unknown_account\); add an unbound token for such webhooks/



=== TEST 28: twilio_guard_url without a scheme is refused
--- config
    location /sms {
        twilio_guard_url hooks.example.com$request_uri;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"twilio_guard_url" must be the whole URL Twilio calls, with its scheme: "hooks.example.com\$request_uri" starts with neither "https:\/\/" nor "http:\/\/", e.g. "https:\/\/hooks.example.com\$request_uri" in \S+nginx\.conf:\d+/



=== TEST 29: twilio_guard_url built from $uri or $host gets a warning naming the raw variable
--- config
    location /sms {
        twilio_guard_url https://$host${document_uri};
        return 200;
    }
    location /t { return 200 "started\n"; }
--- request
GET /t
--- response_body
started
--- error_log eval
[qr/\[warn\] .*"twilio_guard_url" uses \$host, which nginx lower-cases and strips of its port, while Twilio signs the URL exactly as it called it: use \$http_host \(the Host header as sent\) or the host itself in \S+nginx\.conf:\d+/,
 qr/\[warn\] .*"twilio_guard_url" uses \$document_uri, which nginx decodes and normalises, while Twilio signs the URL exactly as it called it: use \$request_uri/]



=== TEST 30: $scheme://$http_host$request_uri gets no warning
--- config
    location /sms {
        twilio_guard_url $scheme://$http_host$request_uri;
        return 200;
    }
    location /t { return 200 "started\n"; }
--- request
GET /t
--- response_body
started
--- no_error_log
[warn]



=== TEST 30a: ... nor does ${request_uri} at the end
--- config
    location /sms {
        twilio_guard_url https://hooks.example.com${request_uri};
        return 200;
    }
    location /t { return 200 "started\n"; }
--- request
GET /t
--- response_body
started
--- no_error_log
[warn]



=== TEST 30b: a twilio_guard_url that does not end with $request_uri gets a warning: path and query are not signed
--- config
    location /sms {
        twilio_guard_url https://hooks.example.com/sms;
        return 200;
    }
    location /status {
        twilio_guard_url https://hooks.example.com/status$is_args$args;
        return 200;
    }
    location /t { return 200 "started\n"; }
--- request
GET /t
--- response_body
started
--- error_log eval
[qr/\[warn\] .*"twilio_guard_url" "https:\/\/hooks\.example\.com\/sms" does not end with \$request_uri, so the path and query of a request are not signed: one signature captured here is valid for every path and query this location serves; end the URL with \$request_uri, e\.g\. "https:\/\/hooks\.example\.com\$request_uri" in \S+nginx\.conf:\d+/,
 qr/\[warn\] .*"twilio_guard_url" "https:\/\/hooks\.example\.com\/status\$is_args\$args" does not end with \$request_uri/]



=== TEST 30c: twilio_guard_allow rules with no twilio_guard_deny get a warning
--- config
    location /events {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_allow twilio_event_streams;
        twilio_guard_allow 10.0.0.0/8;
        return 200;
    }
    location /t { return 200 "started\n"; }
--- request
GET /t
--- response_body
started
--- error_log eval
qr/\[warn\] .*location "\/events" guarded in \S+nginx\.conf:\d+ has "twilio_guard_allow" rules and no "twilio_guard_deny": like nginx's "allow", they let every other address through too; add "twilio_guard_deny all;" after them/



=== TEST 30d: ... but not with one
--- config
    location /events {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_allow twilio_event_streams;
        twilio_guard_deny all;
        return 200;
    }
    location /t { return 200 "started\n"; }
--- request
GET /t
--- response_body
started
--- no_error_log
[warn]



=== TEST 31: twilio_guard_max_body larger than client_max_body_size gets a warning
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_max_body 2m;
        client_max_body_size 1m;
        return 200;
    }
    location /t { return 200 "started\n"; }
--- request
GET /t
--- response_body
started
--- error_log eval
qr/\[warn\] .*twilio_guard_max_body 2097152 is larger than client_max_body_size 1048576 in location "\/sms" guarded in \S+nginx\.conf:\d+: nginx answers 413 to a larger body before the guard sees it; raise client_max_body_size or lower twilio_guard_max_body/



=== TEST 32: "satisfy any" in a guarded location gets a warning
--- config
    location /sms {
        satisfy any;
        allow 10.0.0.0/8;
        deny all;
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        return 200;
    }
    location /t { return 200 "started\n"; }
--- request
GET /t
--- response_body
started
--- error_log eval
qr/\[warn\] .*"satisfy any" in location "\/sms" guarded in \S+nginx\.conf:\d+: "allow", "auth_basic" or "auth_request" there can let through a request the guard rejects; use "satisfy all" unless that is intended/
