# Token rotation by reload: "nginx -s reload" re-reads the token file, and
# requests sent while nginx reloads are all answered.  Plain Test::More: it
# runs its own nginx, so it needs TEST_NGINX_BINARY and
# TEST_NGINX_LOAD_MODULES like the Test::Nginx files (make test sets them).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Path qw(make_path remove_tree);
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep time);
use Test::More;
use Twilio::Backend;
use Twilio::Request;

my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $port = $ENV{TEST_NGINX_RELOAD_PORT} || 1988;
my $root = "$FindBin::Bin/servroot-reload";
my $OLD = '11111111111111111111111111111111';
my $NEW = '22222222222222222222222222222222';

remove_tree($root);
make_path("$root/conf", "$root/logs", "$root/tmp");

my $modules = join '', map { "load_module $_;\n" }
                       split ' ', $ENV{TEST_NGINX_LOAD_MODULES} // '';

open my $fh, '>', "$root/conf/nginx.conf" or die $!;
print $fh <<"EOC";
${modules}daemon on;
master_process on;
worker_processes 2;
error_log logs/error.log info;
pid logs/nginx.pid;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path tmp;
    proxy_temp_path tmp;
    server {
        listen 127.0.0.1:$port;
        location /sms {
            twilio_guard on;
            twilio_guard_https off;
            twilio_guard_auth_token_file $root/conf/tokens;
            twilio_guard_url https://example.com/sms;
            add_header X-Token \$twilio_guard_token always;
            proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_BACKEND_PORT};
        }
    }
}
EOC
close $fh;

sub tokens {
    open my $t, '>', "$root/conf/tokens.tmp" or die $!;
    print $t map { "$_\n" } @_;
    close $t;
    chmod 0600, "$root/conf/tokens.tmp";
    rename "$root/conf/tokens.tmp", "$root/conf/tokens" or die $!;
}

sub status {
    my ($token) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                  Timeout => 3) or return "connect: $!";
    print $s signed_request(body => "From=%2B1&Body=rotate", token => $token);
    local $/;
    my $r = <$s> // '';
    my ($code) = $r =~ m{^HTTP/1\.\d (\d+)};
    my ($tok) = $r =~ m{^X-Token: (\S*)}mi;
    return ($code // "no response") . (defined $tok ? " token=$tok" : '');
}

# nginx -s prints a notice on stderr; keep the test output clean
sub ngx {
    open my $save, '>&', \*STDERR or die $!;
    open STDERR, '>>', "$root/logs/signal.log" or die $!;
    my $rc = system($nginx, '-p', "$root/", '-c', 'conf/nginx.conf', @_);
    open STDERR, '>&', $save or die $!;
    return $rc == 0;
}

sub reload_and_wait {
    open my $p, '<', "$root/logs/nginx.pid" or die $!;
    chomp(my $pid = <$p>);
    my @before = workers($pid);
    ngx('-s', 'reload') or return 0;
    my $deadline = time + 10;
    while (time < $deadline) {
        my %old = map { $_ => 1 } @before;
        my @now = workers($pid);
        return 1 if @now && !grep { $old{$_} } @now;
        sleep 0.05;
    }
    return 0;
}

sub workers {
    my ($master) = @_;
    my @w;
    for my $d (glob '/proc/[0-9]*') {
        open my $st, '<', "$d/stat" or next;
        my @f = split ' ', scalar <$st>;
        push @w, $f[0] if $f[3] == $master;
    }
    return @w;
}

tokens($OLD);
ok ngx(), 'nginx starts with the old token';
sleep 0.3;

is status($OLD), '200 token=1', 'old token accepted';
is status($NEW), '403', 'new token not yet';

tokens($NEW, $OLD);
ok reload_and_wait(), 'reload with both tokens';
is status($NEW), '200 token=1', 'new token accepted after reload';
is status($OLD), '200 token=2', 'old token still accepted during the rotation';

tokens($NEW);
ok reload_and_wait(), 'reload with the new token only';
is status($NEW), '200 token=1', 'new token accepted';
is status($OLD), '403', 'old token refused after the rotation';

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
    ok ngx('-s', 'reload'), "reload $_ under load";
}
waitpid $pid, 0;
open my $f, '<', "$root/flood" or die $!;
my ($sent, $bad) = split ' ', scalar <$f>;
cmp_ok $sent, '>', 20, "requests sent during reloads ($sent)";
is $bad, 0, 'none failed';

ngx('-s', 'stop');
sleep 0.3;

open my $log, '<', "$root/logs/error.log" or die $!;
my @bad = grep { /\[(alert|crit|emerg)\]|exited on signal/ } <$log>;
is scalar(@bad), 0, 'no alert, crit or crash in the error log' or diag @bad;

done_testing;
