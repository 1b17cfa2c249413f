# vim:set ft= ts=4 sw=4 et:
# Configuration mistakes stop nginx at start (and "nginx -t") with the file,
# the line and what to fix.

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use Twilio::Secrets;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

# secret files: "--- user_files" cannot set the modes they need
secret_file("t040-3-tokens", <<'_EOF_', 0644);
9f86d081884c7d659a2feaa0c55ad015
_EOF_
secret_file("t040-5-tokens", <<'_EOF_', 0600);
# comment
9f86d081884c7d659a2feaa0c55ad015
AC123 0123456789abcdef0123456789abcdef
_EOF_
secret_file("t040-6-tokens", <<'_EOF_', 0600);
# nothing yet
_EOF_

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
qr/\[emerg\] .*"twilio_guard on" without a token in \S+nginx\.conf:\d+: add "twilio_guard_auth_token" or "twilio_guard_auth_token_file"/



=== TEST 2: ... also when "on" is inherited into a location with no token
--- config
    twilio_guard on;
    location /sms {
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
    }
--- must_die
--- error_log eval
qr/"twilio_guard on" without a token in \S+nginx\.conf:\d+/



=== TEST 3: a token file readable by others is refused
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t040-3-tokens;
    }
--- must_die
--- error_log eval
qr/token file "\S+tokens" is accessible by others \(mode 0644\): make it readable only by its owner and nginx's group, e.g. "chmod 640" in \S+nginx\.conf:\d+/



=== TEST 4: a missing token file
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token_file $TEST_NGINX_HTML_DIR/no-such-file;
    }
--- must_die
--- error_log eval
qr/open\(\) "\S+no-such-file" failed \(2: No such file or directory\) in \S+nginx\.conf:\d+/



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
qr/token file "\S+tokens" has no token in \S+nginx\.conf:\d+/



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
