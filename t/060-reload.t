# Token rotation by reload: "nginx -s reload" re-reads the token file, and
# requests sent while nginx reloads are all answered.  Plain Test::More: it
# runs its own nginx, so it needs TEST_NGINX_BINARY and
# TEST_NGINX_LOAD_MODULES like the Test::Nginx files (make test sets them).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use POSIX ();
use Time::HiRes qw(sleep time);
use Test::More;
use Twilio::Backend;
use Twilio::Request;
use Twilio::Nginx;

my $port = $ENV{TEST_NGINX_RELOAD_PORT} || 1988;
my $OLD = '11111111111111111111111111111111';
my $NEW = '22222222222222222222222222222222';

my $n = Twilio::Nginx->new(name => 'reload', port => $port, workers => 2,
                           http => <<"EOC");
    server {
        listen 127.0.0.1:$port;
        location /sms {
            twilio_guard on;
            twilio_guard_https off;
            twilio_guard_auth_token_file tokens;
            twilio_guard_url https://example.com/sms;
            add_header X-Token \$twilio_guard_token always;
            proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_BACKEND_PORT};
        }
    }
EOC

my $root = $n->root;

sub tokens {
    open my $t, '>', "$root/conf/tokens.tmp" or die $!;
    print $t map { "$_\n" } @_;
    close $t;
    chmod 0600, "$root/conf/tokens.tmp";
    rename "$root/conf/tokens.tmp", "$root/conf/tokens" or die $!;
}

sub status {
    my ($token) = @_;
    my $r = $n->send(signed_request(body => "From=%2B1&Body=rotate",
                                    token => $token));
    my ($tok) = $r =~ m{^X-Token: (\S*)}mi;
    return Twilio::Nginx::status_of($r) . (defined $tok ? " token=$tok" : '');
}

# start() lays out the prefix; the token file goes into it afterwards
ok !$n->start, 'nginx refuses to start without its token file';
tokens($OLD);
ok $n->ctl, 'nginx starts with the old token';
sleep 0.3;

is status($OLD), '200 token=1', 'old token accepted';
is status($NEW), '403', 'new token not yet';

tokens($NEW, $OLD);
ok $n->reload, 'reload with both tokens';
is status($NEW), '200 token=1', 'new token accepted after reload';
is status($OLD), '200 token=2', 'old token still accepted during the rotation';

tokens($NEW);
ok $n->reload, 'reload with the new token only';
is status($NEW), '200 token=1', 'new token accepted';
is status($OLD), '403', 'old token refused after the rotation';

tokens('bad token line with too many fields');
ok !$n->ctl('-t'), 'a broken token file fails nginx -t';
ok kill('HUP', $n->master_pid), 'and a HUP to the master with it ...';
sleep 0.5;
is status($NEW), '200 token=1', '... keeps the running configuration';
tokens($NEW);

# requests keep flowing while nginx reloads
my $pid = fork // die $!;
if ($pid == 0) {
    my ($sent, $bad) = (0, 0);
    my $end = time + 3;
    while (time < $end) {
        $sent++;
        $bad++ unless status($NEW) eq '200 token=1';
    }
    open my $o, '>', "$root/flood" or POSIX::_exit(1);
    print $o "$sent $bad\n";
    close $o;
    POSIX::_exit(0);
}
for (1 .. 5) {
    sleep 0.3;
    ok $n->ctl('-s', 'reload'), "reload $_ under load";
}
waitpid $pid, 0;
open my $f, '<', "$root/flood" or die $!;
my ($sent, $bad) = split ' ', scalar <$f>;
cmp_ok $sent, '>', 20, "requests sent during reloads ($sent)";
is $bad, 0, 'none failed';

$n->stop;

my @bad = grep { !/invalid line 1 in token file/ } $n->bad_log_lines;
is scalar(@bad), 0, 'no alert, crit or crash in the error log' or diag @bad;

done_testing;
