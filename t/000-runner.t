# vim:set ft= ts=4 sw=4 et:
# Self-test of the test runner: only stock nginx features are used, so this
# file checks the Test::Nginx::Socket implementation in use (the bundled
# shim in util/tnx, or the real CPAN one) rather than ngx_twilio_guard.

use Test::Nginx::Socket;
use File::Temp ();
use List::Util ();

# A throw-away self-signed certificate for the TLS + HTTP/2 block.  The
# section values refer to it as $TEST_NGINX_CERT_DIR, which both runners
# substitute from %ENV.
our $CertDir = File::Temp::tempdir('tnx-cert-XXXXXX', TMPDIR => 1, CLEANUP => 1);
our $HaveCert = system("openssl req -x509 -nodes -days 2 -newkey ec"
                       . " -pkeyopt ec_paramgen_curve:prime256v1 -subj /CN=localhost"
                       . " -keyout '$CertDir/key.pem' -out '$CertDir/cert.pem'"
                       . " > /dev/null 2>&1") == 0 ? 1 : 0;
$ENV{TEST_NGINX_CERT_DIR} = $CertDir;
$ENV{TNX_HAVE_CERT} = $HaveCert;

# Test::Nginx 0.31 and 0.32 write "http2 on;" for every nginx >= 1.19.9 but
# nginx only has that directive since 1.25.1, so nginx cannot start for an
# "--- http2" block with those releases on e.g. Debian 12's nginx 1.22.1.
# Used by skip_eval below (evaluated after run_tests() learnt the version).
sub real_http2_directive_broken {
    my $util = $INC{'Test/Nginx/Util.pm'} or return 0;    # the shim is fine
    no warnings 'once';
    my $v = $Test::Nginx::Util::NginxVersion or return 0;
    return 0 unless $v >= 1.019009 && $v < 1.025001;
    open my $fh, '<', $util or return 0;
    my $src = do { local $/; <$fh> };
    return $src =~ /NginxVersion >= "1\.019009"/ ? 1 : 0;
}

repeat_each(2);

# Tests per block and repetition, in block order (blocks without error_log
# or no_error_log get two no_error_log patterns from the preprocessor
# below); the "+ 1" is TEST 26's shutdown_error_log pattern, checked once
# per block rather than per repetition.
our @PerRound = (4, 4, 8, 6, 4, 5, 5, 6, 6, 4, 4, 6, 6, 3, 5, 4, 4, 4,
                 3, 4, 5, 3, 3, 2, 3, 4, 4);
plan tests => repeat_each() * List::Util::sum(@PerRound) + 1;

env_to_nginx('TNX_SELFTEST=1');

add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->request && !defined $block->raw_request
        && !defined $block->pipelined_requests && !defined $block->must_die)
    {
        $block->set_value(request => "GET /t\n");
    }
    if (!defined $block->error_log && !defined $block->no_error_log) {
        $block->set_value(no_error_log => "[error]\n[alert]\n");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: plain return, default status check
--- config
    location = /t {
        return 200 "hello\n";
    }
--- response_body
hello



=== TEST 2: error_code and response_body_like
--- config
    location = /t {
        return 403;
    }
--- error_code: 403
--- response_body_like: 403 Forbidden



=== TEST 3: response_headers (present, value, absent) and chomp'ed body
--- config
    location = /t {
        add_header X-Tnx "yes" always;
        return 200 "body";
    }
--- response_headers
X-Tnx: yes
Content-Type: text/plain
Content-Length: 4
!X-Missing
--- response_body chomp
body



=== TEST 4: response_headers_like
--- config
    location = /t {
        add_header X-Tnx "v1.2.3";
        return 200 "ok\n";
    }
--- response_headers_like
X-Tnx: v\d+\.\d+\.\d+
Server: nginx.*
--- response_body
ok



=== TEST 5: more_headers are sent and echoed back; comments before the request line
--- config
    location = /echo {
        return 200 "foo=$http_x_foo host=$host conn=$http_connection\n";
    }
--- more_headers
X-Foo: bar
--- request
# a comment line before the request line
GET /echo
--- response_body
foo=bar host=localhost conn=close



=== TEST 6: more_headers eval, HTTP/1.0 request
--- config
    location = /echo {
        return 200 "foo=$http_x_foo proto=$server_protocol\n";
    }
--- more_headers eval
"X-Foo: " . lc("A-B") . "\n"
--- request
GET /echo HTTP/1.0
--- response_body
foo=a-b proto=HTTP/1.0
--- response_headers
!Transfer-Encoding



=== TEST 7: user_files served by the default root location
--- config
--- user_files
>>> hello.txt
Hello, world!
>>> sub/dir/deep.txt
deep file
--- request
GET /hello.txt
--- response_body
Hello, world!
--- response_headers
Content-Length: 14



=== TEST 8: user_files with a modification time
--- config
--- user_files
>>> stamped.txt 202001021530.00
old
--- request
GET /stamped.txt
--- response_headers
Last-Modified: Thu, 02 Jan 2020 15:30:00 GMT
Content-Length: 4
--- response_body
old



=== TEST 9: proxy_pass to a second server (random port) serving a user file
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        server_name backend;
        root $TEST_NGINX_SERVER_ROOT/html;
        location = /len {
            return 200 "len=$http_content_length method=$request_method\n";
        }
    }
--- config
    location /proxy/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
    }
--- user_files
>>> data.txt
from the backend
--- request
GET /proxy/data.txt
--- response_body
from the backend
--- response_headers
X-Unset:
Content-Length: 17



=== TEST 10: request body gets a Content-Length (body is trimmed)
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location = /len {
            return 200 "len=$http_content_length method=$request_method\n";
        }
    }
--- config
    location = /len {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- request
POST /len
hello world
--- response_body
len=11 method=POST



=== TEST 11: request eval with an explicit body split into packets
--- config
    location = /t {
        return 200 "cl=$http_content_length\n";
    }
--- request eval
[["POST /t\nab", {value => "cdef", delay_before => 0.05}]]
--- response_body
cl=6



=== TEST 12: several requests, each on its own connection
--- config
    location = /a { return 200 "a\n"; }
    location = /b { return 404; }
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[200, 404]
--- response_body_like eval
["^a\$", "404 Not Found"]
--- no_error_log
[alert]



=== TEST 13: pipelined requests over one keep-alive connection
--- config
    location = /a { return 200 "a $connection_requests\n"; }
    location = /b { return 200 "b $connection_requests $http_connection\n"; }
--- pipelined_requests eval
["GET /a", "GET /b"]
--- response_body eval
["a 1\n", "b 2 close\n"]
--- no_error_log
[alert]



=== TEST 14: raw_request is sent verbatim (packets + middle delay)
--- config
    location = /t {
        return 200 "host=$host proto=$server_protocol\n";
    }
--- raw_request eval
["GET /t HTTP/1.1\r\nHo", "st: raw.example\r\nConnection: close\r\n\r\n"]
--- raw_request_middle_delay: 0.05
--- response_body
host=raw.example proto=HTTP/1.1
--- no_error_log
[alert]



=== TEST 15: chunked response is decoded (ssi drops Content-Length)
--- config
    location = /ssi.html {
        ssi on;
        root $TEST_NGINX_SERVER_ROOT/html;
    }
--- user_files
>>> ssi.html
uri=<!--# echo var="uri" -->.
--- request
GET /ssi.html
--- response_headers
Transfer-Encoding: chunked
--- response_body
uri=/ssi.html.



=== TEST 16: HEAD request
--- config
    location = /t {
        return 200 "some body\n";
    }
--- request
HEAD /t
--- response_body chomp
--- error_code: 200



=== TEST 17: error_log: plain substring and eval qr// patterns
--- config
    location /missing/ {
        root $TEST_NGINX_SERVER_ROOT/html;
    }
--- request
GET /missing/nope.txt
--- error_code: 404
--- error_log eval
["No such file or directory", qr/open\(\) "[^"]+nope\.txt" failed/]
--- no_error_log
[alert]



=== TEST 18: grep_error_log with env expansion in the expected output
--- config
    location /missing/ {
        root $TEST_NGINX_SERVER_ROOT/html;
    }
--- request
GET /missing/nope.txt
--- error_code: 404
--- grep_error_log eval
qr/open\(\) "[^"]+" failed/
--- grep_error_log_out
open() "$TEST_NGINX_SERVER_ROOT/html/missing/nope.txt" failed
--- no_error_log
[alert]
[crit]



=== TEST 19: per-block log level
--- log_level: warn
--- config
    location = /t {
        return 200 "quiet\n";
    }
--- response_body
quiet
--- no_error_log
[debug]



=== TEST 20: HTTP/2 cleartext (h2c) via curl
--- skip_eval: 4: main::real_http2_directive_broken()
--- http2
--- config
    location = /t {
        return 200 "proto=$server_protocol foo=$http_x_foo\n";
    }
--- more_headers
X-Foo: h2
--- response_body
proto=HTTP/2.0 foo=h2



=== TEST 21: HTTP/2 over TLS with a self-signed certificate
--- skip_eval: 5: !$ENV{TNX_HAVE_CERT} || main::real_http2_directive_broken()
--- http2
--- curl_protocol: https
--- curl_options: -k
--- config
    listen 127.0.0.1:$TEST_NGINX_SERVER_PORT ssl http2;
    ssl_certificate     $TEST_NGINX_CERT_DIR/cert.pem;
    ssl_certificate_key $TEST_NGINX_CERT_DIR/key.pem;
    location = /t {
        return 200 "$server_protocol https=$https\n";
    }
--- response_body
HTTP/2.0 https=on
--- response_headers
Content-Type: text/plain



=== TEST 22: must_die with the emerg message in error_log
--- config
    tnx_no_such_directive on;
--- must_die
--- suppress_stderr
--- error_log
[emerg]
unknown directive "tnx_no_such_directive"



=== TEST 23: must_die with an expected exit code
--- config
    location = /t {
        return 200 a b c;
    }
--- must_die: 1
--- suppress_stderr
--- error_log
[emerg]
invalid number of arguments in "return" directive



=== TEST 24: skip_nginx skips the given number of tests
--- skip_nginx: 2: < 999.0.0
--- config
    tnx_never_started on;
--- response_body
never checked



=== TEST 25: timeout + abort + ignore_response (slow response is not a failure)
--- config
    location = /slow.txt {
        limit_rate 1;
        root $TEST_NGINX_SERVER_ROOT/html;
    }
--- user_files
>>> slow.txt
0123456789
--- request
GET /slow.txt
--- timeout: 0.3
--- abort
--- ignore_response
--- wait: 0.1
--- no_error_log
[alert]
[emerg]
[crit]



=== TEST 26: shutdown_error_log is checked once nginx stopped
--- config
    location = /t {
        return 200 "bye\n";
    }
--- response_body
bye
--- shutdown_error_log
exit
--- no_error_log
[alert]
[emerg]



=== TEST 27: SKIP drops a block
--- config
    this_would_break nginx;
--- response_body
nope
--- SKIP



=== TEST 28: the last block (LAST drops everything below it)
--- config
    location = /t {
        return 200 "$request_uri\n";
    }
--- request
GET /t?last=1
--- response_body
/t?last=1
--- LAST



=== TEST 29: never run (after LAST)
--- config
    this_would_break nginx;
--- response_body
nope
