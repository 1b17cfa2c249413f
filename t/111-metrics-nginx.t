# twilio_guard_metrics with several workers, across reloads, and scraped by
# a real Prometheus: every counter moves by exactly the number of requests
# that should move it, whichever worker served them; a reload keeps the
# counts of the labels it keeps; "promtool check metrics" accepts the
# exposition and "promtool check rules" the rules of docs/; Debian's
# prometheus, on loopback with a temporary data directory, reads the
# rejected-request counter through its HTTP API.  Plain Test::More.
#
# promtool and prometheus come from Debian's "prometheus" package: as root
# the test installs it (util/deps prometheus); otherwise it fails and
# says so.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use HTTP::Tiny;
use Time::HiRes qw(sleep time);
use Test::More;
use Twilio::Backend qw(:all);
use Twilio::Request;
use Twilio::Nginx;

my $port = $ENV{TEST_NGINX_METRICS_PORT} || 1975;
my $prom_port = $port + 1;
my $B = $ENV{TEST_NGINX_BACKEND_PORT};
my $repo = "$FindBin::Bin/..";

# promtool and prometheus, installed when missing and we may
if (!-x '/usr/bin/promtool' || !-x '/usr/bin/prometheus') {
    system("$repo/util/deps", 'prometheus') if $> == 0;
}
for my $tool (qw(promtool prometheus)) {
    -x "/usr/bin/$tool"
        or BAIL_OUT("/usr/bin/$tool is missing: run \"util/deps prometheus\" "
                    . "as root (it installs Debian's prometheus package)");
}

sub guarded {
    my (%o) = @_;
    my $extra = $o{extra} // '';
    return <<"EOC";
    twilio_guard_zone replays:1m;
    twilio_guard_zone sms:1m;
    server {
        # reuseport: the kernel spreads the connections over both workers
        listen 127.0.0.1:$port reuseport;
        add_header X-Worker \$pid always;
        location /sms {
            twilio_guard on;
            twilio_guard_https off;
            twilio_guard_metrics_label sms;
            twilio_guard_auth_token 00000000000000000000000000000000;
            twilio_guard_auth_token $TOKEN;
            twilio_guard_url https://example.com/sms;
            twilio_guard_replay zone=replays;
            proxy_pass http://127.0.0.1:$B;
        }
        location /voice {
            twilio_guard on;
            twilio_guard_https off;
            twilio_guard_dry_run on;
            twilio_guard_auth_token $TOKEN;
            twilio_guard_url https://example.com/sms;
            proxy_pass http://127.0.0.1:$B;
        }
        location /otp {
            twilio_guard_number phone;
            twilio_guard_limit zone=sms key=all 4/1h;
            proxy_pass http://127.0.0.1:$B;
        }
$extra
        location = /metrics {
            allow 127.0.0.1;
            deny all;
            twilio_guard_metrics;
        }
    }
EOC
}

my $n = Twilio::Nginx->new(name => 'metrics', port => $port, workers => 2,
                           http => guarded());

# the exposition: { 'name{labels}' => value }
sub scrape {
    my $raw = $n->send("GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n");
    my ($head, $body) = split /\r\n\r\n/, $raw, 2;
    my %v;
    for (split /\n/, $body // '') {
        next if /^#/;
        my ($k, $val) = /^(\S+\}) (\d+)$/ or next;
        $v{$k} = $val;
    }
    return wantarray ? (\%v, $head, $body) : \%v;
}

sub req_key {
    my ($loc, $result, $reason) = @_;
    return qq(nginx_twilio_guard_requests_total{location="$loc",)
         . qq(result="$result",reason="$reason"});
}

# what moved between two scrapes: { key => difference }, nonzero only
sub moved {
    my ($a, $b) = @_;
    my %d;
    for my $k (keys %$b) {
        next if $k =~ /^nginx_twilio_guard_zone_(entries|size_bytes)/;
        my $diff = $b->{$k} - ($a->{$k} // 0);
        $d{$k} = $diff if $diff;
    }
    return \%d;
}

# sends each request on its own connection, so both workers serve some
my %served;
sub send_all {
    my @st;
    for (@_) {
        my $r = $n->send($_);
        push @st, Twilio::Nginx::status_of($r);
        $served{$1}++ if $r =~ /^X-Worker: (\d+)/mi;
    }
    return \@st;
}

ok $n->start, 'nginx with 2 workers and twilio_guard_metrics';
my @w = $n->workers;
is scalar(@w), 2, 'two workers';

my $before = scrape();
ok exists $before->{ req_key('sms', 'rejected', 'bad_signature') },
   'the counters are there before any request';

# 20 unsigned, 10 forged, 15 signed (5 of them sent twice), 6 dry-run
my @unsigned = map { signed_request(body => "n=$_", sig => undef) } 1 .. 20;
my @forged = map { signed_request(body => "f=$_", sig => signature_for(body => 'x')) }
             1 .. 10;
my @signed = map { signed_request(body => "s=$_") } 1 .. 15;
my @again = @signed[0 .. 4];
my @dry = map { signed_request(body => "d=$_", target => '/voice',
                               sig => undef) } 1 .. 6;

my $st = send_all(@unsigned, @forged, @signed, @again, @dry);
is_deeply [ map { $_ // 0 } @$st ],
          [ (403) x 30, (200) x 15, (409) x 5, (200) x 6 ],
          'statuses: 30 rejected, 15 accepted, 5 replays, 6 let through';

is scalar(keys %served), 2, 'both workers served some of them';

my $after = scrape();
is_deeply moved($before, $after), {
    req_key('sms', 'rejected', 'no_signature')        => 20,
    req_key('sms', 'rejected', 'bad_signature')       => 10,
    req_key('sms', 'accepted', 'ok')                  => 15,
    req_key('sms', 'rejected', 'replayed')            => 5,
    req_key('/voice', 'dry_run', 'no_signature')      => 6,
    'nginx_twilio_guard_key_matches_total{location="sms",token="2"}' => 20,
}, 'every counter moved by the requests that should move it, no other';

is $after->{'nginx_twilio_guard_zone_entries{zone="replays"}'}, 15,
   'the replay zone holds the 15 accepted requests';

# a body never sent whole: counted when the client has gone
{
    my $pre = scrape();
    $n->send("POST /sms HTTP/1.1\r\nHost: localhost\r\n"
             . "Content-Type: $FORM\r\nX-Twilio-Signature: "
             . signature_for(body => 'a=1')
             . "\r\nContent-Length: 100\r\n\r\na=1", timeout => 0.5);
    my $d = {};
    for (1 .. 20) {
        $d = moved($pre, scrape());
        last if %$d;
        sleep 0.1;
    }
    is_deeply $d, { req_key('sms', 'rejected', 'body_unavailable') => 1 },
              'a client gone in the middle of its body: body_unavailable, once';
}

# the SMS guard, whichever worker serves: 4 numbers pass the limit of 4
# in all, 2 more are refused by it, 2 requests have no number
{
    my $pre = scrape();
    my @otp = map { "GET /otp?phone=%2B141555501$_ HTTP/1.0\r\n"
                    . "Host: localhost\r\n\r\n" } 10 .. 15;
    push @otp, ("GET /otp HTTP/1.0\r\nHost: localhost\r\n\r\n") x 2;
    is_deeply send_all(@otp), [ (200) x 4, (429) x 2, (400) x 2 ],
              '/otp: 4 passed, 2 limited, 2 without a number';
    my $k = 'nginx_twilio_guard_number_requests_total{location="/otp",';
    is_deeply moved($pre, scrape()), {
        $k . 'result="accepted",reason="ok"}'                       => 4,
        $k . 'result="rejected",reason="limited"}'                  => 2,
        $k . 'result="rejected",reason="number_missing"}'           => 2,
        'nginx_twilio_guard_limited_total{location="/otp",key="all"}' => 2,
    }, 'the number counters moved by the requests that should move them';
}

# promtool
my ($v, $head, $body) = scrape();
like $head, qr{^Content-Type: text/plain; version=0\.0\.4\r?$}mi,
     'text/plain; version=0.0.4';
my $dir = tempdir(CLEANUP => 1);
{
    open my $fh, '>', "$dir/metrics.txt" or die $!;
    print $fh $body;
}
my $out = `promtool check metrics < $dir/metrics.txt 2>&1`;
is $?, 0, 'promtool check metrics accepts the exposition' or diag $out;
$out = `promtool check rules $repo/docs/twilio-guard.rules.yml 2>&1`;
is $?, 0, 'promtool check rules accepts docs/twilio-guard.rules.yml'
    or diag $out;
like $out, qr/SUCCESS: 4 rules found/, 'four rules';

# methods
for my $m (qw(POST PUT DELETE OPTIONS)) {
    is Twilio::Nginx::status_of($n->send(
           "$m /metrics HTTP/1.0\r\nHost: x\r\nContent-Length: 0\r\n\r\n")),
       405, "$m /metrics: 405";
}
my $h = $n->send("HEAD /metrics HTTP/1.0\r\nHost: x\r\n\r\n");
like $h, qr{\A HTTP/1\.1\ 200 .* \r\n\r\n \z}sx, 'HEAD: 200, no body';

# reload, the same locations: all counts kept
my $pre = scrape();
ok $n->reload, 'reload, the same configuration';
is_deeply moved($pre, scrape()), {}, 'every count kept';

# reload with a new location, /sms relabelled: /voice kept, "sms" gone,
# "sms2" from zero
$n->{http} = guarded(extra => <<"EOL");
        location /fax {
            twilio_guard on;
            twilio_guard_https off;
            twilio_guard_auth_token $TOKEN;
            proxy_pass http://127.0.0.1:$B;
        }
EOL
$n->{http} =~ s/twilio_guard_metrics_label sms;/twilio_guard_metrics_label sms2;/;
$n->write_conf;
ok $n->reload, 'reload with another layout';
my $re = scrape();
is $re->{ req_key('/voice', 'dry_run', 'no_signature') }, 6,
   '/voice keeps its count across a change of layout';
is $re->{'nginx_twilio_guard_limited_total{location="/otp",key="all"}'}, 2,
   '/otp keeps its limited count across a change of layout';
is $re->{ req_key('sms2', 'accepted', 'ok') }, 0, 'the new label starts at 0';
is $re->{ req_key('/fax', 'rejected', 'no_signature') }, 0, 'so does /fax';
ok !exists $re->{ req_key('sms', 'accepted', 'ok') }, 'the old label is gone';
is_deeply send_all(map { signed_request(body => "z=$_", target => '/fax',
                                        sig => undef) } 1 .. 3),
          [403, 403, 403], '3 unsigned to /fax';
is scrape()->{ req_key('/fax', 'rejected', 'no_signature') }, 3,
   '... counted after the reload';

# a real Prometheus scrape
my $tsdb = tempdir(CLEANUP => 1);
{
    open my $fh, '>', "$tsdb/prometheus.yml" or die $!;
    print $fh <<"EOY";
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: twilio-guard
    metrics_path: /metrics
    static_configs:
      - targets: ['127.0.0.1:$port']
EOY
}
my $pid = fork // die "fork: $!";
if (!$pid) {
    open STDOUT, '>', "$tsdb/prometheus.log";
    open STDERR, '>&', \*STDOUT;
    exec '/usr/bin/prometheus', "--config.file=$tsdb/prometheus.yml",
         "--storage.tsdb.path=$tsdb/data",
         "--web.listen-address=127.0.0.1:$prom_port";
    exit 127;
}
my $http = HTTP::Tiny->new(timeout => 5);
my $q = 'nginx_twilio_guard_requests_total{location="/fax",'
      . 'result="rejected",reason="no_signature"}';
my $got;
my $deadline = time + 60;
while (time < $deadline) {
    my $res = $http->get("http://127.0.0.1:$prom_port/api/v1/query?query="
                         . $http->www_form_urlencode({ q => $q }) =~ s/^q=//r);
    if ($res->{success}
        && $res->{content} =~ /"value":\[[\d.]+,"(\d+)"\]/) {
        $got = $1;
        last if $got == 3;
    }
    sleep 0.5;
}
is $got, 3, 'Prometheus reads the rejected-request counter: 3'
    or diag `tail -20 $tsdb/prometheus.log`;
kill 'TERM', $pid;
waitpid $pid, 0;

is_deeply [ $n->bad_log_lines ], [], 'no alert, crit or crash';

# a restart starts from zero
$n->stop;
ok $n->start, 'restart';
is scrape()->{ req_key('/fax', 'rejected', 'no_signature') }, 0,
   'a restart starts from zero';
$n->stop;

done_testing;
