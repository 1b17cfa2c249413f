# The hardened webhook location of docs/deployment.md ("Hardening"), run
# as written: this file reads the configuration from the document and
# replaces only addresses, ports and file paths.
#
# Over HTTPS: a genuine webhook reaches the upstream; a body over
# client_max_body_size gets 413 from nginx and never reaches the guard's
# checks or the upstream; a burst of forged requests from one address is
# answered 403 while limit_req lets them through, then 429, and none of
# them reaches the upstream.
#
# Plain Test::More with one nginx (Twilio::Nginx), like t/091-front-end.t.
# Port: TEST_NGINX_HARDENED_PORT (1994).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp ();
use Test::More;
use Twilio::Backend qw(:all);
use Twilio::Cert;
use Twilio::Nginx;
use Twilio::Secrets;
use Twilio::Sign qw(twilio_signature);

my $port = $ENV{TEST_NGINX_HARDENED_PORT} || 1994;
my $bport = $ENV{TEST_NGINX_BACKEND_PORT};
my $certs = $ENV{TEST_NGINX_CERT_DIR};

my $TOKEN = '7c4a8d09ca3762af61e59520943dc264';
my $FORM = 'application/x-www-form-urlencoded';
my $SMS = 'MessageSid=SM0123456789abcdef0123456789abcdef'
        . '&From=%2B14155550100&To=%2B14155550199&Body=hardened';
my $URL = "https://hooks.example.com:$port/twilio/sms";

my $tokens = secret_file('hardening.tokens', "$TOKEN\n");

my $doc_path = "$FindBin::Bin/../docs/deployment.md";
open my $fh, '<', $doc_path or BAIL_OUT("$doc_path: $!");
my $doc = do { local $/; <$fh> };
close $fh;

$doc =~ /^<!-- t\/093-hardening\.t: hardened -->\n```nginx\n(.*?)^```$/ms
    or BAIL_OUT('no "<!-- t/093-hardening.t: hardened -->" block followed '
                . 'by an nginx code block in docs/deployment.md');
my $conf = $1;

for my $pair (['listen       443 ssl;' => "listen 127.0.0.1:$port ssl;"],
              ['/etc/ssl/hooks.example.com.pem' => "$certs/cert.pem"],
              ['/etc/ssl/hooks.example.com.key' => "$certs/key.pem"],
              ['/etc/nginx/twilio.tokens' => $tokens],
              ['127.0.0.1:3000' => "127.0.0.1:$bport"])
{
    my ($from, $to) = @$pair;
    ok index($conf, $from) >= 0, "the document's block has \"$from\""
        or BAIL_OUT("docs/deployment.md changed: update t/093-hardening.t");
    $conf =~ s/\Q$from\E/$to/g;
}
unlike $conf, qr{/etc/}, 'every system path replaced';

my $n = Twilio::Nginx->new(name => 'hardened', port => $port, http => $conf);
ok $n->start, 'nginx starts with the documented configuration'
    or BAIL_OUT('nginx did not start');

# POSTs $body $count times over HTTPS on one keep-alive connection;
# returns the status codes
sub post {
    my ($body, $sig, $count) = @_;
    my $tmp = File::Temp->new;
    print $tmp $body;
    close $tmp;
    open my $c, '-|', 'curl', '-sk', '--max-time', '20',
         '--resolve', "hooks.example.com:$port:127.0.0.1",
         '-H', "Content-Type: $FORM", '-H', "X-Twilio-Signature: $sig",
         '--data-binary', '@' . $tmp->filename,
         '-w', '\nSTATUS:%{http_code}\n', ($URL) x ($count // 1)
        or die "curl: $!";
    my @codes = map { /^STATUS:(\d+)$/ ? $1 + 0 : () } <$c>;
    close $c;
    return wantarray ? @codes : $codes[0] // 0;
}

backend_reset();

my $sig = twilio_signature($TOKEN, $URL, $SMS, $FORM);
is post($SMS, $sig), 200, 'a genuine webhook passes the hardened location';
is backend_hits(), 1, '... and reaches the upstream';

my $big = $SMS . '&Pad=' . ('x' x (65 * 1024));
is post($big, twilio_signature($TOKEN, $URL, $big, $FORM)), 413,
   'a signed body over client_max_body_size: 413';
is backend_hits(), 1, '... it never reaches the upstream';

# a burst from one address: 403 while limit_req lets requests through,
# then 429; the burst of 100 plus 50 r/s cannot let 200 quick ones pass
my %codes;
my $forged = twilio_signature('f' x 32, $URL, $SMS, $FORM);
$codes{$_}++ for post($SMS, $forged, 200);

ok $codes{403}, "forged requests are answered 403 ($codes{403} of 200)";
ok $codes{429}, "the burst is cut by limit_req with 429 (${\ ($codes{429} // 0)} of 200)";
is scalar(grep { $_ != 403 && $_ != 429 } keys %codes), 0,
   'no other status: ' . join(', ', map { "$_ x$codes{$_}" } sort keys %codes);
is backend_hits(), 1, 'no forged request reached the upstream';

my @lines = grep { /twilio_guard: rejected: bad_signature/ } $n->log_lines;
ok @lines >= 1, 'rejections are logged';
like $lines[0] // '', qr/\[notice\]/, '... at twilio_guard_log_level notice';
is scalar($n->bad_log_lines), 0, 'no [alert], [crit] or crash in the log';

$n->stop;

done_testing;
