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
use Digest::SHA ();
use Twilio::Sign;
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

    # no limit of nginx's own: twilio_guard_max_body is the only one
    server {
        listen 127.0.0.1:$port;
        server_name big;
        access_log logs/lifecycle.log lifecycle;
        client_max_body_size 0;

        twilio_guard on;
        twilio_guard_auth_token $token;
        twilio_guard_url https://example.com/sms;

        location / {
            proxy_pass http://127.0.0.1:$bport;
        }

        location /events {
            twilio_guard_url https://example.com\$request_uri;
            twilio_guard_max_body 1m;
            proxy_pass http://127.0.0.1:$bport;
        }

        location /hold {
            twilio_guard_dry_run on;
            client_body_buffer_size 64k;
            proxy_pass http://127.0.0.1:$hport;
        }

        location /store {
            client_body_buffer_size 1k;
            client_body_temp_path tmp/gone;
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
    (my $say = $got) =~ s/\s+/ /g;
    ok(($rc == 0 && $got eq $expect) || ($rc == 52 && $got =~ /\b000\z/),
       "HTTP/2, $name: answered ($expect) or reset, not left waiting "
       . "(curl $rc: $say)");
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

# the worker's memory: status fields of /proc/PID/status, in KiB
sub worker_kb {
    my ($field) = @_;
    my ($pid) = $n->workers or return 0;
    open my $fh, '<', "/proc/$pid/status" or return 0;
    while (<$fh>) {
        return $1 if /^\Q$field\E:\s+(\d+) kB/;
    }
    return 0;
}

# sends the pieces while watching for an early answer; returns the
# answer and how many pieces were sent before it came
sub send_watching {
    my ($pieces, $timeout, $delay) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die $!;
    my $sel = IO::Select->new($s);
    local $SIG{PIPE} = 'IGNORE';
    my ($buf, $sent) = ('', 0);
    for my $p (@$pieces) {
        last if $sel->can_read($sent && $delay ? $delay : 0);
        last unless defined syswrite $s, $p;
        $sent++;
    }
    my $deadline = time + $timeout;
    while (time < $deadline && $sel->can_read($deadline - time)) {
        my $r = sysread $s, my $chunk, 65536;
        last unless $r;
        $buf .= $chunk;
    }
    close $s;
    return ($buf, $sent);
}

# 2. memory: a 50 MB chunked body, with client_max_body_size 0, is not
#    read past twilio_guard_max_body, nor copied

{
    my $hwm = worker_kb('VmHWM');
    my $mb = 'a' x (1024 * 1024);
    my @pieces = (chunked_head('big', '/sms?mem', ct => $::FORM),
                  map({ sprintf("%x\r\n%s\r\n", length $mb, $mb) } 1 .. 50),
                  "0\r\n\r\n");
    my ($raw, $sent) = send_watching(\@pieces, 5);
    is Twilio::Nginx::status_of($raw), 413, '50 MB chunked body: 413';
    cmp_ok $sent, '<', 40,
           "50 MB chunked body: answered before the client sent it all "
           . "($sent of 52 pieces)";
    like logged('/sms?mem'), qr/ 413 body_too_large$/,
         '50 MB chunked body: body_too_large';
    my $grown = worker_kb('VmHWM') - $hwm;
    cmp_ok $grown, '<', 8 * 1024,
           "50 MB chunked body: the worker's peak memory grew by $grown KiB";
}

# 3. what the URL decides comes before the body: with bodySHA256 only
#    the URL is signed, and a body that is not a form needs bodySHA256;
#    such requests are answered while the client is still sending

{
    my $json = '{"EventType":"x","Data":"' . ('x' x 60000) . '"}';
    my $jurl = json_url('https://example.com/events?src=early', $json);
    (my $target = $jurl) =~ s{^https://example\.com}{};
    my $head = sub {
        my ($t, $sig) = @_;
        return "POST $t HTTP/1.1\r\nHost: big\r\n"
             . "Content-Type: application/json\r\n"
             . "X-Twilio-Signature: $sig\r\n"
             . "Content-Length: " . length($json) . "\r\n"
             . "Connection: close\r\n\r\n";
    };
    my @body = map { substr $json, $_ * 2000, 2000 }
               0 .. int(length($json) / 2000);

    backend_reset();

    my $forged = signature_for(url => $jurl, body => $json,
                               ct => 'application/json',
                               token => 'f' x 32);
    my ($raw, $sent) = send_watching([$head->($target, $forged), @body], 3,
                                     0.05);
    is Twilio::Nginx::status_of($raw), 403, 'forged bodySHA256: 403';
    cmp_ok $sent, '<', 10, "forged bodySHA256: answered before the body "
                           . "was sent ($sent of " . (@body + 1) . ' pieces)';
    like logged($target), qr/ 403 bad_signature$/,
         'forged bodySHA256: bad_signature';

    my $t2 = '/events?src=unsigned';
    my $sig2 = signature_for(url => "https://example.com$t2", body => $json,
                             ct => 'application/json');
    ($raw, $sent) = send_watching([$head->($t2, $sig2), @body], 3, 0.05);
    is Twilio::Nginx::status_of($raw), 403, 'JSON without bodySHA256: 403';
    cmp_ok $sent, '<', 10, "JSON without bodySHA256: answered before the "
                           . "body was sent ($sent pieces)";
    like logged($t2), qr/ 403 body_unsigned$/,
         'JSON without bodySHA256: body_unsigned';

    my $genuine = signature_for(url => $jurl, body => $json,
                                ct => 'application/json');
    ($raw) = send_watching([$head->($target, $genuine), @body], 3, 0.002);
    is Twilio::Nginx::status_of($raw), 200,
       'genuine bodySHA256: read, hashed, passed';
    like $raw, qr/^sha256: \Q${\ Digest::SHA::sha256_hex($json)}\E$/m,
         'genuine bodySHA256: the upstream got the body intact';
    is backend_hits(), 1, 'only the genuine one reached the upstream';
}

# 4. the check's scratch memory (parsed parameters, canonical strings:
#    several times the body) is freed at the verdict, not when the
#    upstream answers: 200 dry-run requests wait at an upstream that does
#    not answer

{
    my $form = join '&', ('a=b') x 15000;
    my $req = signed_request(body => $form, host => 'big', target => '/hold',
                             sig => signature_for(body => 'x=1'));
    my $rss = worker_kb('VmRSS');
    my @c;
    for (1 .. 200) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
            or last;
        syswrite $s, $req;
        push @c, $s;
    }
    my @held;
    my $sel = IO::Select->new($hold);
    my $deadline = time + 20;
    while (@held < @c && time < $deadline && $sel->can_read(1)) {
        push @held, $hold->accept;
    }
    is scalar(@held), 200, '200 dry-run requests wait at the upstream';
    my $grown = worker_kb('VmRSS') - $rss;
    cmp_ok $grown, '<', 40 * 1024,
           "200 waiting requests with 45 KB forms: the worker grew by "
           . "$grown KiB";
    close $_ for @c, @held;
}

# 5. a body nginx cannot store (its temporary file cannot be created):
#    500, an alert line, and body_unavailable

{
    my $gone = $n->root . '/tmp/gone';
    rmdir $gone or diag "rmdir $gone: $!";
    open my $fh, '>', $gone or die $!;
    close $fh;
    my $body = 'A=' . ('b' x 20000);
    my ($raw) = $n->send(signed_request(body => $body, host => 'big',
                                        target => '/store'), timeout => 4);
    is Twilio::Nginx::status_of($raw), 500, 'temp file cannot be written: 500';
    like logged('/store'), qr/ 500 body_unavailable$/,
         'temp file cannot be written: body_unavailable';
    ok scalar(grep { /\[alert\].*twilio_guard: body_unavailable: nginx could not store the request body/ }
                   $n->log_lines),
       'temp file cannot be written: an alert line says so';
}

$n->stop;

# expected: the temporary file of case 5, and its alert
my @bad = grep { !/tmp\/gone|could not store the request body/ }
          $n->bad_log_lines;
is scalar(@bad), 0, 'no alert, crit, emerg or crash in the error log'
    or diag @bad;

done_testing;
