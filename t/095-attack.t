# vim:set ft= ts=4 sw=4 et:
# Attacks from outside against a real nginx loading the module.  Each block
# states the attack; the expectation is the secure behaviour.  Blocks marked
# "FINDING" fail on the code they were written against (the attack works),
# so they are skipped unless TEST_NGINX_ATTACK_FINDINGS=1: run them with it
# to see them fail, and drop a block's skip_eval line with its fix.  The
# other blocks are regression proofs of attacks that failed, and always run.
#
# Accounts: AC1 is the victim, AC2 the attacker, who holds AC2's own token
# (a tenant, a subaccount owner).  Every token is bound to its account, as
# docs/deployment.md ("Several accounts") recommends.

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use Twilio::Secrets;
use Twilio::Sign;
use Twilio::Backend;
use Twilio::Request;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

our $AC1 = 'AC0123456789abcdef0123456789abcdef';
our $AC2 = 'AC11111111111111111111111111111111';
our $TOK1 = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
our $TOK2 = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';

# a form POST to https://example.com/sms signed with the attacker's token
sub atk { signed_request(body => $_[0], token => $::TOK2, %{ $_[1] // {} }) }

# JSON at https://example.com/events$query, signed by bodySHA256
sub jurl { my ($body, $query) = @_; json_url("https://example.com/events$query", $body) }
sub jtarget { (my $t = jurl(@_)) =~ s{^https://example\.com}{}; $t }
sub jreq {
    my ($body, $query, $token, $ct) = @_;
    # with bodySHA256 in the URL the URL alone is signed, whatever the type
    signed_request(target => jtarget($body, $query), url => jurl($body, $query),
                   body => $body, ct => $ct // "application/json",
                   sig => twilio_signature($token, jurl($body, $query), $body,
                                           "application/json"));
}

# the shared key of AC2's Webhook Rules: the attacker knows its secret.
# Each key bound to its account, and the same keys bound to none.
our $KS2_SECRET = 'attacker-shared-secret-0123456789';
secret_file("t095-shared", <<"_EOF_", 0600);
KS0001 victim-shared-secret-0123456789ab $AC1
KS0002 $KS2_SECRET $AC2
_EOF_

secret_file("t095-shared-unbound", <<"_EOF_", 0600);
KS0001 victim-shared-secret-0123456789ab
KS0002 $KS2_SECRET
_EOF_

secret_file("t095-bound", <<"_EOF_", 0600);
$AC1 $TOK1
$AC2 $TOK2
_EOF_

# regression: a secret file was opened (blocking, following links) before
# it was checked: a FIFO at its path hung "nginx -t", start and reload
# until something wrote to it, and the checks never ran.  A plain
# Test::More check, as Test::Nginx has no section for a configuration test
# that hangs.
sub fifo_check {
    my ($how) = @_;
    my $dir = $ENV{TEST_NGINX_SECRETS_DIR};
    my $fifo = "$dir/t095-fifo";
    my $link = "$dir/t095-fifo-link";
    my $conf = "$dir/t095-fifo.conf";
    unlink $fifo, $link;
    POSIX::mkfifo($fifo, 0600) or die "mkfifo $fifo: $!\n";
    symlink "t095-fifo", $link or die "symlink $link: $!\n";
    my $path = $how eq 'link' ? $link : $fifo;
    my $load = join '', map { "load_module $_;\n" }
                        split ' ', $ENV{TEST_NGINX_LOAD_MODULES} // '';
    open my $fh, '>', $conf or die "$conf: $!\n";
    print $fh "${load}error_log stderr;\nevents {}\nhttp {\n"
            . "    twilio_guard_auth_token_file $path;\n}\n";
    close $fh;
    my $nginx = $ENV{TEST_NGINX_BINARY} // 'nginx';
    my $out = `timeout 3 $nginx -t -p $dir -c $conf 2>&1`;
    my $rc = $? >> 8;
    unlink $fifo, $link, $conf;
    my $what = $how eq 'link' ? 'a link to a FIFO' : 'a FIFO';
    Test::More::isnt($rc, 124, "t/095-attack.t FIFO: nginx -t does not hang on $what as secret file");
    Test::More::like($out, qr/is not a regular file/, "t/095-attack.t FIFO: ... and says $what is not a regular file");
}

use POSIX ();
fifo_check($_) for qw(fifo link);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: FINDING: a leading space hides a second AccountSid from the guard (PHP strips it)
PHP's $_POST reads "+AccountSid" as "AccountSid" (leading spaces are
dropped from names) and the last one wins: the application sees AC1,
while the guard saw one claim, AC2, under AC2's token.
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        twilio_guard_url https://example.com/sms;
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
::atk("AccountSid=$::AC2&From=%2B1&+AccountSid=$::AC1")
--- error_code: 403
--- response_headers
X-Result: account_ambiguous



=== TEST 2: FINDING: a NUL byte hides a second AccountSid (PHP cuts names at NUL)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        twilio_guard_url https://example.com/sms;
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
::atk("AccountSid=$::AC2&From=%2B1&AccountSid%00x=$::AC1")
--- error_code: 403
--- response_headers
X-Result: account_ambiguous



=== TEST 3: FINDING: a claim only PHP sees: no claim for the guard, AC2's token accepted
The request claims no account for the guard, so AC2's bound token may
sign it and $twilio_account_sid says AC2; PHP's $_POST['AccountSid'] is
AC1.  Fixed: any name whose letters contain "accountsid" is a claim, so
the request claims AC1, and only AC1's token may sign it.
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        twilio_guard_url https://example.com/sms;
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
::atk("From=%2B1&%20AccountSid=$::AC1")
--- error_code: 403
--- response_headers
X-Result: bad_signature
X-Account: AC0123456789abcdef0123456789abcdef



=== TEST 4: FINDING: AccountSid[] (PHP, Express qs, Rack arrays) is not a claim
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        twilio_guard_url https://example.com/sms;
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
::atk("AccountSid=$::AC2&AccountSid%5B%5D=$::AC1")
--- error_code: 403
--- response_headers
X-Result: account_ambiguous



=== TEST 5: FINDING: ";" as a separator (Rack 2 query strings, Perl CGI, Python < 3.9.2, Go < 1.17)
A GET webhook carries AccountSid in the query.  Parsers that also split
on ";" see AccountSid=AC1 last; the guard sees one claim, AC2.
--- config
    location /voice {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        twilio_guard_url https://example.com$request_uri;
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(method => "GET", target => "/voice?AccountSid=$::AC2&From=x;AccountSid=$::AC1",
               url => "https://example.com/voice?AccountSid=$::AC2&From=x;AccountSid=$::AC1",
               token => $::TOK2, ct => undef)
--- error_code: 403
--- response_headers
X-Result: account_ambiguous



=== TEST 6: FINDING: "#" in the request target: the guard ignores what follows, the upstream gets it
proxy_pass (without a URI) sends the target as the client sent it, "#"
included, and Go's net/http (url.ParseRequestURI) does not cut a fragment:
r.URL.Query() there holds AccountSid=AC1 (and From="x#"), while the
guard stopped reading the query at "#", saw no claim and let AC2's token
sign.  Fixed: the claims are read in the whole query of the request
target, so the request claims AC1, and only AC1's token may sign it.
--- config
    location /voice {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        twilio_guard_url https://example.com$request_uri;
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(method => "GET", target => "/voice?From=x#&AccountSid=$::AC1",
               url => "https://example.com/voice?From=x#&AccountSid=$::AC1",
               token => $::TOK2, ct => undef)
--- error_code: 403
--- response_headers
X-Result: bad_signature
--- response_body_unlike
AccountSid



=== TEST 7: FINDING: a JSON body sent as a form: the guard reads no claim, a JSON application reads AC1
Event Streams handlers commonly parse the raw body as JSON whatever the
Content-Type (PHP json_decode(file_get_contents('php://input')), Express
express.json({type: '*/*'}), Flask get_json(force=True)).
--- config
    location /events {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        twilio_guard_url "https://example.com$request_uri";
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(target => "/events", url => "https://example.com/events",
               body => qq([{"data":{"accountSid":"$::AC1","to":"1"}}]),
               token => $::TOK2)
--- error_code: 403
--- response_headers
X-Result: account_ambiguous



=== TEST 8: FINDING: ... and a JSON string that looks like a form claims AC2 for the guard
--- config
    location /events {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        twilio_guard_url "https://example.com$request_uri";
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
::jreq(qq({"x":"&AccountSid=$::AC2&","AccountSid":"$::AC1"}), "", $::TOK2,
       "application/x-www-form-urlencoded")
--- error_code: 403
--- response_headers
X-Result: account_ambiguous



=== TEST 9: regression: a second AccountSid in another encoding or case is seen (Account%53id, ACCOUNTſID)
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        twilio_guard_url https://example.com/sms;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
::atk("AccountSid=$::AC2&Account%53id=$::AC1&ACCOUNT%C5%BFID=$::AC1")
--- error_code: 403
--- response_headers
X-Result: account_ambiguous



=== TEST 10: regression: JSON duplicate members that disagree (Python, JS: the last wins)
--- config
    location /events {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        twilio_guard_url "https://example.com$request_uri";
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
::jreq(qq({"AccountSid":"$::AC2","Body":"x","AccountSid":"$::AC1"}), "", $::TOK2)
--- error_code: 403
--- response_headers
X-Result: account_ambiguous



=== TEST 11: regression: JSON member names folded by Go's encoding/json (long s) and \u escapes
--- config
    location /events {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        twilio_guard_url "https://example.com$request_uri";
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
::jreq(qq({"AccountSid":"$::AC2","data":{"account\\u017fid":"$::AC1"}}), "", $::TOK2)
--- error_code: 403
--- response_headers
X-Result: account_ambiguous



=== TEST 12: regression: an AccountSid that is not a string (array, null) is ambiguous
--- config
    location /events {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        twilio_guard_url "https://example.com$request_uri";
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
::jreq(qq([{"accountSid":"$::AC2"},{"accountSid":["$::AC1"]},{"AccountSid":null}]), "", $::TOK2)
--- error_code: 403
--- response_headers
X-Result: account_ambiguous



=== TEST 13a: regression: not one JSON text: a byte order mark
--- config
    location /events {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        twilio_guard_url "https://example.com$request_uri";
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
::jreq(qq(\xEF\xBB\xBF{"AccountSid":"$::AC2"}), "", $::TOK2)
--- error_code: 403
--- response_headers
X-Result: json_malformed



=== TEST 13b: regression: not one JSON text: a comment
--- config
    location /events {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        twilio_guard_url "https://example.com$request_uri";
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
::jreq(qq({"AccountSid":"$::AC2"/*x*/}), "", $::TOK2)
--- error_code: 403
--- response_headers
X-Result: json_malformed



=== TEST 13c: regression: not one JSON text: a second JSON text after the first
--- config
    location /events {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        twilio_guard_url "https://example.com$request_uri";
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
::jreq(qq({"AccountSid":"$::AC2"} {"AccountSid":"$::AC1"}), "", $::TOK2)
--- error_code: 403
--- response_headers
X-Result: json_malformed



=== TEST 13d: regression: not one JSON text: a lone low surrogate
--- config
    location /events {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        twilio_guard_url "https://example.com$request_uri";
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
::jreq(qq({"AccountSid":"$::AC2","x":"\\udc00"}), "", $::TOK2)
--- error_code: 403
--- response_headers
X-Result: json_malformed



=== TEST 13e: regression: not one JSON text: 65 levels of nesting
--- config
    location /events {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        twilio_guard_url "https://example.com$request_uri";
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
::jreq(("[" x 65) . ("]" x 65), "", $::TOK2)
--- error_code: 403
--- response_headers
X-Result: json_malformed



=== TEST 13f: regression: not one JSON text: a raw NUL after the value
--- config
    location /events {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        twilio_guard_url "https://example.com$request_uri";
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
::jreq(qq({"AccountSid":"$::AC2"}\0), "", $::TOK2)
--- error_code: 403
--- response_headers
X-Result: json_malformed



=== TEST 14: regression: valid JSON that strict readers differ on still passes (huge numbers, 64 levels, escapes)
--- config
    location /events {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        twilio_guard_url "https://example.com$request_uri";
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
::jreq(qq({"n":-0.0e-0,"m":1e999999999,"s":"\\ud83d\\ude00\\/","AccountSid":"\\u0041C11111111111111111111111111111111","d":)
       . ("[" x 62) . ("]" x 62) . "}", "", $::TOK2)
--- error_code: 200
--- response_headers eval
"X-Result: ok\nX-Account: $::AC2"



=== TEST 15: regression: twilio_guard_trusted_proxy ::ffff:0.0.0.0/96 trusts every IPv4 client: nginx -t refuses it
The module matches an IPv4-mapped range of 96 bits or more as the IPv4
range it carries, so this is 0.0.0.0/0, which is refused when written so.
Any IPv4 client could then claim HTTPS and choose the signed host.
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_trusted_proxy ::ffff:0.0.0.0/96;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- must_die
--- error_log
trusts every



=== TEST 16: FINDING: the key id of the settings header reaches the log with its quotes: fields can be forged
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1",
               headers => ["X-Twilio-Webhooks-Signature-Settings" =>
                           'key=x" client: 6.6.6.6 y=", algorithm=HMAC_SHA256'])
--- error_code: 403
--- error_log
with id "x\x22 client: 6.6.6.6 y=\x22"
--- no_error_log
"x" client: 6.6.6.6



=== TEST 17: FINDING: the settings header is neither cut at 256 bytes nor quote-escaped in the log
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1",
               headers => ["X-Twilio-Webhooks-Signature-Settings" =>
                           '"' . ("k" x 600)])
--- error_code: 403
--- error_log eval
qr/signature_settings_malformed, X-Twilio-Webhooks-Signature-Settings "\\x22k{200,256}\.\.\.\(cut, 601 bytes\)"/



=== TEST 18: FINDING: a quote in the Host header ends the quoted URL of a bad_signature line
nginx accepts '"', ':' and ',' in Host (not spaces); the URL of the line is not
escaped, so the client can write a "client:" field before nginx's own.
Fixed: such a Host is host_malformed for the default URL, and the line
that says so escapes it.
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", host => 'h",client:6.6.6.6,x="')
--- error_code: 403
--- error_log
rejected: host_malformed, the Host header "h\x22,client:6.6.6.6,x=\x22" is not
--- no_error_log
Host header "h",client



=== TEST 19: FINDING (deployment guide): a balancer that does not write X-Forwarded-Host passes the client's own
AWS ALB writes X-Forwarded-Proto/-Port/-For but not X-Forwarded-Host, and
forwards a client's.  Following docs/deployment.md section 2, the guarded
nginx trusts the balancer, so the client picks the host that is signed: a
request signed for another host (captured elsewhere, same token) passes.
The front server below plays the balancer.
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        server_name hooks.example.com;

        location /sms {
            twilio_guard on;
            twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
            twilio_guard_trusted_proxy 127.0.0.0/8;
            add_header X-Result $twilio_guard_result always;
            proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
        }
    }
--- config
    location /sms {
        proxy_set_header Host hooks.example.com;
        proxy_set_header X-Forwarded-Proto https;
        proxy_set_header X-Forwarded-Port 443;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- raw_request eval
signed_request(body => "a=1", url => "https://staging.example.net/sms",
               headers => ["X-Forwarded-Host" => "staging.example.net"])
--- error_code: 403
--- response_headers
X-Result: bad_signature



=== TEST 20: FINDING: a twilio_guard_url without $request_uri leaves path and query unsigned, and unread
A fixed URL (what the Twilio Console shows) in a prefix location: one
captured signature is valid for every path and query under it, and an
AccountSid in the query is not seen (Express req.query, PHP $_GET read
it), so AC2's token passes a request whose query claims AC1.  Fixed for
the claim: the AccountSid rules read the request's own query whatever
URL is signed (the unsigned path and query: see TEST 21).
--- config
    location /twilio/ {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        twilio_guard_url https://example.com/twilio/sms;
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(target => "/twilio/admin?AccountSid=$::AC1",
               url => "https://example.com/twilio/sms",
               body => "AccountSid=$::AC2&From=%2B1", token => $::TOK2)
--- error_code: 403
--- response_headers
X-Result: account_ambiguous



=== TEST 21: regression: nginx -t warns about a twilio_guard_url that leaves the request target unsigned
--- config
    location /twilio/ {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_url https://example.com/twilio/sms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request
GET /twilio/x
--- error_code: 403
--- error_log eval
qr/\[warn\].*twilio_guard_url.*request_uri/



=== TEST 22: FINDING: the default URL takes the Host header: in the default server any host can be signed
The deployment guide's first example (server_name hooks.example.com, the
default URL).  nginx sends requests for unknown hosts to the default
server, so a signature captured for another endpoint of the same account
(same path, e.g. a staging host) is replayed here with its Host header:
what the absolute-form check (host_mismatch) was added to prevent.
Not something the module can tell (nginx does not say whether a server
was chosen by name or by default): docs/deployment.md tells to name the
host in twilio_guard_url, or to keep the guarded server from being the
default one.  This block follows the first advice.
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        server_name hooks.example.com;

        location /sms {
            twilio_guard on;
            twilio_guard_https off;
            twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
            twilio_guard_url http://hooks.example.com$request_uri;
            add_header X-Result $twilio_guard_result always;
            proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
        }
    }
--- config
    location /sms {
        proxy_set_header Host staging.example.net;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- raw_request eval
signed_request(body => "a=1", url => "http://staging.example.net/sms")
--- error_code: 403
--- response_headers
X-Result: bad_signature



=== TEST 23: regression: HTTP/1.1 absolute-form naming another host than Host is refused before the body
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", target => "http://localhost./sms",
               url => "http://localhost./sms")
--- error_code: 403
--- response_headers
X-Result: host_mismatch



=== TEST 24: regression: a client not in twilio_guard_trusted_proxy cannot claim HTTPS through X-Forwarded-Proto, even with realip trusting everyone
--- config
    set_real_ip_from 0.0.0.0/0;
    real_ip_header X-Forwarded-For;
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_trusted_proxy 10.0.0.0/8;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "a=1", url => "https://localhost/sms",
               headers => ["X-Forwarded-For" => "10.1.2.3",
                           "X-Forwarded-Proto" => "https"])
--- error_code: 403
--- response_headers
X-Result: not_https



=== TEST 25: FINDING: two Content-Type headers: the guard reads the first (a form), gunicorn the last (JSON)
nginx forwards both.  gunicorn's WSGI environ keeps the last
Content-Type, so Flask's request.get_json() reads the body as JSON and
finds AccountSid AC1; the guard took it for a form with one odd key, no
claim, and let AC2's token sign it.
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        twilio_guard_url https://example.com/sms;
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => qq({"AccountSid":"$::AC1"}), token => $::TOK2,
               headers => ["Content-Type" => "application/json"])
--- error_code: 403
--- response_headers
X-Result: content_type_repeated
--- response_body_unlike
content-type: application/json



=== TEST 26: regression: a shared key could not be bound to an account: the attacker's key signed a claim of AC1
Next to account-bound tokens, each tenant's Webhook Rules shared key:
the attacker signs with its own shared key (KS0002), claims AC1, passed,
and $twilio_account_sid said AC1.  Now each key is bound to its account
("KEY_ID SECRET ACCOUNT_SID"), and KS0002 signs for AC2 only.
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        twilio_guard_shared_key_file $TEST_NGINX_SECRETS_DIR/t095-shared;
        twilio_guard_url https://example.com/sms;
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "AccountSid=$::AC1&From=%2B1",
               sig => shared_key_signature($::KS2_SECRET, "https://example.com/sms",
                                           "AccountSid=$::AC1&From=%2B1",
                                           "application/x-www-form-urlencoded"),
               headers => ["X-Twilio-Webhooks-Signature-Settings" =>
                           "key=KS0002,algorithm=HMAC_SHA256"])
--- error_code: 403
--- response_headers
X-Result: unknown_account



=== TEST 26b: regression: ... and shared keys bound to no account next to bound tokens fail nginx -t
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        twilio_guard_shared_key_file $TEST_NGINX_SECRETS_DIR/t095-shared-unbound;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*shared key "KS0001" from \S+nginx\.conf:\d+, which applies in \S+nginx\.conf:\d+ next to keys bound to accounts, is bound to no account: whoever holds it could sign a request claiming any account; bind it to its account/



=== TEST 26c: regression: a bound shared key still signs for its own account
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        twilio_guard_shared_key_file $TEST_NGINX_SECRETS_DIR/t095-shared;
        twilio_guard_url https://example.com/sms;
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(body => "AccountSid=$::AC2&From=%2B1",
               sig => shared_key_signature($::KS2_SECRET, "https://example.com/sms",
                                           "AccountSid=$::AC2&From=%2B1",
                                           "application/x-www-form-urlencoded"),
               headers => ["X-Twilio-Webhooks-Signature-Settings" =>
                           "key=KS0002,algorithm=HMAC_SHA256"])
--- error_code: 200
--- response_headers
X-Result: ok
X-Account: AC11111111111111111111111111111111



=== TEST 27: regression (low): an allow-only rule list allows everyone: nginx -t warns
"twilio_guard_allow twilio_event_streams;" without "twilio_guard_deny
all;" reads as an allowlist but, like nginx's allow, lets every address
through (this request is rejected only for having no signature).
--- config
    location /events {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token 9f86d081884c7d659a2feaa0c55ad015;
        twilio_guard_allow twilio_event_streams;
        add_header X-Result $twilio_guard_result always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request
GET /events
--- error_code: 403
--- error_log eval
qr/\[warn\].*twilio_guard_allow/



=== TEST 28: FINDING: a prefixed name ASP.NET Core model binding prefers (request.AccountSid) is not a claim
Twilio's .NET helpers bind "SmsRequest request"; when a key starts with
the parameter's name ("request."), ASP.NET Core binds with that prefix
and ignores the bare AccountSid: the application sees AC1.
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        twilio_guard_url https://example.com/sms;
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
::atk("AccountSid=$::AC2&From=%2B1&request.AccountSid=$::AC1&request.From=%2B1")
--- error_code: 403
--- response_headers
X-Result: account_ambiguous



=== TEST 29: FINDING: a "#" in the Host header hides the whole query from the AccountSid rules
nginx accepts "#" and "?" in Host, and the default URL pastes Host in
as sent; the guard then looks for the query after the first "?" before
the first "#" of that URL, i.e. in the host.  A GET webhook's
AccountSid=AC1 (read by every framework) is not seen: AC2's token signs
it and $twilio_account_sid says AC2.  The guarded server is the default
one, as in the quick start, so any Host reaches it.
--- config
    location /voice {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(method => "GET", host => "x#",
               target => "/voice?AccountSid=$::AC1&From=%2B1",
               url => "http://x#/voice?AccountSid=$::AC1&From=%2B1",
               token => $::TOK2, ct => undef)
--- error_code: 403
--- response_headers
X-Result: host_malformed



=== TEST 30: FINDING: ... and a "?" in the Host header hides the first query parameter
--- config
    location /sms {
        twilio_guard on;
        twilio_guard_https off;
        twilio_guard_auth_token_file $TEST_NGINX_SECRETS_DIR/t095-bound;
        add_header X-Result $twilio_guard_result always;
        add_header X-Account $twilio_account_sid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- raw_request eval
signed_request(host => "x?", target => "/sms?AccountSid=$::AC1",
               url => "http://x?/sms?AccountSid=$::AC1",
               body => "From=%2B1&Body=hi", token => $::TOK2)
--- error_code: 403
--- response_headers
X-Result: host_malformed
