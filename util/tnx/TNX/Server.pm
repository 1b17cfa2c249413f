package TNX::Server;

# Private helper of the bundled Test::Nginx::Socket work-alike (see
# util/tnx/Test/Nginx/Socket.pm).  Owns the run-time settings, the server
# root layout, nginx.conf generation and the nginx process life cycle.
#
# Written from scratch for ngx_twilio_guard; not derived from Test::Nginx code.

use strict;
use warnings;

use Cwd ();
use File::Path qw(make_path remove_tree);
use File::Spec ();
use IO::Socket::INET ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

# ---------------------------------------------------------------------------
# Settings (package variables so that the public API can tweak them)
# ---------------------------------------------------------------------------

our $Binary            = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $ServerAddr        = '127.0.0.1';
our $ServerName        = 'localhost';
our $Port              = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our $ClientPort        = $ENV{TEST_NGINX_CLIENT_PORT} || $Port;
our $Timeout           = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $SleepStep         = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $Verbose           = $ENV{TEST_NGINX_VERBOSE};
our $Workers           = 1;
our $WorkerConnections = 64;
our $LogLevel          = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcess     = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $Daemon            = 'on';
our $NoRootLocation    = 0;
our $ConfigPreamble    = '';
our @EnvToNginx;
our $LoadModules       = $ENV{TEST_NGINX_LOAD_MODULES};
our $UseValgrind       = $ENV{TEST_NGINX_USE_VALGRIND};
our $ValgrindFirstErr  = $ENV{TEST_NGINX_VALGRIND_EXIT_ON_FIRST_ERR};
our $EventType         = $ENV{TEST_NGINX_EVENT_TYPE};
our $PostponeOutput    = $ENV{TEST_NGINX_POSTPONE_OUTPUT};
our $ReusePort         = $ENV{TEST_NGINX_REUSE_PORT};
our $WorkerUser        = $ENV{TEST_NGINX_WORKER_USER};
our $FastShutdown      = $ENV{TEST_NGINX_FAST_SHUTDOWN};
our $NoClean           = $ENV{TEST_NGINX_NO_CLEAN};
our $NoNginxManager    = $ENV{TEST_NGINX_NO_NGINX_MANAGER} || 0;
our $CheckAccumErrLog  = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $ForceRestart      = defined $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST}
                         ? $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST} : 1;
our $Randomize         = $ENV{TEST_NGINX_RANDOMIZE};
our $FilterHttpConfig;  # set_http_config_filter()

if (defined $WorkerUser && $WorkerUser !~ /^\w[-\w]+(?:\s+\w[-\w]+)?$/) {
    die "bad TEST_NGINX_WORKER_USER value: $WorkerUser\n";
}

if ($UseValgrind) {
    # valgrind must see the real server process: keep it in the foreground
    $Daemon = 'off';
}

# filled in lazily by nginx_version()
our ($NginxVersion, $NginxRawVersion, $OpenSSLVersion, $NginxV);

our ($ServRoot, $LogDir, $ErrLogFile, $AccLogFile, $HtmlDir, $ConfDir,
     $ConfFile, $PidFile, $CacheDir, $ValgrindLog);

# run-time state
our $ErrLogPos = 0;     # read offset into error.log for the current block
our $ChildPid;          # nginx (or valgrind) process we forked (foreground mode)
our $StartedHere = 0;   # did this process start an nginx at all?
our $OwnPid;            # pid of the nginx this process started last
our $RandPorts = {};    # $TEST_NGINX_RAND_PORT_N values of the current block

sub pick_free_port {
    my ($used) = @_;
    $used ||= {};
    for (1 .. 1000) {
        my $p = 1988 + int rand(65535 - 1988);
        next if $used->{$p};
        my $s = IO::Socket::INET->new(LocalAddr => $ServerAddr, LocalPort => $p,
                                      Proto => 'tcp', Listen => 1, ReuseAddr => 1);
        if ($s) {
            close $s;
            return $p;
        }
    }
    return undef;
}

if ($Randomize) {
    my $p = pick_free_port();
    die "TEST_NGINX_RANDOMIZE: no free port found\n" unless defined $p;
    $Port = $ClientPort = $p;
}

sub set_server_root {
    my ($root) = @_;
    $ServRoot   = File::Spec->rel2abs($root);
    $LogDir     = "$ServRoot/logs";
    $ErrLogFile = "$LogDir/error.log";
    $AccLogFile = "$LogDir/access.log";
    $HtmlDir    = "$ServRoot/html";
    $ConfDir    = "$ServRoot/conf";
    $ConfFile   = "$ConfDir/nginx.conf";
    $PidFile    = "$LogDir/nginx.pid";
    $ValgrindLog = "$LogDir/valgrind.log";
    $CacheDir   = "$ServRoot/cache";
    $ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;
}

set_server_root($Randomize ? "t/servroot_$Port"
                           : ($ENV{TEST_NGINX_SERVROOT} || 't/servroot'));

# ---------------------------------------------------------------------------
# small utilities
# ---------------------------------------------------------------------------

sub bail {
    require Test::Nginx::Socket;
    Test::Nginx::Socket::bail_out(@_);
}

sub vlog {
    warn @_ if $Verbose;
}

sub parse_time {
    my ($t) = @_;
    return undef unless defined $t;
    $t =~ s/^\s+|\s+$//g;
    if ($t =~ /^(.*[^_a-zA-Z])ms$/) {
        return $1 / 1000;
    }
    $t =~ s/([^_a-zA-Z])s$/$1/;
    return $t;
}

sub canon_version {
    my ($maj, $min, $patch) = @_;
    return sprintf "%d.%03d%03d", $maj, $min, $patch;
}

sub shell_quote {
    my ($s) = @_;
    return $s if $s =~ m{^[-\w./:=@%+,]+$};
    $s =~ s/'/'\\''/g;
    return "'$s'";
}

sub find_in_path {
    my ($cmd) = @_;
    my ($prog) = split ' ', $cmd;
    return undef unless defined $prog;
    if ($prog =~ m{/}) {
        return (-f $prog && -x _) ? $prog : undef;
    }
    for my $d (split /:/, $ENV{PATH} || '') {
        next if $d eq '';
        return "$d/$prog" if -f "$d/$prog" && -x _;
    }
    return undef;
}

sub nginx_version {
    return $NginxVersion if defined $NginxVersion;
    if (!find_in_path($Binary)) {
        bail("cannot find the nginx executable \"$Binary\" (set TEST_NGINX_BINARY or PATH)");
    }
    my $out = `$Binary -V 2>&1`;
    if (!defined $out || $? != 0) {
        bail("failed to run \"$Binary -V\": " . ($out // ''));
    }
    $NginxV = $out;
    if ($out =~ m{built with OpenSSL (\d+)\.(\d+)\.(\d+)([a-z]?)}) {
        $OpenSSLVersion = canon_version($1, $2, $3);
        $OpenSSLVersion .= sprintf "%03d", ord($4) - ord('a') if length $4;
    }
    if ($out =~ m{(?:nginx|openresty)[^/\s]*/(\d+)\.(\d+)\.(\d+)}
        || $out =~ m{\w+/(\d+)\.(\d+)\.(\d+)})
    {
        $NginxRawVersion = "$1.$2.$3";
        $NginxVersion = canon_version($1, $2, $3);
        return $NginxVersion;
    }
    bail("cannot parse the output of \"$Binary -V\": $out");
}

# Replace every $TEST_NGINX_FOO by the environment value (bail when unset);
# $TEST_NGINX_RAND_PORT_N picks a free port, stable within one block.
sub expand_env {
    my ($text, $name) = @_;
    return undef unless defined $text;
    my $rp = $RandPorts;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        my $val;
        if ($var =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
            if (!defined $rp->{$var}) {
                my %used = ($Port => 1, map { $_ => 1 } values %$rp);
                my $p = pick_free_port(\%used);
                bail("$name - cannot find a free port for \$$var") unless defined $p;
                $rp->{$var} = $p;
            }
            $val = $rp->{$var};
        } else {
            bail("$name - No environment $var defined.") unless defined $ENV{$var};
            $val = $ENV{$var};
        }
        $val;
    }ge;
    return $text;
}

# ---------------------------------------------------------------------------
# server root
# ---------------------------------------------------------------------------

sub setup_server_root {
    if (-d $ServRoot) {
        # only remove what we create ourselves, then rmdir (refuses when the
        # directory holds anything else, protecting a mis-pointed SERVROOT)
        remove_tree($ConfDir, $CacheDir, $HtmlDir, $LogDir,
                    glob("$ServRoot/*_cache"), glob("$ServRoot/*_temp"));
        rmdir $ServRoot
            or bail("Can't remove $ServRoot (not empty?): $!");
    }
    for my $d ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        make_path($d);
        -d $d or bail("failed to create directory $d");
    }
    open my $fh, '>', "$HtmlDir/index.html"
        or bail("cannot write $HtmlDir/index.html: $!");
    print $fh "<html><head><title>It works!</title></head>"
            . "<body>It works!</body></html>";
    close $fh;
}

sub write_user_files {
    my ($block) = @_;
    my $name  = $block->name;
    my $files = $block->user_files;
    return unless $files;

    my @list;
    if (!ref $files) {
        my ($fname, $body, $stamp);
        for my $line (split /^/, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+?))?\s*$/) {
                push @list, [$fname, $body, $stamp] if defined $fname;
                ($fname, $stamp, $body) = ($1, $2, undef);
            } else {
                $body .= $line;
            }
        }
        push @list, [$fname, $body, $stamp] if defined $fname;
    } elsif (ref $files eq 'ARRAY') {
        @list = @$files;
    } else {
        bail("$name - --- user_files must be a string or an ARRAY ref, not " . ref $files);
    }

    for my $f (@list) {
        my ($fname, $body, $stamp) = @$f;
        $body = '' unless defined $body;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        if ($path =~ m{^(.*)/[^/]*$} && length $1 && !-d $1) {
            make_path($1);
            -d $1 or bail("$name - cannot create directory $1");
        }
        $body = expand_env($body, $name);
        open my $fh, '>', $path or bail("$name - cannot open $path for writing: $!");
        binmode $fh;
        print $fh $body;
        close $fh;
        if (defined $stamp && length $stamp) {
            # same meaning as touch -t [[CC]YY]MMDDhhmm[.ss], in GMT
            local $ENV{TZ} = 'GMT';
            system('touch', '-t', $stamp, $path) == 0
                or bail("$name - failed to set the time stamp \"$stamp\" on $path");
        }
    }
}

# ---------------------------------------------------------------------------
# nginx.conf
# ---------------------------------------------------------------------------

sub http2_listen_bits {
    # nginx >= 1.25.1 has the "http2" directive; older ones need the
    # listen parameter.
    my $v = nginx_version();
    return $v >= 1.025001 ? ('', ' http2 on;') : (' http2', '');
}

sub write_config {
    my ($block, $config, $use_http2) = @_;
    my $name = $block->name;

    my $http_config = expand_env(scalar($block->http_config), $name) // '';
    $http_config = $FilterHttpConfig->($http_config) if $FilterHttpConfig;
    my $main_config = $block->main_config // '';
    my $post_main   = expand_env(scalar($block->post_main_config), $name) // '';
    my $errlog      = $block->error_log_file || $ErrLogFile;
    my $server_name = $block->server_name // $ServerName;
    $config //= '';

    if ($LoadModules) {
        my @mods = grep { length } split /\s+/, $LoadModules;
        $main_config = join('', map { "load_module $_;\n" } @mods) . $main_config;
    }
    $main_config = expand_env($main_config, $name);
    $errlog = expand_env($errlog, $name);

    my ($listen_opts, $h2_directive) = ('', '');
    if ($use_http2) {
        ($listen_opts, $h2_directive) = http2_listen_bits();
    }
    $listen_opts .= ' reuseport' if $ReusePort;

    my @temp;
    my %temp_dirs = (
        client_body_temp_path => 'client_body_temp',
        proxy_temp_path       => 'proxy_temp',
        fastcgi_temp_path     => 'fastcgi_temp',
        uwsgi_temp_path       => 'uwsgi_temp',
        scgi_temp_path        => 'scgi_temp',
    );
    for my $dir (sort keys %temp_dirs) {
        next if $http_config =~ /\b\Q$dir\E\b/;
        (my $mod = $dir) =~ s/_temp_path$//;
        next if $mod ne 'client_body' && ($NginxV // '') =~ /--without-http_${mod}_module/;
        push @temp, "$dir $ServRoot/$temp_dirs{$dir};";
    }

    my $extra_http = '';
    if (defined $PostponeOutput && $http_config !~ /\bpostpone_output\b/) {
        bail("bad TEST_NGINX_POSTPONE_OUTPUT value: $PostponeOutput")
            unless $PostponeOutput =~ /^\d+$/;
        $extra_http = "    postpone_output $PostponeOutput;\n";
    }

    (my $qname = $server_name) =~ s/(['\\])/\\$1/g;

    my $c = '';
    $c .= "worker_processes  $Workers;\n";
    $c .= "daemon $Daemon;\n";
    $c .= "master_process $MasterProcess;\n";
    $c .= "error_log $errlog $LogLevel;\n";
    $c .= "pid       $PidFile;\n";
    for my $v (qw(LD_PRELOAD LD_LIBRARY_PATH ASAN_OPTIONS), @EnvToNginx) {
        $c .= "env " . ($v =~ /\s/ ? "'$v'" : $v) . ";\n";
    }
    $c .= "\n$main_config\n\n";
    $c .= "http {\n";
    $c .= "    access_log $AccLogFile;\n";
    $c .= "    $_\n" for @temp;
    $c .= "    default_type text/plain;\n";
    $c .= "    keepalive_timeout  68000ms;\n";
    $c .= $extra_http;
    $c .= "\n$http_config\n";
    $c .= "    server {\n";
    $c .= "        listen          $Port$listen_opts;$h2_directive\n";
    $c .= "        server_name     '$qname';\n";
    $c .= "        client_max_body_size 30M;\n";
    $c .= "        # preamble\n$ConfigPreamble\n";
    $c .= "        # test block config\n$config\n        # end of test block config\n\n";
    if (!$NoRootLocation) {
        $c .= "        location / {\n";
        $c .= "            root $HtmlDir;\n";
        $c .= "            index index.html index.htm;\n";
        $c .= "        }\n";
    }
    $c .= "    }\n";
    $c .= "}\n\n$post_main\n\n";
    $c .= "events {\n    accept_mutex off;\n    worker_connections  $WorkerConnections;\n";
    $c .= "    use $EventType;\n" if $EventType;
    $c .= "}\n";
    if (defined $WorkerUser) {
        $c .= "user $WorkerUser;\n";
    } elsif ($> == 0) {
        $c .= "user root;\n";
    }

    open my $fh, '>', $ConfFile or bail("cannot write $ConfFile: $!");
    print $fh $c;
    close $fh;
}

# ---------------------------------------------------------------------------
# process control
# ---------------------------------------------------------------------------

sub is_running {
    my ($pid) = @_;
    return 0 unless $pid;
    waitpid($pid, WNOHANG) if defined $ChildPid && $pid == $ChildPid;
    return 0 unless kill 0, $pid;
    # a daemonized nginx that exited is a zombie until init reaps it (which
    # some container inits do lazily): count that as gone
    if (open my $fh, '<', "/proc/$pid/stat") {
        my $st = <$fh> // '';
        close $fh;
        return 0 if $st =~ /^\d+ \(.*\) Z/s;
    }
    return 1;
}

sub read_pid_file {
    open my $fh, '<', $PidFile or return undef;
    my $pid = do { local $/; <$fh> };
    close $fh;
    return undef unless defined $pid && $pid =~ /^\s*(\d+)\s*$/;
    return $1;
}

# true when something is in LISTEN state on the TCP port (no connection is
# made, so nothing shows up in the error log)
sub port_listening {
    my ($port) = @_;
    my $hex = sprintf '%04X', $port;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $f or next;
        while (my $l = <$fh>) {
            return 1 if $l =~ /^\s*\d+:\s+[0-9A-F]+:$hex\s+[0-9A-F]+:[0-9A-F]+\s+0A\b/;
        }
        close $fh;
    }
    return 0;
}

sub wait_gone {
    my ($pid, $secs) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        return 1 unless is_running($pid);
        sleep 0.02;
    }
    return !is_running($pid);
}

# graceful stop, then TERM, then KILL (the whole process group if nginx
# leads its own group, which a daemonized nginx does)
sub stop_process {
    my ($pid, $name, $grace) = @_;
    return unless $pid;
    $grace //= $Timeout;
    if (is_running($pid)) {
        vlog("stopping nginx $pid\n");
        kill($FastShutdown ? 'TERM' : 'QUIT', $pid);
        if (!wait_gone($pid, $grace)) {
            warn "$name - timeout waiting for process $pid to exit, sending TERM\n";
            kill 'TERM', $pid;
            if (!wait_gone($pid, 1)) {
                warn "$name - killing process $pid with SIGKILL\n";
                my $pg = getpgrp($pid);
                if (defined $pg && $pg == $pid) {
                    kill 'KILL', -$pid;
                } else {
                    kill 'KILL', $pid;
                }
                wait_gone($pid, 2);
            }
        }
    }
    if (defined $ChildPid && $pid == $ChildPid) {
        waitpid($ChildPid, 0) if kill 0, $ChildPid;
        undef $ChildPid;
    }
}

sub stop_running_nginx {
    my ($name) = @_;
    my $grace = $UseValgrind ? 10 * $Timeout : $Timeout;
    my $pid = read_pid_file();
    if ($pid && is_running($pid)) {
        stop_process($pid, $name, $grace);
    }
    # the nginx we started ourselves, even when its pid file is gone (e.g.
    # another run wiped the same server root meanwhile)
    if ($OwnPid && (!$pid || $OwnPid != $pid) && is_running($OwnPid)
        && open my $fh, '<', "/proc/$OwnPid/cmdline")
    {
        my $cmdline = do { local $/; <$fh> } // '';
        close $fh;
        stop_process($OwnPid, $name, $grace) if index($cmdline, $ConfFile) >= 0;
    }
    undef $OwnPid;
    if (defined $ChildPid) {
        stop_process($ChildPid, $name, 2);
    }
    unlink $PidFile if -f $PidFile && !(read_pid_file() && is_running(read_pid_file()));
}

sub nginx_command {
    my ($block, $valgrind) = @_;
    my $v = nginx_version();
    my $cmd = $Binary;
    $cmd .= ' -e ' . shell_quote($ErrLogFile) if $v >= 1.019005;
    $cmd .= ' -p ' . shell_quote("$ServRoot/") . ' -c ' . shell_quote($ConfFile);
    if ($ENV{TEST_NGINX_LD_PRELOAD}) {
        my $pre = $ENV{TEST_NGINX_LD_PRELOAD};
        $pre .= " $ENV{LD_PRELOAD}" if $ENV{LD_PRELOAD};
        $cmd = 'LD_PRELOAD=' . shell_quote($pre) . " $cmd";
    }
    if ($valgrind) {
        my $opts;
        if ($valgrind =~ /^\d+$/) {
            $opts = '--tool=memcheck --leak-check=full --keep-debuginfo=yes '
                  . '--show-possibly-lost=no';
            $opts .= ' --exit-on-first-error=yes --error-exitcode=1' if $ValgrindFirstErr;
            $opts = "--num-callers=100 -q $opts --gen-suppressions=all";
            $opts .= ' --suppressions=valgrind.suppress' if -f 'valgrind.suppress';
        } else {
            $opts = "-q $valgrind";
        }
        # valgrind keeps its own copy of the original stderr, so nginx's
        # redirection of stderr into error.log does not catch its reports;
        # collect them in a file that is read after each block
        $opts .= ' --log-file=' . shell_quote($ValgrindLog)
            unless $opts =~ /--log-(?:file|fd|socket)\b/;
        $cmd = "valgrind $opts $cmd";
    }
    $cmd .= ' < /dev/null > /dev/null';
    $cmd .= ' 2> /dev/null' if defined $block->suppress_stderr;
    return $cmd;
}

# Run nginx in daemon mode; returns the raw wait status.
sub run_daemon {
    my ($block) = @_;
    my $cmd = nginx_command($block, undef);
    vlog("running: $cmd\n");
    $StartedHere = 1;
    system($cmd);
    return $?;
}

sub emerg_lines {
    open my $fh, '<', $ErrLogFile or return ();
    my @l = grep { /\[emerg\]/ } <$fh>;
    close $fh;
    return @l;
}

# Start nginx for a normal (not must_die) block.  Returns undef on success,
# a "dry run" reason when TEST_NGINX_IGNORE_MISSING_DIRECTIVES applies, and
# bails out otherwise.
sub start {
    my ($block, $valgrind) = @_;
    my $name = $block->name;

    if ($valgrind) {
        my $cmd = nginx_command($block, $valgrind);
        vlog("running: $cmd\n");
        warn "$name\n";
        $StartedHere = 1;
        my $pid = fork();
        bail("$name - fork() failed: $!") unless defined $pid;
        if ($pid == 0) {
            setpgrp(0, 0);
            Test::More->builder->no_ending(1);
            exec('/bin/sh', '-c', "exec $cmd") or POSIX::_exit(127);
        }
        $ChildPid = $OwnPid = $pid;
        # valgrind is slow to start: wait for the listening socket
        my $deadline = time + 30 * $Timeout;
        while (time < $deadline) {
            last if port_listening($Port);
            if (waitpid($pid, WNOHANG) == $pid) {
                undef $ChildPid;
                bail("$name - nginx under valgrind exited early (status $?): "
                     . join('', emerg_lines()));
            }
            sleep 0.05;
        }
        return undef;
    }

    my $give_up = time + 30;
    my $try = 0;
    while (1) {
        my $status = run_daemon($block);
        if ($status == 0) {
            # the daemon writes its pid file right after detaching
            my $deadline = time + $Timeout;
            while (time < $deadline && !read_pid_file()) {
                sleep 0.01;
            }
            $OwnPid = read_pid_file();
            sleep $SleepStep;
            return undef;
        }
        my @emerg = emerg_lines();
        if ($ENV{TEST_NGINX_IGNORE_MISSING_DIRECTIVES}) {
            for (@emerg) {
                return "the lack of directive $1" if /unknown directive "([^"]+)"/;
            }
        }
        my $retryable = !@emerg || grep { /Address already in use|bind\(\)/ } @emerg;
        if ($retryable && time < $give_up) {
            $try++;
            my $d = 0.1 * $try;
            $d = 1 if $d > 1;
            sleep $d;
            next;
        }
        bail("$name - Cannot start nginx (status $status): " . join('', @emerg));
    }
}

# Used by must_die blocks: run once, report (exec_failed, coredump, exit_code, status)
sub try_start_once {
    my ($block) = @_;
    my $status = run_daemon($block);
    return (1, 0, undef, $status) if $status == -1;
    my $exit = $status >> 8;
    my $core = $status & 128;
    return (0, $core, $exit, $status);
}

# ---------------------------------------------------------------------------
# logs
# ---------------------------------------------------------------------------

sub error_log_lines {
    sleep $SleepStep * 3;
    open my $fh, '<', $ErrLogFile or return [];
    seek $fh, $ErrLogPos, 0 if !$CheckAccumErrLog && $ErrLogPos > 0;
    my @lines = <$fh>;
    $ErrLogPos = tell $fh unless $CheckAccumErrLog;
    close $fh;
    return \@lines;
}

sub access_log_lines {
    sleep $SleepStep * 3;
    open my $fh, '<', $AccLogFile or return [];
    my @lines = <$fh>;
    close $fh;
    return \@lines;
}

1;
