package TNX::HTTP;

# Private helper of the bundled Test::Nginx::Socket work-alike: turns the
# request sections of a block into wire data, talks to nginx (raw TCP or
# curl for HTTP/2) and parses the responses.
#
# Written from scratch for ngx_twilio_guard; not derived from Test::Nginx code.

use strict;
use warnings;

use Errno qw(EAGAIN EWOULDBLOCK EINTR EINPROGRESS);
use IO::Select ();
use IO::Socket::INET ();
use IPC::Open3 ();
use POSIX qw(WNOHANG);
use Symbol ();
use Time::HiRes qw(sleep time);

use TNX::Server ();

our $ConnectFailures = 0;

sub bail { TNX::Server::bail(@_) }

# ---------------------------------------------------------------------------
# a tiny response object (code / header / content)
# ---------------------------------------------------------------------------

package TNX::HTTP::Response;

sub new {
    my ($class, %a) = @_;
    return bless { code => $a{code}, message => $a{message}, protocol => $a{protocol},
                   headers => $a{headers} || [], content => $a{content} }, $class;
}

sub code     { my $s = shift; $s->{code} = shift if @_; $s->{code} }
sub message  { $_[0]{message} }
sub protocol { $_[0]{protocol} }

sub content {
    my $s = shift;
    $s->{content} = shift if @_;
    return $s->{content};
}

# all values of a header (case-insensitive); joined by ", " in scalar context
sub header {
    my ($s, $name) = @_;
    my @v = map { $_->[1] } grep { lc $_->[0] eq lc $name } @{ $s->{headers} };
    return @v if wantarray;
    return undef unless @v;
    return join ', ', @v;
}

sub headers_list { @{ $_[0]{headers} } }

package TNX::HTTP;

# ---------------------------------------------------------------------------
# building requests
# ---------------------------------------------------------------------------

# "--- more_headers" text -> ("Name: value\r\n..." , is_chunked)
sub more_headers_to_wire {
    my ($text) = @_;
    my ($out, $chunked) = ('', 0);
    for my $line (split /\n+/, $text // '') {
        next if $line =~ /^\s*#/;
        my ($k, $v) = split /:\s*/, $line, 2;
        $v = '' unless defined $v;
        $chunked = 1 if lc($k) eq 'transfer-encoding' && $v eq 'chunked';
        $out .= "$k: $v\r\n";
    }
    return ($out, $chunked);
}

# Rewrite a request written in the short form
#     METHOD [URI [PROTOCOL]]\n[body]
# into a full HTTP/1.x request.  The request may be split into several
# packets; the split points are kept (mapped onto the rewritten text) so
# that each packet still results in its own write.
sub complete_request {
    my ($name, $hdrs, $chunked, $conn, $packets) = @_;
    my $all = join '', @$packets;

    $all =~ /\A([ \t\r\n]*)(\S+)([ \t]*)(?:(\S+)([ \t]*))?(?:(\S+)([ \t]*))?(\r?\n|\z)/
        or bail("$name - cannot parse the request line: \"" . (split /\n/, $all)[0] . '"');
    my ($lead, $meth, $sp1, $uri, $sp2, $proto, $sp3, $eol)
        = ($1, $2, $3, $4, $5, $6, $7, $8);
    my $head_len = $+[0];
    $uri   = '/'        unless defined $uri;
    $proto = 'HTTP/1.1' unless defined $proto;
    my $body = substr $all, $head_len;

    my $extra = '';
    if (!$chunked && length $body && $hdrs !~ /(?:^|\n)Content-Length:/) {
        $body =~ s/^\s+|\s+$//g;
        $extra = 'Content-Length: ' . length($body) . "\r\n";
    }
    (my $more = $hdrs) =~ s/(?<!\r)\n/\r\n/g;
    my $head = '';
    $head .= "Host: $TNX::Server::ServerName\r\n" if $more !~ /(?:^|\n)Host:/i;
    $head .= "Connection: $conn\r\n" if $more !~ /(?:^|\n)Connection/i;
    $head .= $more . $extra . "\r\n";

    my $line = "$meth $uri $proto\r\n";
    my $new = $line . $head . $body;
    return [$new] if @$packets <= 1;

    # map each original split offset onto the new text: offsets inside the
    # request line land at the corresponding place of the new request line,
    # offsets inside the body keep their distance from the body end/start.
    my @cuts;
    my $off = 0;
    my $orig_body_len = length($all) - $head_len;
    for my $i (0 .. $#$packets - 1) {
        $off += length $packets->[$i];
        my $pos;
        if ($off < $head_len) {
            my $in_line = $off - length($lead);
            $in_line = 0 if $in_line < 0;
            $pos = $in_line < length($line) - 2 ? $in_line : length($line) - 2;
        } else {
            my $into_body = $off - $head_len;
            my $shrink = $orig_body_len - length $body;   # trimmed whitespace
            $into_body -= $shrink if $into_body > length $body;
            $into_body = length $body if $into_body > length $body;
            $into_body = 0 if $into_body < 0;
            $pos = length($line) + length($head) + $into_body;
        }
        push @cuts, $pos;
    }
    my @out;
    my $prev = 0;
    for my $c (@cuts, length $new) {
        $c = $prev if $c < $prev;
        push @out, substr($new, $prev, $c - $prev);
        $prev = $c;
    }
    return \@out;
}

sub pick_headers {
    my ($name, $more, $i) = @_;
    my $h = $more;
    if (ref $more eq 'ARRAY') {
        $h = $more->[$i];
        bail("$name - --- more_headers lacks data for request $i") unless defined $h;
    }
    return more_headers_to_wire($h);
}

# -> list of requests; each request is a list of packets
#    { value => "...", delay_before => secs }
sub requests_from_block {
    my ($block) = @_;
    my $name = $block->name;
    my @reqs;

    if (defined(my $raw = $block->raw_request)) {
        if (ref $raw eq 'ARRAY') {
            push @reqs, [ map { ref $_ eq 'HASH' ? {%$_} : { value => $_ } } @$raw ];
        } else {
            push @reqs, [ { value => $raw } ];
        }
        return \@reqs;
    }

    my $more = $block->more_headers // '';

    if (defined(my $pl = $block->pipelined_requests)) {
        bail("$name - --- pipelined_requests must be an ARRAY ref (use eval)")
            unless ref $pl eq 'ARRAY';
        my $wire = '';
        for my $i (0 .. $#$pl) {
            my $r = TNX::Server::expand_env($pl->[$i], $name);
            my ($h, $chunked) = pick_headers($name, $more, $i);
            my $conn = $i == $#$pl ? 'close' : 'keep-alive';
            $wire .= join '', @{ complete_request($name, $h, $chunked, $conn, [$r]) };
        }
        push @reqs, [ { value => $wire } ];
        return \@reqs;
    }

    my $request;
    if (defined $block->request_eval) {
        Test::More::diag("$name - request_eval DEPRECATED. Use request eval instead.");
        $request = eval $block->request_eval;
        warn $@ if $@;
    } else {
        $request = $block->request;
        if (defined $request && !ref $request) {
            # leading comment lines and blank space are not part of the request
            1 while $request =~ s/\A\s*#[^\n]*\n//;
            $request =~ s/\A\s+//;
        }
    }
    return \@reqs unless defined $request;

    if (!ref $request) {
        my ($h, $chunked) = pick_headers($name, $more, 0);
        push @reqs, [ { value => complete_request($name, $h, $chunked, 'close', [$request])->[0] } ];
    } elsif (ref $request eq 'ARRAY') {
        for my $i (0 .. $#$request) {
            my $one = $request->[$i];
            my ($h, $chunked) = pick_headers($name, $more, $i);
            if (!ref $one) {
                push @reqs, [ { value => complete_request($name, $h, $chunked, 'close', [$one])->[0] } ];
            } elsif (ref $one eq 'ARRAY') {
                my @vals = map {
                    !ref $_ ? $_
                      : ref $_ eq 'HASH' ? $_->{value}
                      : bail("$name - a packet must be a string or a HASH ref with a value")
                } @$one;
                my $done = complete_request($name, $h, $chunked, 'close', \@vals);
                my @pk;
                for my $j (0 .. $#$done) {
                    my $orig = $one->[$j];
                    my %p = ref $orig eq 'HASH' ? %$orig : ();
                    $p{value} = $done->[$j];
                    push @pk, \%p;
                }
                push @reqs, \@pk;
            } else {
                bail("$name - each request must be a string or an ARRAY ref of packets");
            }
        }
    } else {
        bail("$name - --- request must be a string or an ARRAY ref of requests");
    }
    return \@reqs;
}

# ---------------------------------------------------------------------------
# sending over a plain TCP socket
# ---------------------------------------------------------------------------

sub connect_server {
    my ($block, $timeout) = @_;
    my $name = $block->name;
    my $addr = $block->server_addr_for_client // $TNX::Server::ServerAddr;
    my $port = $TNX::Server::ClientPort;
    my $max = $ConnectFailures ? 20 : 50;
    my $step = TNX::Server::parse_time($TNX::Server::SleepStep);
    my $err;
    for my $try (1 .. $max) {
        my $sock = IO::Socket::INET->new(PeerAddr => $addr, PeerPort => $port,
                                         Proto => 'tcp', Timeout => $timeout);
        return $sock if $sock;
        $err = $!;
        if (defined $TNX::Server::ChildPid
            && waitpid($TNX::Server::ChildPid, WNOHANG) == $TNX::Server::ChildPid)
        {
            undef $TNX::Server::ChildPid;
            Test::More->builder->no_ending(1);
            Test::More::fail("$name - cannot connect to $addr:$port: $err (nginx is gone)");
            return undef;
        }
        my $wait = ($step + $step * $try) * $try / 2;
        $wait = 1 if $wait > 1;
        warn "$name - cannot connect to $addr:$port: $err; retrying in $wait s\n"
            if $wait >= 0.6;
        sleep $wait;
    }
    my $msg = "$name - cannot connect to $addr:$port: $err (aborted)";
    if (++$ConnectFailures >= 3) {
        bail($msg);
    }
    Test::More->builder->no_ending(1);
    Test::More::fail($msg);
    return undef;
}

# send one request (list of packets) and read until EOF; every single wait
# for I/O is bounded by $timeout.  Returns the raw response bytes.
sub send_tcp {
    my ($block, $packets, $middle_delay, $timeout) = @_;
    my $name = $block->name;

    my $sock = connect_server($block, $timeout) or return undef;
    $sock->blocking(0);
    binmode $sock;
    local $SIG{PIPE} = 'IGNORE';

    my @queue = map { {%$_} } @$packets;
    my $cur = shift @queue;
    my $buf = $cur ? $cur->{value} // '' : '';
    my $woff = 0;
    my $writing = defined $cur;
    my $resp = '';
    my $write_err;
    my $rsel = IO::Select->new($sock);

    while (1) {
        my $wsel = $writing ? IO::Select->new($sock) : undef;
        $! = 0;
        my ($r, $w) = IO::Select->select($rsel, $wsel, undef, $timeout);
        if (!$r && !$w) {
            next if $! == EINTR;
            # timed out
            close $sock;
            if (!defined $block->abort) {
                Test::More->builder->no_ending(1);
                Test::More::fail("ERROR: client socket timed out - $name");
            }
            last;
        }
        if ($w && @$w) {
            while ($writing) {
                if ($woff < length $buf) {
                    my $n = syswrite $sock, $buf, length($buf) - $woff, $woff;
                    if (!defined $n) {
                        last if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                        # e.g. nginx answered early and closed: keep
                        # reading whatever response it sent
                        $write_err = "$!";
                        warn "$name - write failed: $write_err\n";
                        $writing = 0;
                        last;
                    }
                    $woff += $n;
                    next;
                }
                $cur = shift @queue;
                if (!$cur) {
                    $writing = 0;
                    if (defined(my $sd = $block->shutdown)) {
                        $sd = 1 if $sd !~ /\S/;
                        shutdown $sock, $sd;
                    }
                    last;
                }
                my $delay = $cur->{delay_before} // $middle_delay;
                sleep $delay if $delay;
                $buf = $cur->{value} // '';
                $woff = 0;
            }
        }
        if ($r && @$r) {
            my $eof = 0;
            while (1) {
                my $chunk;
                my $n = sysread $sock, $chunk, 16384;
                if (!defined $n) {
                    last if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                    warn "WARNING: $name - HTTP response read failure: $!\n";
                    $eof = 1;
                    last;
                }
                if ($n == 0) {
                    $eof = 1;
                    last;
                }
                $resp .= $chunk;
            }
            if ($eof) {
                close $sock;
                last;
            }
        }
    }
    $resp = "write failed: $write_err" if $resp eq '' && defined $write_err;
    return $resp;
}

# ---------------------------------------------------------------------------
# sending with curl (HTTP/2)
# ---------------------------------------------------------------------------

sub curl_command {
    my ($block, $packets, $use_http2) = @_;
    my $name = $block->name;
    my $req = join '', map { $_->{value} } @$packets;

    my ($meth, $uri, $ver);
    if ($req =~ m{\A\s*(\w+)\s+(\S+)\s+HTTP/(\S+)\r?\n}) {
        ($meth, $uri, $ver) = ($1, $2, $3);
    } elsif ($req =~ m{\A\s*(\w+)\s+(.*\S)\s*\r?\n}) {
        ($meth, $uri, $ver) = ($1, $2, '0.9');
    } else {
        bail("$name - cannot parse the request line of: $req");
    }
    my $rest = substr $req, $+[0];

    my @args = ('curl', '-i', '-H', 'User-Agent:', '-H', 'Accept:', '-H', 'Host:',
                $TNX::Server::Verbose ? '-vv' : '-sS');
    push @args, '--http2-prior-knowledge' if $use_http2;
    if ($meth eq 'HEAD') {
        push @args, '-I';
    } elsif ($meth ne 'GET') {
        push @args, '-X', $meth;
    }
    push @args, '-0' if $ver ne '1.1';

    my $body = '';
    if ($ver ge '1.0') {
        $rest =~ /\A(.*?)\r?\n\r?\n/s
            or bail("$name - cannot find the end of the request header in: $req");
        my $hdrs = $1;
        $body = substr $rest, $+[0];
        my $has_ct = 0;
        for my $h (split /\r?\n/, $hdrs) {
            next if $h =~ /^Connection\s*:/i;
            $has_ct = 1 if $h =~ /^\s*Content-Type\s*:/i;
            push @args, '-H', $h;
        }
        if (length $body) {
            push @args, '-H', 'Content-Type: ' unless $has_ct;
        }
    }
    if (length $body) {
        my $file = "$TNX::Server::HtmlDir/curl.data.bin";
        open my $fh, '>', $file or bail("$name - cannot write $file: $!");
        binmode $fh;
        print $fh $body;
        close $fh;
        push @args, '--data-binary', "\@$file";
    }

    my $t = TNX::Server::parse_time(scalar($block->timeout)) || $TNX::Server::Timeout;
    push @args, '--connect-timeout', $t, '--max-time', $t;

    my $proto = $block->curl_protocol // 'http';
    my $addr = $block->server_addr_for_client // $TNX::Server::ServerAddr;
    # like the original, the whole section value is ONE extra argument
    push @args, $block->curl_options if defined $block->curl_options;
    push @args, "$proto://$addr:$TNX::Server::ClientPort$uri";
    return \@args;
}

# run a command with a hard deadline; returns (ok, wait_status, stdout, stderr)
sub run_cmd {
    my ($cmd, $secs) = @_;
    my ($out, $err) = ('', '');
    my $ofh = Symbol::gensym();
    my $efh = Symbol::gensym();
    my $ifh;
    my $pid = eval { IPC::Open3::open3($ifh, $ofh, $efh, @$cmd) };
    return (0, -1, '', "cannot run $cmd->[0]: $@") unless $pid;
    close $ifh;
    my $sel = IO::Select->new($ofh, $efh);
    my $deadline = time + $secs;
    while ($sel->count) {
        my $left = $deadline - time;
        last if $left <= 0;
        for my $fh ($sel->can_read($left)) {
            my $n = sysread $fh, my $b, 16384;
            if (!$n) {
                $sel->remove($fh);
                next;
            }
            if ($fh == $ofh) { $out .= $b } else { $err .= $b }
        }
    }
    # the pipes are closed (or time is up): reap the child, killing it when
    # it is still running at the deadline
    while (1) {
        my $w = waitpid($pid, WNOHANG);
        return (1, $?, $out, $err) if $w == $pid;
        return (1, -1, $out, $err) if $w < 0;
        last if time >= $deadline;
        sleep 0.005;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
    return (0, $?, $out, $err . "(killed after $secs s)");
}

sub send_curl {
    my ($block, $packets, $timeout, $use_http2) = @_;
    my $name = $block->name;
    my $cmd = curl_command($block, $packets, $use_http2);

    # wait for the listening socket without connecting to it
    my $deadline = time + ($ConnectFailures ? 20 : 50);
    until (TNX::Server::port_listening($TNX::Server::ClientPort)) {
        last if time > $deadline;
        warn "$name - waiting for nginx to listen on port $TNX::Server::ClientPort\n";
        sleep 1;
    }

    TNX::Server::vlog("running: @$cmd\n");
    my ($ok, $st, $out, $err) = run_cmd($cmd, $timeout + 2);
    if (!$ok) {
        Test::More::fail("$name - failed to run curl: $err");
        return undef;
    }
    if ($out eq '') {
        if (defined(my $ce = $block->curl_error)) {
            return undef if ref $ce ? $err =~ $ce : index($err, $ce) >= 0;
        }
        Test::More::fail($err ne ''
            ? "$name - command \"@$cmd\" generates stderr output: $err"
            : "$name - command \"@$cmd\" generates no stdout output");
        return undef;
    }
    warn "WARNING: $name - command \"@$cmd\" generates stderr output: $err" if $err ne '';
    return $out;
}

# ---------------------------------------------------------------------------
# parsing responses
# ---------------------------------------------------------------------------

sub _parse_head {
    my ($raw) = @_;
    my ($status, $rest) = ('', '');
    if ($raw =~ /\A(.*?)\r?\n/s) {
        $status = $1;
        $rest = substr $raw, $+[0];
    } else {
        $status = $raw;
    }
    my ($proto, $code, $msg);
    if ($status =~ /^(\d{3})(?:\s+(.*))?$/) {
        ($code, $msg) = ($1, $2);
    } else {
        ($proto, $code, $msg) = split ' ', $status, 3;
    }
    my @h;
    while ($rest =~ s/\A([^\s:]+)[ \t]*: ?(.*?)\r?\n//) {
        push @h, [$1, $2];
        while ($rest =~ s/\A[ \t]+(.*?)\r?\n//) {
            $h[-1][1] .= " $1";
        }
    }
    $rest =~ s/\A\r?\n//;
    return TNX::HTTP::Response->new(protocol => $proto, code => $code, message => $msg,
                                    headers => \@h, content => $rest);
}

sub _chunk_fail {
    my ($msg) = @_;
    Test::More->builder->no_ending(1);
    Test::More::fail($msg);
    return;
}

# -> (response, raw_header_text, left_over_bytes)
sub parse_response {
    my ($name, $raw, $head_req) = @_;
    my $raw_headers = $raw =~ /\A(.*?\r\n)\r\n/s ? $1 : '';
    my $res = _parse_head($raw);
    my $left;

    my $code = $res->code;
    if (defined $code && $code !~ /^\d+$/) {
        $res->code(undef);
        $code = undef;
    }
    return ($res, $raw_headers) if $code && ($code == 304 || $code == 101);

    my $te = $res->header('Transfer-Encoding');
    my $cl = $res->header('Content-Length');
    my @trailers = map { split /\s*,\s*/ } $res->header('Trailer');

    if (defined $te && $te eq 'chunked') {
        my $body = $res->content // '';
        my $pos = 0;
        my $out = '';
        while (1) {
            pos($body) = $pos;
            if ($body =~ /\G[ \t]*([0-9A-Fa-f]+)[ \t]*(?:;[^\r\n]*)?\r\n/gc) {
                my $size = hex $1;
                $pos = pos $body;
                if ($size == 0) {
                    for my $t (@trailers) {
                        pos($body) = $pos;
                        return _chunk_fail("$name - invalid trailer data received (expected $t).")
                            unless $body =~ /\G\Q$t\E:[^\n]*\r\n/gci;
                        $pos = pos $body;
                    }
                    return _chunk_fail("$name - invalid chunked data received (expected CRLF).")
                        unless substr($body, $pos, 2) eq "\r\n";
                    $pos += 2;
                    $left = substr $body, $pos if $pos < length $body;
                    last;
                }
                return _chunk_fail("$name - invalid chunked data received "
                                   . "(not enough octets for the data section)")
                    if length($body) - $pos < $size;
                $out .= substr $body, $pos, $size;
                $pos += $size;
                return _chunk_fail("$name - invalid chunked data received (expected CRLF).")
                    unless substr($body, $pos, 2) eq "\r\n";
                $pos += 2;
            } elsif ($pos < length $body) {
                return _chunk_fail("$name - invalid chunked body received: "
                                   . substr($body, $pos));
            } else {
                return _chunk_fail("$name - no last chunk found - $body");
            }
        }
        $res->content($out);
    } elsif (defined $cl && $cl =~ /^\s*(\d+)\s*$/) {
        my $len = $1;
        my $body = $res->content // '';
        if (length $body < $len) {
            warn "WARNING: $name - response body truncated: $len expected, but got "
                 . length($body) . "\n" unless $head_req;
        } elsif (length $body > $len) {
            $left = substr $body, $len;
            $res->content(substr $body, 0, $len);
        }
    }
    return ($res, $raw_headers, $left);
}

1;
