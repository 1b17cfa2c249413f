# A TLS-terminating nginx in front of the guarded nginx, configured exactly
# as docs/deployment.md shows ("The TLS terminator is nginx too"): this file
# reads both server blocks from the document and replaces only addresses,
# ports and file paths, so the document cannot drift from what is tested.
#
# Over HTTPS to the front, a genuinely signed webhook reaches the upstream
# and a forged one does not; X-Forwarded-Host, -Proto and -Port sent by the
# client do not change the URL that is signed; a client that reaches the
# guarded nginx directly over plain HTTP is not trusted (not_https).  Then
# "twilio_guard_url without twilio_guard_trusted_proxy" is pinned: the URL
# alone does not satisfy twilio_guard_https.
#
# Plain Test::More with two nginx (Twilio::Nginx), like t/080-hostile.t.
# Ports: TEST_NGINX_FRONT_PORT (1991) and TEST_NGINX_GUARDED_PORT (1992).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Digest::SHA ();
use IO::Select;
use IO::Socket::INET;
use Test::More;
use Twilio::Backend qw(:all);
use Twilio::Cert;
use Twilio::Nginx;
use Twilio::Secrets;
use Twilio::Sign qw(twilio_signature);

my $fport = $ENV{TEST_NGINX_FRONT_PORT} || 1991;
my $gport = $ENV{TEST_NGINX_GUARDED_PORT} || 1992;
my $bport = $ENV{TEST_NGINX_BACKEND_PORT};
my $certs = $ENV{TEST_NGINX_CERT_DIR};

my $TOKEN = '5d41402abc4b2a76b9719d911017c592';
my $FORM = 'application/x-www-form-urlencoded';
my $SMS = 'MessageSid=SM0123456789abcdef0123456789abcdef'
        . '&From=%2B14155550100&To=%2B14155550199&Body=Through+the+front';
my $HOST = "hooks.example.com:$fport";
my $URL = "https://$HOST/twilio/sms";

my $tokens = secret_file('front-end.tokens', "$TOKEN\n");

# ---------------------------------------------------------------------------
# the configurations, from the document

my $doc_path = "$FindBin::Bin/../docs/deployment.md";

# The ```nginx block that follows "<!-- t/091-front-end.t: NAME -->".
sub doc_block {
    my ($name) = @_;
    open my $fh, '<', $doc_path or BAIL_OUT("$doc_path: $!");
    my $doc = do { local $/; <$fh> };
    close $fh;
    $doc =~ /^<!-- t\/091-front-end\.t: \Q$name\E -->\n```nginx\n(.*?)^```$/ms
        or BAIL_OUT("no \"<!-- t/091-front-end.t: $name -->\" block followed "
                    . "by an nginx code block in docs/deployment.md");
    return $1;
}

# Replaces each FROM with TO; every FROM must occur, and no documentation
# address or system path may be left over.
sub localize {
    my ($name, $text, @pairs) = @_;
    while (my ($from, $to) = splice @pairs, 0, 2) {
        my $n = () = $text =~ /\Q$from\E/g;
        ok $n > 0, "$name: the document's block has \"$from\""
            or BAIL_OUT("docs/deployment.md changed: update t/091-front-end.t");
        $text =~ s/\Q$from\E/$to/g;
    }
    unlike $text, qr{192\.0\.2\.|/etc/},
           "$name: every address and path replaced";
    return $text;
}

my $front_conf = localize('front', doc_block('front'),
    'listen 443 ssl;'                => "listen 127.0.0.1:$fport ssl;",
    '/etc/ssl/hooks.example.com.pem' => "$certs/cert.pem",
    '/etc/ssl/hooks.example.com.key' => "$certs/key.pem",
    '192.0.2.20:8080'                => "127.0.0.1:$gport");

my $guarded_conf = localize('guarded', doc_block('guarded'),
    '192.0.2.20:8080'          => "127.0.0.1:$gport",
    '192.0.2.10'               => '127.0.0.1',
    '/etc/nginx/twilio.tokens' => $tokens,
    '127.0.0.1:3000'           => "127.0.0.1:$bport");

like $front_conf, qr/proxy_set_header X-Forwarded-Host /,
     'the front overwrites X-Forwarded-Host';
like $guarded_conf, qr/twilio_guard_trusted_proxy +127\.0\.0\.1;/,
     'the guarded nginx trusts the front';
like $front_conf, qr/proxy_set_header Host +\$http_host;/,
     'the front sends the host Twilio called in Host';
unlike $guarded_conf, qr/twilio_guard_forwarded_host +on/,
     'the guarded nginx takes the host from Host, not X-Forwarded-Host';

my $front = Twilio::Nginx->new(name => 'front', port => $fport,
                               http => $front_conf);
my $guarded = Twilio::Nginx->new(name => 'guarded', port => $gport,
                                 http => $guarded_conf);

ok $guarded->start, 'the guarded nginx starts with the documented config'
    or BAIL_OUT('the guarded nginx did not start');
ok $front->start, 'the front nginx starts with the documented config'
    or BAIL_OUT('the front nginx did not start');

# ---------------------------------------------------------------------------
# helpers

# the guarded nginx's error log lines written since the last call
my $log_seen = 0;
sub new_log_lines {
    my @l = $guarded->log_lines;
    my @new = @l[$log_seen .. $#l];
    $log_seen = @l;
    return @new;
}

sub rejected {
    my ($reason) = @_;
    return grep { /twilio_guard: rejected: \Q$reason\E\b/ } new_log_lines();
}

# POSTs $SMS over HTTPS to the front; returns (status, body).
#   sig => signature, host => Host header, headers => [ 'Name: value', ... ]
sub via_front {
    my (%o) = @_;
    my @cmd = ('curl', '-sk', '--max-time', '10',
               '--resolve', "hooks.example.com:$fport:127.0.0.1",
               '-H', "Content-Type: $FORM",
               '-H', "X-Twilio-Signature: $o{sig}",
               (map { ('-H', $_) } @{ $o{headers} // [] }),
               ($o{host} ? ('-H', "Host: $o{host}") : ()),
               '--data-binary', $SMS, '-w', '\n%{http_code}',
               "https://$HOST/twilio/sms");
    open my $fh, '-|', @cmd or die "curl: $!";
    my $out = do { local $/; <$fh> };
    close $fh;
    my ($body, $code) = $out =~ /\A(.*)\n(\d{3})\z/s or return (0, $out);
    return ($code, $body);
}

# A raw request to the guarded nginx from LOCAL (a loopback address).
sub direct {
    my ($local, $raw) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$gport",
                                  LocalAddr => $local, Timeout => 5)
        or return '';
    print $s $raw;
    my $sel = IO::Select->new($s);
    my $buf = '';
    while ($sel->can_read(5)) {
        my $n = sysread $s, my $chunk, 65536;
        last unless $n;
        $buf .= $chunk;
    }
    close $s;
    return $buf;
}

sub sig { twilio_signature($_[1] // $TOKEN, $_[0], $SMS, $FORM) }

my $hits = 0;
backend_reset();

# ---------------------------------------------------------------------------
# through the front

my ($code, $body) = via_front(sig => sig($URL));
is $code, 200, "genuine webhook over HTTPS through the front: 200";
like $body, qr/^sha256: \Q${\ Digest::SHA::sha256_hex($SMS)}\E$/m,
     'the upstream received the body byte for byte';
$hits++;

($code) = via_front(sig => sig($URL, 'f' x 32));
is $code, 403, 'forged webhook (another token): 403';
is scalar(rejected('bad_signature')), 1, 'logged as bad_signature';

# the client's own X-Forwarded-* headers do not change what is signed
($code) = via_front(sig => sig($URL), headers => [
    'X-Forwarded-Host: evil.example.com', 'X-Forwarded-Proto: http',
    'X-Forwarded-Port: 8443']);
is $code, 200, 'client-sent X-Forwarded-Host/-Proto/-Port: the genuine '
             . 'signature still validates';
$hits++;

($code) = via_front(sig => sig('https://evil.example.com/twilio/sms'),
                    headers => ['X-Forwarded-Host: evil.example.com']);
is $code, 403, 'signed for the host the client names in X-Forwarded-Host: 403';
my @l = rejected('bad_signature');
like $l[0] // '', qr{url "\Q$URL\E"},
     'the URL checked is the one the front received';

($code) = via_front(sig => sig("http://$HOST/twilio/sms"),
                    headers => ['X-Forwarded-Proto: http']);
is $code, 403, 'signed for http:// with a client X-Forwarded-Proto: http: 403';
is scalar(rejected('bad_signature')), 1, 'logged as bad_signature';

# with a Host without port (as Twilio sends for 443), X-Forwarded-Port
# would add one: the front removes it
my $noport = 'https://hooks.example.com/twilio/sms';
($code) = via_front(sig => sig($noport), host => 'hooks.example.com',
                    headers => ['X-Forwarded-Port: 8443']);
is $code, 200, 'Host without port: the URL Twilio called validates, a '
             . 'client X-Forwarded-Port is dropped';
$hits++;

($code) = via_front(sig => sig('https://hooks.example.com:8443/twilio/sms'),
                    host => 'hooks.example.com',
                    headers => ['X-Forwarded-Port: 8443']);
is $code, 403, 'signed for the port the client names in X-Forwarded-Port: 403';
is scalar(rejected('bad_signature')), 1, 'logged as bad_signature';

# the Host as sent, port included: $host (lower-cased, no port) would break
($code) = via_front(sig => sig("https://Hooks.Example.com:$fport/twilio/sms"),
                    host => "Hooks.Example.com:$fport");
is $code, 200, 'the Host header reaches the guard as sent (case, port)';
$hits++;

is backend_hits(), $hits,
   "the upstream saw exactly the genuine requests ($hits)";

# ---------------------------------------------------------------------------
# straight to the guarded nginx

my $raw = raw_request('POST', '/twilio/sms', $HOST, $SMS,
                      'Content-Type' => $FORM,
                      'X-Twilio-Signature' => sig($URL),
                      'X-Forwarded-Proto' => 'https',
                      'X-Forwarded-Host' => $HOST);

is Twilio::Nginx::status_of(direct('127.0.0.2', $raw)), 403,
   'plain HTTP from an untrusted address, claiming X-Forwarded-Proto: '
   . 'https: 403';
@l = rejected('not_https');
is scalar(@l), 1, 'logged as not_https';
like $l[0] // '', qr/client: 127\.0\.0\.2\b/, 'for the untrusted client';

is Twilio::Nginx::status_of(direct('127.0.0.1', $raw)), 200,
   'the same bytes from the front\'s address: 200';
$hits++;

is backend_hits(), $hits, 'the untrusted request never reached the upstream';

# ---------------------------------------------------------------------------
# twilio_guard_url says which URL is signed, not how the request arrived

my $url_line = "        twilio_guard_url https://$HOST\$request_uri;\n";
my $trust_re = qr/^\s*twilio_guard_trusted_proxy[^\n]*\n/m;
(my $url_only = $guarded_conf) =~ s/$trust_re/$url_line/;
unlike $url_only, qr/twilio_guard_trusted_proxy/, 'a variant without trust';

$guarded->{http} = $url_only;
$guarded->write_conf;
ok $guarded->reload, 'reload: twilio_guard_url, no twilio_guard_trusted_proxy';
new_log_lines();

($code) = via_front(sig => sig($URL));
is $code, 403, 'twilio_guard_url alone, behind the front: 403';
is scalar(rejected('not_https')), 1,
   'logged as not_https: the URL does not make the request HTTPS';

(my $both = $guarded_conf) =~ s/($trust_re)/$1$url_line/;
$guarded->{http} = $both;
$guarded->write_conf;
ok $guarded->reload, 'reload: twilio_guard_url and twilio_guard_trusted_proxy';

($code) = via_front(sig => sig($URL));
is $code, 200, 'both directives: 200';
$hits++;

is backend_hits(), $hits,
   "the upstream saw exactly the genuine requests ($hits)";

$front->stop;
$guarded->stop;

for my $n ($front, $guarded) {
    my @bad = $n->bad_log_lines;
    is scalar(@bad), 0, "$n->{name}: no alert, crit, emerg or crash in the "
                        . 'error log' or diag @bad;
}

done_testing;
