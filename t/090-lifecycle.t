# The request's life around the guard, against one running nginx: every
# failure of the body read ends in an answer and a reason (also after an
# error_page redirect, over HTTP/1.1 and HTTP/2, in a dry run), the cost
# of a request is bounded by twilio_guard_max_body, cheap rejections come
# before the body is read, and the memory used for checking is freed at
# the verdict.  Plain Test::More with its own nginx, like t/080-hostile.t.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(sleep time);
use Twilio::Backend qw(:all);
use Twilio::Request;
use Twilio::Nginx;

my $port = $ENV{TEST_NGINX_LIFECYCLE_PORT} || 1987;
my $h2port = $port + 100;
my $bport = $ENV{TEST_NGINX_BACKEND_PORT};
my $token = '9f86d081884c7d659a2feaa0c55ad015';

# an upstream that accepts and never answers: requests that passed wait
# there, holding whatever they still hold
my $hold = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                 Listen => 512, ReuseAddr => 1)
    or BAIL_OUT("hold socket: $!");
my $hport = $hold->sockport;

my $n = Twilio::Nginx->new(name => 'lifecycle', port => $port, http => <<"EOC");
    # long timeouts: a request left hanging is not rescued within a test
    client_body_timeout 30s;
    client_body_buffer_size 8k;
    client_max_body_size 16k;
    twilio_guard_https off;

    log_format lifecycle '\$request_uri \$status \$twilio_guard_result';

    # the documented "guard a whole server" pattern, with an error page
    # and a catch-all location
    server {
        listen 127.0.0.1:$port;
        listen 127.0.0.1:$h2port http2;
        server_name whole;
        access_log logs/lifecycle.log lifecycle;

        twilio_guard on;
        twilio_guard_auth_token $token;
        twilio_guard_url https://example.com/sms;

        error_page 400 413 /error.html;

        location / {
            proxy_pass http://127.0.0.1:$bport;
        }

        location /small/ {
            twilio_guard_max_body 4k;
            proxy_pass http://127.0.0.1:$bport;
        }
    }

    # the same in a dry run
    server {
        listen 127.0.0.1:$port;
        listen 127.0.0.1:$h2port http2;
        server_name dry;
        access_log logs/lifecycle.log lifecycle;

        twilio_guard on;
        twilio_guard_dry_run on;
        twilio_guard_auth_token $token;
        twilio_guard_url https://example.com/sms;

        error_page 400 413 /error.html;

        location / {
            proxy_pass http://127.0.0.1:$bport;
        }
    }
EOC

ok $n->start, 'nginx starts' or BAIL_OUT('nginx did not start');

my $SMS = 'From=%2B14155550100&To=%2B14155550199&Body=Hello+there';
my $sig = signature_for(body => $SMS);

# the last access log line for a request target
sub logged {
    my ($uri) = @_;
    my $deadline = time + 2;
    while (time < $deadline) {
        if (open my $fh, '<', $n->root . '/logs/lifecycle.log') {
            my @l = grep { /^\Q$uri\E / } <$fh>;
            if (@l) {
                chomp(my $l = $l[-1]);
                return $l;
            }
        }
        sleep 0.05;
    }
    return '';
}

sub chunked_head {
    my ($host, $target, %o) = @_;
    return "POST $target HTTP/1.1\r\nHost: $host\r\n"
         . "Content-Type: $o{ct}\r\n"
         . "X-Twilio-Signature: " . ($o{sig} // $sig) . "\r\n"
         . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
}

# a chunked body that starts well and fails after a delay, so that the
# failure happens while the body handler is waiting for data
sub h1_late {
    my ($name, $host, $target, $tail, $expect, $reason) = @_;
    my $first = sprintf("%x\r\n%s\r\n", length $SMS, $SMS);
    my ($raw, $secs) = $n->send([chunked_head($host, $target,
                                              ct => $::FORM), $first, $tail],
                                delay => 0.3, timeout => 4);
    is Twilio::Nginx::status_of($raw), $expect, "HTTP/1.1, $name: status";
    cmp_ok $secs, '<', 3, "HTTP/1.1, $name: answered in time";
    like logged($target), qr/^\Q$target\E $expect \Q$reason\E$/,
         "HTTP/1.1, $name: \$twilio_guard_result is $reason";
}

# the same over HTTP/2 (h2c with prior knowledge): curl streams its
# standard input as DATA frames, with no length announced.  nginx may
# reset the stream before curl reads the early answer (curl then says
# "Empty reply from server", with or without the guard): what counts is
# that curl was not left waiting, and the status and reason nginx logged.
sub h2_late {
    my ($name, $host, $target, $size, $expect, $reason) = @_;
    my $out = $n->root . '/curl.out';
    local $SIG{PIPE} = 'IGNORE';
    open my $c, '|-', "curl -sS --http2-prior-knowledge --max-time 4 "
        . "-o /dev/null -w '%{http_code}' -X POST -T - "
        . "-H 'Host: $host' -H 'Content-Type: $::FORM' "
        . "-H 'X-Twilio-Signature: $sig' "
        . "http://127.0.0.1:$h2port$target >$out 2>&1"
        or die "curl: $!";
    my $start = time;
    syswrite $c, $SMS;
    sleep 0.3;
    syswrite $c, 'a' x $size;
    close $c;
    my $rc = $? >> 8;
    my $secs = time - $start;
    open my $fh, '<', $out or die $!;
    my $got = do { local $/; <$fh> } // '';
    ok(($rc == 0 && $got eq $expect) || ($rc == 52 && $got =~ /\b000\z/),
       "HTTP/2, $name: answered ($expect) or reset, not left waiting "
       . "(curl $rc: $got)");
    cmp_ok $secs, '<', 3, "HTTP/2, $name: in time";
    like logged($target), qr/^\Q$target\E $expect \Q$reason\E$/,
         "HTTP/2, $name: status $expect, \$twilio_guard_result is $reason";
}

$::FORM = 'application/x-www-form-urlencoded';

backend_reset();

# 1. the body read fails after the access handler returned NGX_DONE, and
#    the error page's internal redirect comes back into the guard

h1_late('over client_max_body_size', 'whole', '/sms?h1-size',
        sprintf("%x\r\n%s\r\n", 20000, 'a' x 20000), 413,
        'body_unavailable');
h1_late('an invalid chunk', 'whole', '/sms?h1-chunk', "zz\r\nabc\r\n", 400,
        'body_unavailable');
h1_late('over twilio_guard_max_body', 'whole', '/small/sms?h1-max',
        sprintf("%x\r\n%s\r\n", 8000, 'a' x 8000), 413, 'body_too_large');
is backend_hits(), 0, 'HTTP/1.1: the upstream saw none of them';

h2_late('over client_max_body_size', 'whole', '/sms?h2-size', 20000, 413,
        'body_unavailable');
h2_late('over twilio_guard_max_body', 'whole', '/small/sms?h2-max', 8000,
        413, 'body_too_large');
is backend_hits(), 0, 'HTTP/2: the upstream saw none of them';

# in a dry run the error page is served as it would be without the guard
h1_late('dry run, over client_max_body_size', 'dry', '/sms?h1-dry',
        sprintf("%x\r\n%s\r\n", 20000, 'a' x 20000), 413,
        'body_unavailable');
h2_late('dry run, over client_max_body_size', 'dry', '/sms?h2-dry', 20000,
        413, 'body_unavailable');

$n->stop;

my @bad = $n->bad_log_lines;
is scalar(@bad), 0, 'no alert, crit, emerg or crash in the error log'
    or diag @bad;

done_testing;
