package Twilio::Nginx;

# A small nginx launcher for the plain Test::More files that need one
# nginx for a whole scenario (reloads, hostile clients, load), where
# Test::Nginx restarts nginx for every block.  Uses the same environment:
# TEST_NGINX_BINARY and TEST_NGINX_LOAD_MODULES.
#
#   my $n = Twilio::Nginx->new(name => 'hostile', port => 1989,
#                              http => $http_block_body);
#   $n->start; $n->reload; $n->stop;
#   my $raw = $n->send($bytes, timeout => 5);   # the raw response
#   my @bad = $n->bad_log_lines;               # [alert], [crit], crashes
#
# The workers run as the invoking user (as root: "user root;", like
# Test::Nginx does), so they can write tmp/ and read the files of a clone
# in a directory nobody else may search (mode 0700, e.g. root's home or
# mktemp -d).  TEST_NGINX_WORKER_USER names another user.

use strict;
use warnings;

use File::Path qw(make_path remove_tree);
use FindBin;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(sleep time);

sub new {
    my ($class, %o) = @_;
    my $self = bless { %o }, $class;
    $self->{nginx} = $ENV{TEST_NGINX_BINARY} || 'nginx';
    $self->{root} = "$FindBin::Bin/servroot-$o{name}";
    $self->{workers} //= 1;
    return $self;
}

# The "user" line for the main context, or nothing when nginx is not
# started as root (then the workers keep the invoking user anyway).
sub user_directive {
    my $u = $ENV{TEST_NGINX_WORKER_USER};
    if (defined $u && $u ne '') {
        $u =~ /\A\w[-\w]*(?:\s+\w[-\w]*)?\z/
            or die "bad TEST_NGINX_WORKER_USER value: $u\n";
        return "user $u;\n";
    }
    return $> == 0 ? "user root;\n" : '';
}

sub root { $_[0]{root} }
sub port { $_[0]{port} }

sub write_conf {
    my ($self) = @_;
    my $root = $self->{root};
    my $modules = join '', map { "load_module $_;\n" }
                           split ' ', $ENV{TEST_NGINX_LOAD_MODULES} // '';
    my $user = user_directive();
    open my $fh, '>', "$root/conf/nginx.conf" or die $!;
    print $fh <<"EOC";
${modules}${user}daemon on;
master_process on;
worker_processes $self->{workers};
error_log logs/error.log info;
pid logs/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
$self->{http}
}
EOC
    close $fh;
}

sub ctl {
    my ($self, @args) = @_;
    open my $save, '>&', \*STDERR or die $!;
    open STDERR, '>>', "$self->{root}/logs/ctl.log" or die $!;
    my $rc = system($self->{nginx}, '-p', "$self->{root}/",
                    '-c', 'conf/nginx.conf', @args);
    open STDERR, '>&', $save or die $!;
    return $rc == 0;
}

sub start {
    my ($self) = @_;
    remove_tree($self->{root});
    make_path(map { "$self->{root}/$_" } qw(conf logs tmp html));
    $self->write_conf;
    $self->ctl or return 0;
    my $deadline = time + 5;
    # the master listens before it forks the workers: wait for both
    while (time < $deadline) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$self->{port}");
        return 1 if $s && $self->workers;
        sleep 0.05;
    }
    return 0;
}

sub master_pid {
    my ($self) = @_;
    open my $p, '<', "$self->{root}/logs/nginx.pid" or return undef;
    chomp(my $pid = <$p>);
    return $pid;
}

sub workers {
    my ($self) = @_;
    my $master = $self->master_pid // return ();
    my @w;
    for my $d (glob '/proc/[0-9]*') {
        open my $st, '<', "$d/stat" or next;
        my $line = <$st> // next;
        $line =~ s/^\d+ \(.*?\) //;
        my @f = split ' ', $line;
        push @w, (split m{/}, $d)[-1] if $f[1] == $master;
    }
    return @w;
}

# reload and wait until all old workers are gone
sub reload {
    my ($self) = @_;
    my %old = map { $_ => 1 } $self->workers;
    $self->ctl('-s', 'reload') or return 0;
    my $deadline = time + 10;
    while (time < $deadline) {
        my @now = $self->workers;
        return 1 if @now && !grep { $old{$_} } @now;
        sleep 0.05;
    }
    return 0;
}

sub stop {
    my ($self) = @_;
    my $pid = $self->master_pid or return;
    $self->ctl('-s', 'stop');
    my $deadline = time + 5;
    sleep 0.05 while kill(0, $pid) && time < $deadline;
}

# Sends the pieces (a string or an array ref of strings, with delay
# seconds between them) and returns what came back until the server
# closed the connection or the timeout passed, and the seconds it took.
sub send {
    my ($self, $pieces, %o) = @_;
    my $timeout = $o{timeout} // 5;
    my $start = time;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$self->{port}",
                                  Timeout => $timeout) or return ('', 0);
    $s->autoflush(1);
    $pieces = [$pieces] unless ref $pieces;
    local $SIG{PIPE} = 'IGNORE';
    for my $i (0 .. $#$pieces) {
        sleep $o{delay} if $i && $o{delay};
        last unless defined $s->send($pieces->[$i]);
    }
    shutdown($s, 1) if $o{half_close};
    my $sel = IO::Select->new($s);
    my $buf = '';
    while (time - $start < $timeout) {
        last unless $sel->can_read($timeout - (time - $start));
        my $n = sysread $s, my $chunk, 65536;
        last unless $n;
        $buf .= $chunk;
    }
    close $s;
    return wantarray ? ($buf, time - $start) : $buf;
}

# sends all the requests at once, each on its own connection; how many
# answers had each status ({ 200 => 10, 429 => 50 })
sub burst {
    my ($self, @reqs) = @_;
    my @s = map {
        IO::Socket::INET->new(PeerAddr => "127.0.0.1:$self->{port}",
                              Timeout => 10) or die "connect: $!"
    } @reqs;
    syswrite $s[$_], $reqs[$_] for 0 .. $#reqs;
    my %st;
    for my $s (@s) {
        my $r = '';
        my $deadline = time + 15;
        while (time < $deadline) {
            my $got = sysread $s, my $chunk, 65536;
            last unless $got;
            $r .= $chunk;
        }
        $st{ status_of($r) }++;
        close $s;
    }
    return \%st;
}

# the status of an answer and its X-Result header: "429 limited"
sub verdict_of {
    my ($raw) = @_;
    my ($res) = $raw =~ m{^X-Result: (\S*)}mi;
    return status_of($raw) . (defined $res ? " $res" : '');
}

sub status_of {
    my ($raw) = @_;
    my @codes = $raw =~ m{^HTTP/\d\.\d (\d{3})}mg;
    return wantarray ? @codes : $codes[0] // 0;
}

sub log_lines {
    my ($self) = @_;
    open my $log, '<', "$self->{root}/logs/error.log" or return ();
    return <$log>;
}

sub bad_log_lines {
    my ($self) = @_;
    return grep { /\[(alert|crit|emerg)\]|exited on signal|AddressSanitizer|runtime error/ }
           $self->log_lines;
}

1;
