package Stress;

# Shared pieces of the util/stress scripts: where things live, one nginx
# per scenario (Twilio::Nginx with its prefix under build/stress/ and a
# configurable main/events part), a ~600-byte signed SMS webhook, VmRSS,
# child process bookkeeping and the final PASS/FAIL line.
#
# Environment (as for the test suite):
#   TEST_NGINX_BINARY        default /usr/sbin/nginx
#   TEST_NGINX_LOAD_MODULES  default build/ngx_http_twilio_guard_module.so

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use POSIX ();
use Time::HiRes qw(sleep time);

our ($REPO, $BUILD);

BEGIN {
    $REPO  = abs_path(dirname(__FILE__) . '/../../..');
    $BUILD = "$REPO/build/stress";
    unshift @INC, "$REPO/t/lib";
    $ENV{TEST_NGINX_BINARY}       ||= '/usr/sbin/nginx';
    $ENV{TEST_NGINX_LOAD_MODULES} ||= "$REPO/build/ngx_http_twilio_guard_module.so";
}

use Twilio::Nginx;
use Twilio::Sign qw(twilio_signature form_encode);

use Exporter ();
our @ISA = (q(Exporter));
our @EXPORT = qw($REPO $BUILD $TOKEN $URL $FORM sms_body sign forged_sig
                 vm_rss spawn reap_all finish need_tools check_module
                 log_section human_bytes);

our $TOKEN = '9f86d081884c7d659a2feaa0c55ad015';
our $URL   = 'https://example.com/sms';
our $FORM  = 'application/x-www-form-urlencoded';

# ---------------------------------------------------------------------------
# nginx

package Stress::Nginx;

use parent -norequire, 'Twilio::Nginx';

# Stress::Nginx->new(name => ..., port => ..., http => ..., workers => N,
#                    events => '...', main => '...', log_level => 'notice')
sub new {
    my ($class, %o) = @_;
    my $self = Twilio::Nginx::new($class, %o);
    $self->{root} = "$Stress::BUILD/$o{name}";
    $self->{events} //= 'worker_connections 4096;';
    $self->{main} //= '';
    $self->{log_level} //= 'notice';
    File::Path::make_path($Stress::BUILD);
    return $self;
}

sub write_conf {
    my ($self) = @_;
    my $modules = join '', map { "load_module $_;\n" }
                           split ' ', $ENV{TEST_NGINX_LOAD_MODULES} // '';
    my $user = Twilio::Nginx::user_directive();
    open my $fh, '>', "$self->{root}/conf/nginx.conf" or die $!;
    print $fh <<"EOC";
${modules}${user}daemon on;
master_process on;
worker_processes $self->{workers};
worker_rlimit_nofile 16384;
error_log logs/error.log $self->{log_level};
pid logs/nginx.pid;
$self->{main}
events { $self->{events} }
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

# The last lines of ctl.log (nginx -s / -t output), for failure messages.
sub ctl_log {
    my ($self) = @_;
    open my $fh, '<', "$self->{root}/logs/ctl.log" or return '';
    my @l = <$fh>;
    return join '', @l[ ($#l > 9 ? $#l - 9 : 0) .. $#l ];
}

sub count_log {
    my ($self, $re) = @_;
    return scalar grep { /$re/ } $self->log_lines;
}

package Stress;

# ---------------------------------------------------------------------------
# requests

# A realistic inbound-SMS webhook form body of about $len bytes (the Body
# parameter is padded to reach it).
sub sms_body {
    my ($len) = @_;
    $len //= 600;
    my @kv = (
        ToCountry     => 'US',
        ToState       => 'CA',
        SmsMessageSid => 'SM2a7b0c1d9e8f7a6b5c4d3e2f1a0b9c8d',
        NumMedia      => '0',
        ToCity        => 'SAN FRANCISCO',
        FromZip       => '94105',
        SmsSid        => 'SM2a7b0c1d9e8f7a6b5c4d3e2f1a0b9c8d',
        FromState     => 'CA',
        SmsStatus     => 'received',
        FromCity      => 'SAN FRANCISCO',
        FromCountry   => 'US',
        To            => '+14155550199',
        ToZip         => '94107',
        NumSegments   => '1',
        MessageSid    => 'SM2a7b0c1d9e8f7a6b5c4d3e2f1a0b9c8d',
        AccountSid    => 'AC0123456789abcdef0123456789abcdef',
        From          => '+14155550100',
        ApiVersion    => '2010-04-01',
    );
    my $text = "Caf\xC3\xA9 at 8? Stress test message, the quick brown fox "
             . "jumps over the lazy dog & pays \xE2\x82\xAC5. ";
    my ($pad, $i) = ('', 0);
    while (length(form_encode(@kv, Body => $pad)) < $len) {
        $pad .= $i < length $text ? substr($text, $i, 1) : 'x';
        $i++;
    }
    return form_encode(@kv, Body => $pad);
}

sub sign {
    my ($body, %o) = @_;
    return twilio_signature($o{token} // $TOKEN, $o{url} // $URL,
                            $body, $o{ct} // $FORM);
}

# A well-formed signature (28 base64 characters) that does not match.
sub forged_sig {
    my ($body) = @_;
    return sign($body, token => 'ffffffffffffffffffffffffffffffff');
}

# ---------------------------------------------------------------------------
# processes

my %CHILD;      # pid => name, everything started by spawn()
my $MAIN = $$;

# spawn(name, [argv], stdout => file, stderr => file) -> pid
sub spawn {
    my ($name, $argv, %o) = @_;
    my $pid = fork;
    die "fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        if ($o{stdout}) { open STDOUT, '>', $o{stdout} or POSIX::_exit(127) }
        if ($o{stderr}) { open STDERR, '>', $o{stderr} or POSIX::_exit(127) }
        exec @$argv or POSIX::_exit(127);
    }
    $CHILD{$pid} = $name;
    return $pid;
}

# Wait for a child (with a deadline); returns its exit status or undef on
# timeout (the child is then killed).
sub wait_child {
    my ($pid, $timeout) = @_;
    my $deadline = time + $timeout;
    while (time < $deadline) {
        my $r = waitpid($pid, POSIX::WNOHANG());
        if ($r == $pid) {
            delete $CHILD{$pid};
            return $?;
        }
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
    delete $CHILD{$pid};
    return undef;
}

# The exit status of a child that has ended (reaped), or undef if it runs.
sub poll_child {
    my ($pid) = @_;
    return undef unless waitpid($pid, POSIX::WNOHANG()) == $pid;
    delete $CHILD{$pid};
    return $?;
}

sub reap_all {
    return unless $$ == $MAIN;
    for my $pid (keys %CHILD) {
        kill 'TERM', $pid;
    }
    my $deadline = time + 3;
    for my $pid (keys %CHILD) {
        while (waitpid($pid, POSIX::WNOHANG()) == 0 && time < $deadline) {
            sleep 0.02;
        }
        if (kill 0, $pid) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
        }
        delete $CHILD{$pid};
    }
}

sub vm_rss {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return undef;
    while (<$fh>) {
        return $1 if /^VmRSS:\s+(\d+)\s+kB/;
    }
    return undef;
}

# ---------------------------------------------------------------------------
# reporting

sub human_bytes {
    my ($n) = @_;
    return sprintf('%.1f GiB', $n / 2**30) if $n >= 2**30;
    return sprintf('%.1f MiB', $n / 2**20) if $n >= 2**20;
    return sprintf('%.1f KiB', $n / 2**10) if $n >= 2**10;
    return "$n B";
}

sub need_tools {
    my @missing = grep { system("command -v $_ >/dev/null 2>&1") != 0 } @_;
    return 1 unless @missing;
    print "missing tools: @missing (apt-get install wrk apache2-utils "
        . "nghttp2-client curl openssl)\n";
    return 0;
}

sub check_module {
    for my $m (split ' ', $ENV{TEST_NGINX_LOAD_MODULES}) {
        next if -f $m;
        print "module $m not found: run make first\n";
        return 0;
    }
    return 1;
}

# Prints the error-log lines that matter (at most 10).
sub log_section {
    my ($title, @lines) = @_;
    return unless @lines;
    print "  $title (", scalar(@lines), "):\n";
    print map { "    $_" } @lines[0 .. ($#lines > 9 ? 9 : $#lines)];
}

# finish($name, \@failures, $summary) prints "summary: ..." (the key
# figures, for util/stress/run-all) and the PASS/FAIL line, and exits.
sub finish {
    my ($name, $fails, $summary) = @_;
    print "summary: $summary\n" if defined $summary;
    if (@$fails) {
        print "FAIL $name: ", join('; ', @$fails), "\n";
        exit 1;
    }
    print "PASS $name\n";
    exit 0;
}

1;
