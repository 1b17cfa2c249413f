package Test::Nginx::Socket;

# ===========================================================================
# Bundled, from-scratch work-alike of Test::Nginx::Socket (openresty's
# test-nginx) for ngx_twilio_guard.  It is only put on @INC (util/tnx) when
# the real module is not installed; t/*.t files must stay runnable by both.
# No code or documentation of test-nginx was copied; behaviour was learned by
# reading it (release 0.32 / git HEAD of 2026-03).
#
# TLS + HTTP/2 -- what the real Test::Nginx offers
# ------------------------------------------------
# * The generated server{} always listens on plain TCP ($TEST_NGINX_SERVER_PORT,
#   default 1984).  There is no TLS switch, env var or listen section (the
#   only certificate env vars, TEST_NGINX_HTTP3_CRT/KEY, belong to the QUIC
#   mode).
# * "--- http2" makes it send the request(s) with curl --http2-prior-knowledge
#   and adds HTTP/2 to the generated listen ("listen PORT http2;", or
#   "http2 on;" on new nginx).  "--- curl_protocol: https" replaces the URL
#   scheme and "--- curl_options: -k" appends ONE extra curl argument (the
#   whole value is a single argv element: put exactly one option there).
# * So TLS must come from the block itself.  What works under both runners:
#   add a second, address-specific listen for the same port to --- config;
#   nginx keeps one wildcard socket and picks the 127.0.0.1 settings (ssl,
#   http2) for connections made to 127.0.0.1, which is where the client
#   connects:
#
#       --- http2
#       --- curl_protocol: https
#       --- curl_options: -k
#       --- config
#           listen 127.0.0.1:$TEST_NGINX_SERVER_PORT ssl http2;
#           ssl_certificate     $TEST_NGINX_CERT_DIR/cert.pem;
#           ssl_certificate_key $TEST_NGINX_CERT_DIR/key.pem;
#           location = /t { return 200 "$server_protocol $https\n"; }
#       --- request
#       GET /t
#       --- response_body
#       HTTP/2.0 on
#
#   ($TEST_NGINX_CERT_DIR is not built in: the test file or a t/lib helper
#   creates the self-signed pair with the openssl CLI at load time and sets
#   $ENV{TEST_NGINX_CERT_DIR}; see t/000-runner.t.)  Every $TEST_NGINX_*
#   variable in config sections is replaced from %ENV by both runners.
# * Caveat of the real module: releases 0.31 and 0.32 emit "http2 on;" for
#   every nginx >= 1.19.9 although that directive only exists since 1.25.1,
#   so "--- http2" blocks cannot start nginx 1.19.9 .. 1.25.0 (Debian 12's
#   1.22.1 included) under those releases; 0.30 and older emit
#   "listen PORT http2;" and work.  This module picks "http2 on;" only for
#   nginx >= 1.25.1.
#
# Supported
# ---------
# Functions: plan/is/ok/like/diag/... (Test::Base/Test::More exports),
# blocks, run_tests, run_test, repeat_each, no_shuffle, no_long_string,
# log_level, master_on/off, master_process_enabled, workers,
# worker_connections, no_root_location, config_preamble, env_to_nginx,
# add_block_preprocessor, add_cleanup_handler, add_test_cleanup_handler,
# add_response_body_check, html_dir, server_root, server_port,
# server_port_for_client, server_name, server_addr, timeout, bail_out,
# is_str, no_nginx_manager, check_accum_error_log (use_hup: warns, no-op).
# Sections: main_config post_main_config http_config config server_name
# init post_setup_server_root user_files request (eval, arrays, packets
# with delay_before) pipelined_requests more_headers raw_request
# raw_request_middle_delay shutdown http09 http2 no_http2 curl_protocol
# curl_options curl_error curl timeout abort ignore_response wait
# error_code error_code_like response_body (eval, qr) response_body_like
# response_body_unlike response_body_filters response_body_json_sort
# charset response_headers response_headers_like raw_response_headers_like
# raw_response_headers_unlike error_log no_error_log grep_error_log
# grep_error_log_out access_log no_access_log shutdown_error_log
# no_shutdown_error_log log_level error_log_file must_die suppress_stderr
# skip_eval skip_nginx skip_nginx2 skip_openssl todo todo_nginx
# no_check_leak server_addr_for_client write_resp_body_file; ONLY SKIP
# LAST come from Test::Base.  Not supported (bail out): tcp_listen,
# udp_listen; stap, http3 and the leak/benchmark/HUP modes are ignored.
# Environment: TEST_NGINX_BINARY PORT SERVER_PORT CLIENT_PORT SERVROOT
# LOAD_MODULES LOG_LEVEL TIMEOUT SLEEP USE_HTTP2 USE_VALGRIND
# VALGRIND_EXIT_ON_FIRST_ERR NO_CLEAN NO_SHUFFLE MASTER_PROCESS
# FAST_SHUTDOWN RANDOMIZE REUSE_PORT EVENT_TYPE POSTPONE_OUTPUT
# WORKER_USER LD_PRELOAD ERROR_LOG IGNORE_MISSING_DIRECTIVES
# FORCE_RESTART_ON_TEST NO_NGINX_MANAGER CHECK_ACCUM_ERR_LOG VERBOSE.
# Built-in variables: $TEST_NGINX_SERVER_ROOT, $TEST_NGINX_SERVER_PORT and
# $TEST_NGINX_RAND_PORT_<N> (a free port, the same within one block);
# anything else (e.g. $TEST_NGINX_HTML_DIR) must be set in %ENV by the test.
#
# Deliberate differences from the real module
# -------------------------------------------
# * nginx failing to start is only retried (up to 30 s) when the error log
#   shows a bind() failure or nothing; other [emerg]s bail out at once.
# * A worker "exited on signal" line in error.log fails the block (unless
#   error_log/no_error_log mention "exited on signal"); [alert], [crit] and
#   [emerg] lines only warn, as in the real module.
# * TEST_NGINX_USE_VALGRIND: valgrind writes to logs/valgrind.log (it keeps
#   its own stderr copy, so error.log never sees it); the output is printed
#   after each block and memory errors (not leak records) fail the block.
# * An exited nginx that is still a zombie counts as stopped; the END block
#   only stops an nginx when this process ran run_tests().
# * "!Header" checks in response_headers are case-insensitive.
# ===========================================================================

use strict;
use warnings;

use Test::Base -base;

use Encode ();
use List::Util qw(shuffle min);
use Scalar::Util qw(looks_like_number);
use Time::HiRes qw(sleep time);
use Digest::MD5 ();
use Digest::SHA ();

use TNX::Server ();
use TNX::HTTP ();

our $VERSION = '0.32';

our @EXPORT = qw(
    env_to_nginx is_str plan run_tests run_test repeat_each config_preamble
    worker_connections master_process_enabled no_long_string workers
    master_on master_off log_level no_shuffle no_root_location use_hup
    server_name server_addr server_root html_dir server_port
    server_port_for_client timeout no_nginx_manager check_accum_error_log
    add_block_preprocessor bail_out add_test_cleanup_handler
    add_cleanup_handler add_response_body_check
);

our $RepeatEach   = 1;
our $NoShuffle    = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $NoLongString;
our $UseHttp2     = $ENV{TEST_NGINX_USE_HTTP2};
our @BlockPreprocessors;
our @CleanupHandlers;
our @TestCleanupHandlers;
our @ResponseBodyChecks;
our ($PrevConfig, $PrevBlock);
our $RunStarted   = 0;
our $MainPid      = $$;

if ($UseHttp2 && $ENV{TEST_NGINX_USE_HTTP3}) {
    die "Ambiguous: both TEST_NGINX_USE_HTTP3 and TEST_NGINX_USE_HTTP2 are set.\n";
}

# ---------------------------------------------------------------------------
# settings API
# ---------------------------------------------------------------------------

sub repeat_each (@) {
    $RepeatEach = shift if @_;
    return $RepeatEach;
}

sub workers (@) {
    return $TNX::Server::Workers unless @_;
    $TNX::Server::Workers = shift;
}

sub worker_connections (@) {
    return $TNX::Server::WorkerConnections unless @_;
    $TNX::Server::WorkerConnections = shift;
}

sub log_level (@) {
    return $TNX::Server::LogLevel unless @_;
    $TNX::Server::LogLevel = shift;
}

sub master_on ()  { $TNX::Server::MasterProcess = 'on' }
sub master_off () { $TNX::Server::MasterProcess = 'off' }

sub master_process_enabled (@) {
    return $TNX::Server::MasterProcess unless @_;
    $TNX::Server::MasterProcess = $_[0] ? 'on' : 'off';
}

sub no_shuffle ()       { $NoShuffle = 1 }
sub no_long_string ()   { $NoLongString = 1 }
sub no_root_location () { $TNX::Server::NoRootLocation = 1 }
sub no_nginx_manager () { $TNX::Server::NoNginxManager = 1 }
sub check_accum_error_log () { $TNX::Server::CheckAccumErrLog = 1 }

sub use_hup () {
    warn "use_hup(): HUP reload mode is not supported by the bundled "
       . "Test::Nginx shim; nginx is restarted instead\n";
}

sub config_preamble ($) { $TNX::Server::ConfigPreamble = shift }

sub server_name (@) {
    return $TNX::Server::ServerName unless @_;
    $TNX::Server::ServerName = shift;
}

sub server_addr (@) {
    return $TNX::Server::ServerAddr unless @_;
    $TNX::Server::ServerAddr = shift;
}

sub server_port (@) {
    return $TNX::Server::Port unless @_;
    $TNX::Server::Port = shift;
}

sub server_port_for_client (@) {
    return $TNX::Server::ClientPort unless @_;
    $TNX::Server::ClientPort = shift;
}

sub timeout (@) {
    return $TNX::Server::Timeout unless @_;
    $TNX::Server::Timeout = shift;
}

sub html_dir ()    { $TNX::Server::HtmlDir }
sub server_root () { $TNX::Server::ServRoot }

sub env_to_nginx (@) {
    Carp::croak("env_to_nginx: no arguments specified") unless @_;
    for my $v (@_) {
        Carp::croak("env_to_nginx: bad argument value: $v")
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @TNX::Server::EnvToNginx, $v;
    }
}

sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler ($)      { unshift @CleanupHandlers, shift }
sub add_test_cleanup_handler ($) { unshift @TestCleanupHandlers, shift }
sub add_response_body_check ($)  { push @ResponseBodyChecks, shift }
sub set_http_config_filter ($)   { $TNX::Server::FilterHttpConfig = shift }

sub cleanup () {
    $_->() for @CleanupHandlers;
    if (defined $TNX::Server::ChildPid) {
        TNX::Server::stop_process($TNX::Server::ChildPid, 'cleanup', 2);
    }
}

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

# ---------------------------------------------------------------------------
# string comparison with a readable report for long strings
# ---------------------------------------------------------------------------

sub _show {
    my ($s) = @_;
    $s =~ s/([\\"])/\\$1/g;
    $s =~ s/\n/\\n/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\t/\\t/g;
    $s =~ s/([\x00-\x1f\x7f-\xff])/sprintf '\\x{%02x}', ord $1/ge;
    return qq{"$s"};
}

sub _is_long_string {
    my ($got, $exp, $desc) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 2;
    if (!defined $got || !defined $exp) {
        return Test::More::is($got, $exp, $desc);
    }
    my $ok = Test::More::ok($got eq $exp, $desc);
    return $ok if $ok;
    my $i = 0;
    my $max = min(length $got, length $exp);
    $i++ while $i < $max && substr($got, $i, 1) eq substr($exp, $i, 1);
    my $line = 1 + (substr($exp, 0, $i) =~ tr/\n//);
    my $from = $i > 10 ? $i - 10 : 0;
    Test::More::diag(
        "         got: " . _show(substr $got, $from, 60) . "\n"
      . "      length: " . length($got) . "\n"
      . "    expected: " . _show(substr $exp, $from, 60) . "\n"
      . "      length: " . length($exp) . "\n"
      . "    strings begin to differ at char " . ($i + 1) . " (line $line)\n");
    return 0;
}

sub is_str (@) {
    my ($got, $exp, $desc) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return Test::More::like($got, $exp, $desc) if ref $exp && ref $exp eq 'Regexp';
    return Test::More::is($got, $exp, $desc) if $NoLongString;
    return _is_long_string($got, $exp, $desc);
}

# ---------------------------------------------------------------------------
# main loop
# ---------------------------------------------------------------------------

sub run_tests () {
    srand($$ ^ int(time * 1000));
    $RunStarted = 1;
    TNX::Server::nginx_version();
    $ENV{TEST_NGINX_SERVER_PORT} = $TNX::Server::Port
        unless defined $ENV{TEST_NGINX_SERVER_PORT};

    # make sure the END block gets a chance to stop nginx
    local $SIG{INT}  = sub { exit 130 };
    local $SIG{TERM} = sub { exit 143 };
    local $SIG{HUP}  = sub { exit 129 };

    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks unless $NoShuffle;
    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value(name => "$0 " . $block->name);
        run_test($block);
        $_->($block) for @TestCleanupHandlers;
        $PrevBlock = $block;
    }
    cleanup();
}

sub use_http2 ($) {
    my ($block) = @_;
    my $cached = $block->test_nginx_enabled_http2;
    return $cached if defined $cached;
    return undef if defined $block->no_http2;
    my $name = $block->name;

    my $set = sub {
        $block->set_value(test_nginx_enabled_http2 => $_[0]);
        return $_[0] ? 1 : undef;
    };

    if (defined $block->http2) {
        bail_out("cannot use --- http2 with --- raw_request") if $block->raw_request;
        bail_out("cannot use --- http2 with --- pipelined_requests")
            if $block->pipelined_requests;
        return $set->(1);
    }
    return $set->(0) unless $UseHttp2;

    if ($block->raw_request) {
        warn "WARNING: $name - raw_request is always sent as HTTP/1, not HTTP/2\n";
        return $set->(0);
    }
    if ($block->pipelined_requests) {
        warn "WARNING: $name - pipelined_requests are always sent as HTTP/1, not HTTP/2\n";
        return $set->(0);
    }
    return $set->(0) unless defined $block->request;
    if (!ref $block->request && $block->request =~ m{HTTP/1\.0}) {
        warn "WARNING: $name - HTTP/1.0 explicitly requested, not using HTTP/2\n";
        return $set->(0);
    }
    return $set->(0) if defined $block->http3;
    my $pat = qr{(proxy_pass .*:\$(?:server_port|TEST_NGINX_SERVER_PORT)
                 | ngx\.req\.raw_header | lua_check_client_abort
                 | ngx\.req\.socket | ngx\.req\.read_body)}x;
    for my $sec (qw(config user_files http_config)) {
        my $v = $block->$sec;
        if (defined $v && !ref $v && $v =~ $pat) {
            warn "WARNING: $name - $1 does not work over HTTP/2, not using HTTP/2\n";
            return $set->(0);
        }
    }
    return $set->(1);
}

sub _version_cmp {
    my ($have, $op, $want) = @_;
    return 0 unless defined $have;
    return $op eq '<'  ? $have <  $want
         : $op eq '<=' ? $have <= $want
         : $op eq '>'  ? $have >  $want
         : $op eq '>=' ? $have >= $want
         : 0;
}

# -> (count, should_skip, reason)
sub _skip_spec {
    my ($block) = @_;
    my $name = $block->name;
    my $ngx = $TNX::Server::NginxVersion;
    my ($n, $skip, $reason);

    if (defined(my $s = $block->skip_eval)) {
        if ($s =~ /^\s*(\d+)\s*:\s*(.*)/s) {
            $n = $1;
            $reason = 'skip_eval';
            my $code = $2;
            $skip = eval "package main; $code";
            bail_out("$name - skip_eval - failed to eval the Perl code \"$code\": $@") if $@;
        }
    }

    if (defined(my $s = $block->skip_nginx)) {
        $s =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*?))?\s*$/
            or bail_out("$name - Invalid --- skip_nginx spec: $s");
        $n = $1;
        $reason = $6 || "nginx version $2 $3.$4.$5";
        $skip = 1 if _version_cmp($ngx, $2, TNX::Server::canon_version($3, $4, $5));
    } elsif (defined(my $s2 = $block->skip_nginx2)) {
        $s2 =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)\s*(or|and)\s*
                ([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*?))?\s*$/x
            or bail_out("$name - Invalid --- skip_nginx2 spec: $s2");
        $n = $1;
        $reason = $11 || 'nginx version';
        my $a = _version_cmp($ngx, $2, TNX::Server::canon_version($3, $4, $5));
        my $b = _version_cmp($ngx, $7, TNX::Server::canon_version($8, $9, $10));
        $skip = 1 if $6 eq 'or' ? ($a || $b) : ($a && $b);
    }

    if (defined(my $s = $block->skip_openssl)) {
        $s =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)([a-z]?)(?:\s*:\s*(.*?))?\s*$/
            or bail_out("$name - Invalid --- skip_openssl spec: $s");
        $n = $1;
        my $want = TNX::Server::canon_version($3, $4, $5);
        $want .= sprintf "%03d", ord($6) - ord('a') if length $6;
        my $have = $TNX::Server::OpenSSLVersion;
        $reason = $7 || (defined $have ? "OpenSSL version $2 $3.$4.$5$6"
                                       : "Not built with OpenSSL");
        $skip = 1 if !defined $have || _version_cmp($have, $2, $want);
    }

    return ($n, $skip, $reason // 'various reasons');
}

sub _todo_spec {
    my ($block) = @_;
    my $name = $block->name;
    my ($todo, $reason, $n);
    if (defined(my $t = $block->todo_nginx)) {
        $t =~ /^\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*?))?\s*$/
            or bail_out("$name - Invalid --- todo_nginx spec: $t");
        $reason = $5;
        $todo = 1 if _version_cmp($TNX::Server::NginxVersion, $1,
                                  TNX::Server::canon_version($2, $3, $4));
    }
    if (defined(my $t = $block->todo)) {
        $t =~ /^\s*(\d+)\s*:\s*(.*)/s or bail_out("$name - Invalid --- todo spec: $t");
        ($todo, $n, $reason) = (1, $1, $2);
    }
    return ($todo, $n, $reason // 'various reasons');
}

sub run_test ($) {
    my ($block) = @_;
    return if defined $block->SKIP;
    my $name = $block->name;

    for my $sec (qw(tcp_listen udp_listen)) {
        bail_out("$name - --- $sec is not supported by the bundled Test::Nginx shim")
            if defined $block->$sec;
    }

    local $TNX::Server::RandPorts = {};
    my $config = TNX::Server::expand_env(scalar($block->config), $name);

    local $TNX::Server::LogLevel = $TNX::Server::LogLevel;
    $TNX::Server::LogLevel = $block->log_level if $block->log_level;

    my $must_die = $block->must_die;
    local $TNX::Server::UseValgrind = $TNX::Server::UseValgrind;
    local $TNX::Server::Daemon = $TNX::Server::Daemon;
    if (defined $must_die) {
        undef $TNX::Server::UseValgrind;
        $TNX::Server::Daemon = 'on';
    }

    my $dry_run = 0;
    my $should_restart;
    if (!defined $config) {
        if (!$TNX::Server::NoNginxManager && !defined $PrevConfig) {
            bail_out("$name - No '--- config' section specified and could not get "
                     . "previous one. Use TEST_NGINX_NO_NGINX_MANAGER ?");
        }
        $should_restart = 0;
    } elsif ($TNX::Server::NoNginxManager) {
        Test::More::diag("NO_NGINX_MANAGER activated: config for $name ignored");
        $should_restart = 0;
    } else {
        $should_restart = (!defined $PrevConfig || $config ne $PrevConfig
                           || $TNX::Server::ForceRestart) ? 1 : 0;
    }

    $block->set_value(no_check_leak => 1)
        if defined $block->reload_fails || defined $block->http2;

    my ($skip_n, $should_skip, $skip_reason) = _skip_spec($block);
    my ($should_todo, $todo_n, $todo_reason) = _todo_spec($block);
    $skip_n = $todo_n if defined $todo_n;

    if ($should_restart && !$should_skip) {
        $PrevConfig = $config;
        TNX::Server::stop_running_nginx($name);
        check_prev_block_shutdown_error_log();

        TNX::Server::setup_server_root();
        if (defined(my $code = $block->post_setup_server_root)) {
            eval "package main; $code";
            bail_out("$name - post_setup_server_root failed: $@") if $@;
        }
        TNX::Server::write_user_files($block);
        TNX::Server::write_config($block, $config, use_http2($block));

        if (defined $must_die) {
            _run_must_die($block, $must_die, $dry_run);
            return;
        }
        $dry_run = TNX::Server::start($block, $TNX::Server::UseValgrind) || 0;
    }

    if (defined(my $code = $block->init)) {
        eval "package main; $code";
        bail_out("$name - init failed: $@") if $@;
    }

    $TNX::Server::ErrLogPos = 0;
    for my $i (1 .. $RepeatEach) {
        TNX::Server::write_user_files($block) if $i > 1;
        if ($should_skip && defined $skip_n) {
            SKIP: {
                Test::More::skip("$name - $skip_reason", $skip_n);
            }
        } elsif ($should_todo) {
            TODO: {
                Test::More::todo_skip("$name - $todo_reason", $skip_n // 1);
            }
        } else {
            run_test_helper($block, $dry_run, $i - 1);
        }
    }

    if (my $acc = $ENV{TEST_NGINX_ERROR_LOG}) {
        if (-s $TNX::Server::ErrLogFile && open my $out, '>>', $acc) {
            print $out "\n=== $name\n";
            if (open my $in, '<', $TNX::Server::ErrLogFile) {
                local $/;
                print $out scalar <$in>;
                close $in;
            }
            close $out;
        }
    }

    if ($TNX::Server::UseValgrind && $should_restart && !$should_skip) {
        TNX::Server::stop_running_nginx($name);
        _report_valgrind($name);
    }
}

sub _run_must_die {
    my ($block, $must_die, $dry_run) = @_;
    my $name = $block->name;
    for my $i (0 .. $RepeatEach - 1) {
        $TNX::Server::ErrLogPos = 0;
        my ($exec_failed, $core, $exit, $status) = TNX::Server::try_start_once($block);
        if ($exec_failed) {
            Test::More::fail("$name - failed to execute the nginx command line");
        } elsif ($core) {
            Test::More::fail("$name - nginx core dumped");
        } elsif (looks_like_number($must_die)) {
            Test::More::is($exit, $must_die, "$name - die with the expected exit code");
        } else {
            Test::More::isnt($status, 0, "$name - die as expected");
        }
        check_error_log($block, undef, $dry_run, $i, 0);
        if ($status == 0) {
            warn "WARNING: $name - nginx must die but it does not; killing it (req $i)\n";
            my $deadline = time + $TNX::Server::Timeout;
            sleep 0.01 while time < $deadline && !TNX::Server::read_pid_file();
            TNX::Server::stop_running_nginx($name);
        }
    }
}

# Called after nginx was stopped in valgrind mode.  All of valgrind's output
# is shown; errors other than leak records fail the block, and so does a leak
# record with a frame of this module (nginx itself leaks a little at exit,
# silence that with ./valgrind.suppress).
sub _report_valgrind {
    my ($name) = @_;
    open my $fh, '<', $TNX::Server::ValgrindLog or return;
    my @v = <$fh>;
    close $fh;
    truncate $TNX::Server::ValgrindLog, 0;
    return unless grep { /\S/ } @v;
    warn "$name - valgrind output:\n", @v;
    my $kinds = join '|', 'Invalid read', 'Invalid write', 'Invalid free',
        'Conditional jump', 'Use of uninitialised', 'Syscall param',
        'Mismatched free', 'Source and destination overlap', 'Argument .* of function';
    my @errors = grep { /^==\d+== (?:$kinds)/ } @v;
    # a leak is only warned about (as Test::Nginx does), unless one of our
    # module's frames allocated it
    my @records = split /^==\d+== \n/m, join '', @v;
    push @errors, map { "module leak:\n$_" } grep {
        /lost in loss record/
            && /ngx_(?:http_)?twilio_|twilio_guard_module\.so/
    } @records;
    if (@errors) {
        Test::More->builder->no_ending(1);
        Test::More::fail("$name - valgrind reported memory errors: " . join '', @errors);
    }
}

# ---------------------------------------------------------------------------
# one round of requests of a block (repeated repeat_each() times)
# ---------------------------------------------------------------------------

sub run_test_helper ($$$) {
    my ($block, $dry_run, $rep) = @_;
    my $name = $block->name;

    my $reqs = TNX::HTTP::requests_from_block($block);
    bail_out("$name - request empty") unless @$reqs;

    my $h2 = use_http2($block);

    if (defined $block->curl) {
        my $cmd = TNX::HTTP::curl_command($block, $reqs->[0], $h2);
        warn "# ", join(' ', map { TNX::Server::shell_quote($_) } @$cmd), "\n";
    }

    my $timeout = TNX::Server::parse_time(scalar($block->timeout)) // $TNX::Server::Timeout;
    my $pipelined = $block->pipelined_requests;
    my ($res, $need_array);
    my $idx = 0;

    for my $r (0 .. $#$reqs) {
        my $req = $reqs->[$r];
        my $head_req = (join '', map { $_->{value} } @$req) =~ /^\s*HEAD\s+/ ? 1 : 0;
        my $raw;
        if ($dry_run) {
            $raw = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        } elsif ($h2) {
            $raw = TNX::HTTP::send_curl($block, $req, $timeout, 1);
        } else {
            $raw = TNX::HTTP::send_tcp($block, $req, scalar($block->raw_request_middle_delay),
                                       $timeout);
        }

        my $left_to_parse = 0;
        if ($pipelined) {
            $left_to_parse = @$pipelined;
            $need_array = 1;
        } else {
            $need_array = @$reqs > 1;
        }

        while (1) {
            $raw //= '';
            my ($raw_headers, $left);
            if (!defined $block->ignore_response) {
                if (defined $block->http09) {
                    $res = TNX::HTTP::Response->new(code => 200, content => $raw);
                    $raw_headers = '';
                } else {
                    ($res, $raw_headers, $left) = TNX::HTTP::parse_response($name, $raw, $head_req);
                }
            }

            if (!$left_to_parse) {
                if (defined $left && length $left) {
                    (my $l = $left) =~ s/([\x00-\x1f\x80-\xff])/sprintf '\\x{%02x}', ord $1/ge;
                    warn "WARNING: $name - unexpected extra bytes after the response: \"$l\"\n";
                }
            } else {
                $raw = $left;
                $left_to_parse--;
            }

            if (!defined $block->ignore_response) {
                check_error_code($block, $res, $dry_run, $idx, $need_array);
                check_raw_response_headers($block, $raw_headers, $dry_run, $idx, $need_array);
                check_response_headers($block, $res, $raw_headers, $dry_run, $idx, $need_array);
                transform_response_body($block, $res, $idx);
                check_response_body($block, $res, $dry_run, $idx, $rep, $need_array);
            }

            if ($left_to_parse || $idx < $#$reqs) {
                sleep $block->wait if $block->wait;
                check_error_log($block, $res, $dry_run, $rep, $need_array);
                check_access_log($block, $dry_run, $rep) unless defined $block->ignore_response;
            }
            $idx++;
            last unless $left_to_parse;
        }
    }

    sleep $block->wait if $block->wait;
    check_error_log($block, $res, $dry_run, $rep, $need_array);
    check_access_log($block, $dry_run, $rep) unless defined $block->ignore_response;
}

# ---------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------

sub _indexed {
    my ($name, $value, $idx, $need_array) = @_;
    if ($need_array) {
        return $value->[$idx] if ref $value eq 'ARRAY';
        bail_out("$name - You asked for many requests, the expected results "
                 . "should be arrays as well.");
    }
    return $value->[0] if ref $value eq 'ARRAY';
    return $value;
}

sub check_error_code {
    my ($block, $res, $dry_run, $idx, $need_array) = @_;
    my $name = $block->name;
    SKIP: {
        Test::More::skip("$name - tests skipped due to $dry_run", 1) if $dry_run;
        my $got = ($res && $res->code) || '';
        if (defined $block->error_code_like) {
            my $re = _indexed($name, scalar($block->error_code_like), $idx, $need_array);
            Test::More::like($got, qr/$re/sm, "$name - status code ok");
        } elsif (defined $block->error_code) {
            Test::More::is($got, _indexed($name, scalar($block->error_code), $idx, $need_array),
                           "$name - status code ok");
        } else {
            Test::More::is($got, 200, "$name - status code ok");
        }
    }
}

sub check_raw_response_headers {
    my ($block, $raw_headers, $dry_run, $idx, $need_array) = @_;
    my $name = $block->name;
    $raw_headers //= '';
    for my $kind (qw(like unlike)) {
        my $sec = "raw_response_headers_$kind";
        next unless defined $block->$sec;
        SKIP: {
            Test::More::skip("$name - $sec - tests skipped due to $dry_run", 1) if $dry_run;
            my $re = _indexed($name, scalar($block->$sec), $idx, $need_array);
            if ($kind eq 'like') {
                Test::More::like($raw_headers, qr/$re/s, "$name - raw resp headers like");
            } else {
                Test::More::unlike($raw_headers, qr/$re/s, "$name - raw resp headers unlike");
            }
        }
    }
}

# "Name: value" lines -> ordered list of [name, value-or-undef ("!Name")]
sub _header_spec {
    my ($text) = @_;
    my (@order, %val);
    for my $line (split /\n/, $text // '') {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        my ($k, $v);
        if ($line =~ s/^!\s*//) {
            ($k, $v) = ($line, undef);
        } else {
            ($k, $v) = split /\s*:\s*/, $line, 2;
            $v = '' unless defined $v;
        }
        push @order, $k unless exists $val{$k};
        $val{$k} = $v;
    }
    return map { [$_, $val{$_}] } @order;
}

sub check_response_headers {
    my ($block, $res, $raw_headers, $dry_run, $idx, $need_array) = @_;
    my $name = $block->name;
    $raw_headers //= '';
    my $port = $TNX::Server::Port;
    my $cport = $TNX::Server::ClientPort;

    if (defined $block->response_headers) {
        for my $h (_header_spec(_indexed($name, scalar($block->response_headers), $idx, $need_array))) {
            my ($k, $v) = @$h;
            SKIP: {
                Test::More::skip("$name - response_headers - tests skipped due to $dry_run", 1)
                    if $dry_run;
                if (!defined $v) {
                    Test::More::unlike($raw_headers, qr/^\s*\Q$k\E\s*:/mi,
                        "$name - header $k not present in the raw headers");
                    next;
                }
                $v =~ s/\$ServerPortForClient\b/$cport/g;
                $v =~ s/\$ServerPort\b/$port/g;
                my $got = $res ? $res->header($k) : undef;
                Test::More::is($got // '', $v, "$name - header $k ok");
            }
        }
    } elsif (defined $block->response_headers_like) {
        for my $h (_header_spec(_indexed($name, scalar($block->response_headers_like), $idx, $need_array))) {
            my ($k, $v) = @$h;
            $v //= '';
            SKIP: {
                Test::More::skip("$name - response_headers_like - tests skipped due to $dry_run", 1)
                    if $dry_run;
                my $got = $res ? $res->header($k) : undef;
                Test::More::like($got // '', qr/^$v$/, "$name - header $k like ok");
            }
        }
    }
}

sub _run_body_filter {
    my ($block, $f, $content) = @_;
    my $name = $block->name;
    return $f->($content) if ref $f eq 'CODE';
    bail_out("$name - --- response_body_filters only takes code refs and names") if ref $f;
    my %named = (
        md5_hex  => sub { Digest::MD5::md5_hex($_[0]) },
        sha1_hex => sub { Digest::SHA::sha1_hex($_[0]) },
        uc       => sub { uc $_[0] },
        lc       => sub { lc $_[0] },
        ucfirst  => sub { ucfirst $_[0] },
        lcfirst  => sub { lcfirst $_[0] },
        length   => sub { length $_[0] },
    );
    my $code = $named{$f}
        or bail_out("$name - unknown filter \"$f\" in --- response_body_filters");
    return $code->($content);
}

sub transform_response_body {
    my ($block, $res, $idx) = @_;
    return unless $res && defined $res->content;
    my $filters = $block->response_body_filters;
    return unless defined $filters;
    my $name = $block->name;
    if (!ref $filters) {
        $filters =~ s/^\s+|\s+$//g;
        $filters = [ split /\s+/, $filters ];
    } elsif (ref $filters ne 'ARRAY') {
        $filters = [$filters];
    }
    if (@$filters && ref $filters->[0] eq 'ARRAY') {
        $filters = $filters->[$idx];
        bail_out("$name - --- response_body_filters has no entry for request $idx")
            unless defined $filters;
    }
    my $c = $res->content;
    $c = _run_body_filter($block, $_, $c) for (ref $filters eq 'ARRAY' ? @$filters : $filters);
    $res->content($c);
}

sub check_response_body {
    my ($block, $res, $dry_run, $idx, $rep, $need_array) = @_;
    my $name = $block->name;
    my $content = $res ? $res->content : undef;

    if (defined(my $file = $block->write_resp_body_file)) {
        if (open my $out, '>', $file) {
            print $out $content // '';
            close $out;
        }
    }

    if (defined $block->response_body || defined $block->response_body_eval) {
        if (defined $content && defined $block->response_body_json_sort) {
            require JSON::PP;
            my $js = JSON::PP->new->canonical(1)->loose(1);
            my $obj = eval { $js->decode($content) };
            $content = $js->encode($obj) . "\n" if !$@;
        }
        my $expected;
        if (defined $block->response_body_eval) {
            Test::More::diag("$name - response_body_eval is DEPRECATED. Use response_body eval instead.");
            $expected = eval _indexed($name, scalar($block->response_body_eval), $idx, $need_array);
            warn $@ if $@;
        } else {
            $expected = _indexed($name, scalar($block->response_body), $idx, $need_array);
        }
        if (defined $expected && !ref $expected) {
            Encode::from_to($expected, 'UTF-8', scalar($block->charset)) if $block->charset;
            my ($p, $cp) = ($TNX::Server::Port, $TNX::Server::ClientPort);
            $expected =~ s/\$ServerPortForClient\b/$cp/g;
            $expected =~ s/\$ServerPort\b/$p/g;
            $expected = TNX::Server::expand_env($expected, $name);
        }
        SKIP: {
            Test::More::skip("$name - response_body - tests skipped due to $dry_run", 1) if $dry_run;
            my $desc = "$name - response_body - response is expected (repeated req $rep, req $idx)";
            if (ref $expected) {
                Test::More::like($content, $expected, "$name - response_body - like (repeated req $rep, req $idx)");
            } elsif ($NoLongString) {
                Test::More::is($content, $expected, $desc);
            } else {
                _is_long_string($content, $expected, $desc);
            }
        }
    } elsif (defined $block->response_body_like || defined $block->response_body_unlike) {
        my $kind = defined $block->response_body_like ? 'like' : 'unlike';
        my $sec = "response_body_$kind";
        my $pat = _indexed($name, scalar($block->$sec), $idx, $need_array);
        if (!ref $pat) {
            my ($p, $cp) = ($TNX::Server::Port, $TNX::Server::ClientPort);
            $pat =~ s/\$ServerPortForClient\b/$cp/g;
            $pat =~ s/\$ServerPort\b/$p/g;
        }
        my $summary = $content // '';
        $summary =~ s/^\s+|\s+$//g;
        $summary =~ s/\s+/ /g;
        SKIP: {
            Test::More::skip("$name - $sec - tests skipped due to $dry_run", 1) if $dry_run;
            my $desc = "$name - $sec - response is expected ($summary)";
            if ($kind eq 'like') {
                Test::More::like($content, qr/$pat/s, $desc);
            } else {
                Test::More::unlike($content, qr/$pat/s, $desc);
            }
        }
    }

    for my $check (@ResponseBodyChecks) {
        $check->($block, $res ? $res->content : undef, $idx, $rep, $dry_run);
    }
}

sub _pattern_list {
    my ($pats) = @_;
    if (!ref $pats) {
        chomp $pats;
        return [ split /\n+/, $pats ];
    }
    return [$pats] if ref $pats eq 'Regexp';
    return [@$pats];
}

sub _mentions {
    my ($pats, $needle) = @_;
    return 0 unless defined $pats;
    return index("$pats", $needle) >= 0 if !ref $pats || ref $pats eq 'Regexp';
    if (ref $pats eq 'ARRAY') {
        for (@$pats) { return 1 if defined $_ && _mentions($_, $needle) }
    }
    return 0;
}

sub _line_matches {
    my ($line, $pat) = @_;
    return 1 if ref $pat && $line =~ $pat;
    return index($line, "$pat") >= 0;
}

sub _fmt {
    my ($s) = @_;
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

# shared by error_log / access_log / shutdown_error_log checks
sub _check_present {
    my ($block, $pats, $lines, $dry_run, $what, $file, $suffix) = @_;
    my $name = $block->name;
    my $list = _pattern_list($pats);
    for my $line (@$lines) {
        for my $p (@$list) {
            next unless defined $p;
            next unless _line_matches($line, $p);
            SKIP: {
                Test::More::skip("$name - $what - tests skipped due to $dry_run", 1) if $dry_run;
                Test::More::pass("$name - pattern \"$p\" matches a line in $file$suffix");
            }
            undef $p;
        }
    }
    for my $p (grep { defined } @$list) {
        SKIP: {
            Test::More::skip("$name - $what - tests skipped due to $dry_run", 1) if $dry_run;
            Test::More::fail("$name - pattern \"$p\" should match a line in $file$suffix");
        }
    }
}

sub _check_absent {
    my ($block, $pats, $lines, $dry_run, $what, $file, $suffix) = @_;
    my $name = $block->name;
    my $list = _pattern_list($pats);
    my %hit;
    for my $i (0 .. $#$lines) {
        my $line = $lines->[$i];
        for my $p (@$list) {
            next unless defined $p && _line_matches($line, $p);
            # a pattern matching several lines fails several times, which
            # breaks the plan; keep Test::Builder quiet about that
            Test::More->builder->no_ending(1) if $hit{$p}++;
            SKIP: {
                Test::More::skip("$name - $what - tests skipped due to $dry_run", 1) if $dry_run;
                my @ctx = @{$lines}[$i + 1 .. min($i + 9, $#$lines)];
                Test::More::fail("$name - pattern \"" . _fmt($p) . "\" should not match any line "
                                 . "in $file but matches line \"" . _fmt($line) . "\"$suffix\n"
                                 . join '', @ctx);
            }
        }
    }
    for my $p (@$list) {
        next if !defined $p || $hit{$p};
        SKIP: {
            Test::More::skip("$name - $what - tests skipped due to $dry_run", 1) if $dry_run;
            Test::More::pass("$name - pattern \"" . _fmt($p) . "\" does not match a line in $file$suffix");
        }
    }
}

sub check_error_log {
    my ($block, $res, $dry_run, $rep, $need_array) = @_;
    my $name = $block->name;
    my $lines;
    my %warn_on = ('[alert]' => 1, '[crit]' => 1, '[emerg]' => 1);

    my $grep = $block->grep_error_log;
    if (defined $grep) {
        my $gp = ref $grep eq 'ARRAY' ? $grep->[$rep] : $grep;
        my $expected = $block->grep_error_log_out;
        bail_out("$name - No --- grep_error_log_out defined but --- grep_error_log is defined")
            unless defined $expected;
        if (defined $gp) {
            $expected = $expected->[$rep] if ref $expected eq 'ARRAY';
            $expected = TNX::Server::expand_env($expected, $name) if !ref $expected;
            SKIP: {
                Test::More::skip("$name - error_log - tests skipped due to $dry_run", 1) if $dry_run;
                $lines ||= TNX::Server::error_log_lines();
                my $got = '';
                for my $line (@$lines) {
                    my $m;
                    if (ref $gp && $line =~ $gp) {
                        $m = $&;
                    } elsif (!ref $gp && index($line, $gp) >= 0) {
                        $m = $gp;
                    }
                    $got .= "$m\n" if defined $m && $m !~ /\n/;
                }
                my $desc = "$name - grep_error_log_out (req $rep)";
                if (ref $expected eq 'Regexp') {
                    Test::More::like($got, $expected, $desc);
                } elsif ($NoLongString) {
                    Test::More::is($got, $expected, $desc);
                } else {
                    _is_long_string($got, $expected, $desc);
                }
            }
        }
    } elsif (defined $block->grep_error_log_out) {
        bail_out("$name - No --- grep_error_log defined but --- grep_error_log_out is defined");
    }

    for my $sec (qw(error_log no_error_log)) {
        my $pats = $block->$sec;
        next unless defined $pats;
        for my $tag (keys %warn_on) {
            (my $prefix = $tag) =~ s/\]$//;
            delete $warn_on{$tag} if _mentions($pats, $prefix);
        }
        $lines ||= TNX::Server::error_log_lines();
        if ($sec eq 'error_log') {
            _check_present($block, $pats, $lines, $dry_run, 'error_log', 'error.log', " (req $rep)");
        } else {
            _check_absent($block, $pats, $lines, $dry_run, 'no_error_log', 'error.log', " (req $rep)");
        }
    }

    return if $dry_run;
    $lines ||= TNX::Server::error_log_lines();
    my $expects_signal = _mentions(scalar($block->error_log), 'exited on signal')
                      || _mentions(scalar($block->no_error_log), 'exited on signal');
    for my $line (@$lines) {
        for my $tag (sort keys %warn_on) {
            warn "WARNING: $name - " . _fmt($line) . "\n" if index($line, $tag) >= 0;
        }
        if ($line =~ /\bAssertion .*?failed\b/
            || (!$expects_signal && $line =~ /exited on signal \d+/))
        {
            Test::More->builder->no_ending(1);
            chomp(my $l = $line);
            Test::More::fail("$name - $l");
        }
    }
}

sub check_access_log {
    my ($block, $dry_run, $rep) = @_;
    my $lines;
    if (defined(my $pats = $block->access_log)) {
        $lines ||= TNX::Server::access_log_lines();
        _check_present($block, $pats, $lines, $dry_run, 'access_log', 'access.log', " (req $rep)");
    }
    if (defined(my $pats = $block->no_access_log)) {
        $lines ||= TNX::Server::access_log_lines();
        _check_absent($block, $pats, $lines, $dry_run, 'no_access_log', 'access.log', " (req $rep)");
    }
}

sub check_shutdown_error_log {
    my ($block, $dry_run) = @_;
    my $lines;
    if (defined(my $pats = $block->shutdown_error_log)) {
        $lines ||= TNX::Server::error_log_lines();
        _check_present($block, $pats, $lines, $dry_run, 'shutdown_error_log', 'error.log', '');
    }
    if (defined(my $pats = $block->no_shutdown_error_log)) {
        $lines ||= TNX::Server::error_log_lines();
        _check_absent($block, $pats, $lines, $dry_run, 'no_shutdown_error_log', 'error.log', '');
    }
}

sub check_prev_block_shutdown_error_log {
    my $b = $PrevBlock or return;
    return unless defined $b->shutdown_error_log || defined $b->no_shutdown_error_log;
    my $dry = $TNX::Server::NoClean ? 'TEST_NGINX_NO_CLEAN' : 0;
    check_shutdown_error_log($b, $dry);
}

END {
    if ($$ == $MainPid && $RunStarted && !$TNX::Server::NoNginxManager) {
        local $?;
        cleanup();
        if (!$TNX::Server::NoClean || $TNX::Server::UseValgrind) {
            TNX::Server::stop_running_nginx('END');
        }
        check_prev_block_shutdown_error_log();
        if ($TNX::Server::Randomize && !$TNX::Server::NoClean
            && $TNX::Server::ServRoot =~ m{/t/servroot_\d+$})
        {
            require File::Path;
            File::Path::remove_tree($TNX::Server::ServRoot);
        }
    }
}

1;
