package Twilio::Backend;

# A tiny HTTP/1.x echo server used as the upstream in the nginx tests, so a
# test can assert exactly what the upstream received (method, URI, body bytes,
# selected headers) and whether it was reached at all (hit counter).
#
#   use Twilio::Backend;             # starts the backend (once per process)
#   use Twilio::Backend '-nostart';  # helpers only; call start() yourself
#
# The backend listens on 127.0.0.1:$ENV{TEST_NGINX_BACKEND_PORT}.  When that
# is unset it takes DEFAULT_PORT (1990) or, if that is busy, a free port, and
# sets the variable so "--- config" sections can say $TEST_NGINX_BACKEND_PORT.
# It is stopped in END (only in the process that started it), and it exits by
# itself within a second if that process disappears without running END.
#
# Every well-formed request gets "200 OK", Content-Type: text/plain, Connection:
# close and the body built by backend_echo() (a malformed one gets 400).
# GET /__hits answers "hits: N\n": the well-formed requests other than /__hits
# and /__reset since the start or the last reset.  GET /__reset sets N to 0
# and answers "hits: 0\n".

use strict;
use warnings;

use IO::Socket::INET ();
use IO::Select ();
use POSIX ();
use Errno ();
use Time::HiRes ();
use Digest::SHA qw(sha256_hex);
use Exporter ();
our @ISA = (q(Exporter));

our $VERSION = '0.01';

our @EXPORT = qw(backend_echo backend_port raw_request);
our @EXPORT_OK = (@EXPORT, qw(
    start stop backend_pid backend_hits backend_reset
    send_raw parse_response echoed_header
));
our %EXPORT_TAGS = (all => \@EXPORT_OK);

use constant DEFAULT_PORT   => 1990;
use constant IDLE_TIMEOUT   => 30;          # seconds a connection may idle
use constant MAX_HEADER     => 64 * 1024;
use constant MAX_BODY       => 64 * 1024 * 1024;

my ($PID, $OWNER, $PORT);

sub import {
    my ($class, @args) = @_;
    my $start = !grep { $_ eq '-nostart' } @args;
    @args = grep { $_ ne '-nostart' } @args;
    start() if $start;
    $class->export_to_level(1, $class, @args);
    # "--- foo eval" sections of Test::Nginx (Test::Base) are evaluated in
    # package Test::Base::Filter: make the default helpers callable there too.
    no strict 'refs';
    for my $name (@EXPORT) {
        *{"Test::Base::Filter::$name"} = \&{$name}
            unless defined &{"Test::Base::Filter::$name"};
    }
}

sub _bytes {
    my ($s) = @_;
    return '' unless defined $s;
    utf8::encode($s) if utf8::is_utf8($s);
    return $s;
}

# ---------------------------------------------------------------------------
# expected output

# Which request headers the backend reports (names lower-cased).  A request
# that carries X-Echo-All (any value) gets every header line reported, so a
# test can see a header it did not expect, e.g. one injected through a
# variable holding a line break.
sub echoed_header {
    my ($name) = @_;
    $name = lc $name;
    return $name eq 'content-type'
        || $name eq 'x-twilio-signature'
        || $name =~ /\Ax-echo-/;
}

sub _echo_body {
    my ($method, $uri, $body, $headers) = @_;    # $headers: [[lcname, value], ...]
    my $out = "method: $method\n"
            . "uri: $uri\n"
            . 'length: ' . length($body) . "\n"
            . 'sha256: ' . sha256_hex($body) . "\n";
    my $i = 0;
    my $all = grep { $_->[0] eq 'x-echo-all' } @$headers;
    my @h = map { [ @$_, $i++ ] }
            grep { $all || echoed_header($_->[0]) } @$headers;
    for my $h (sort { $a->[0] cmp $b->[0] || $a->[2] <=> $b->[2] } @h) {
        $out .= "header: $h->[0]: $h->[1]\n";
    }
    return $out;
}

# backend_echo($method, $uri, $body, name => value, ...)
# The exact body the backend answers for such a request.  Header names are
# case-insensitive; headers the backend does not report are ignored, so the
# caller may pass everything it sent.  A value may be an array ref for a
# header sent several times (in sending order).
sub backend_echo {
    my ($method, $uri, $body, @kv) = @_;
    die "backend_echo: odd number of header arguments\n" if @kv % 2;
    my @h;
    while (@kv) {
        my ($k, $v) = splice @kv, 0, 2;
        push @h, [ lc $k, _bytes($_) ] for ref $v eq 'ARRAY' ? @$v : ($v);
    }
    return _echo_body(_bytes($method), _bytes($uri), _bytes($body), \@h);
}

# raw_request($method, $target, $host, $body, Name => value, ...)
# An HTTP/1.1 request as bytes: request line with $target verbatim, Host,
# the given headers in order, Content-Length (whenever a body is given, or
# for methods other than GET/HEAD), Connection: close, then the body.
sub raw_request {
    my ($method, $target, $host, $body, @kv) = @_;
    die "raw_request: odd number of header arguments\n" if @kv % 2;
    my $req = _bytes($method) . ' ' . _bytes($target) . " HTTP/1.1\r\n";
    $req .= 'Host: ' . _bytes($host) . "\r\n" if defined $host;
    while (@kv) {
        my ($k, $v) = splice @kv, 0, 2;
        $req .= _bytes($k) . ': ' . _bytes($_) . "\r\n"
            for ref $v eq 'ARRAY' ? @$v : ($v);
    }
    $body = defined $body ? _bytes($body) : undef;
    if ((defined $body && length $body) || $method !~ /\A(?:GET|HEAD)\z/) {
        $req .= 'Content-Length: ' . length($body // '') . "\r\n";
    }
    $req .= "Connection: close\r\n\r\n";
    $req .= $body if defined $body;
    return $req;
}

# ---------------------------------------------------------------------------
# process management

sub backend_port { return $PORT }
sub backend_pid  { return ($PID && $OWNER == $$) ? $PID : undef }

sub _listen {
    my ($port) = @_;
    return IO::Socket::INET->new(
        LocalAddr => '127.0.0.1',
        LocalPort => $port,
        Proto     => 'tcp',
        Listen    => 128,
        ReuseAddr => 1,
    );
}

sub start {
    return $PORT if $PID && $OWNER == $$;
    my $want = $ENV{TEST_NGINX_BACKEND_PORT};
    my $listen;
    if (defined $want && $want ne '') {
        die "Twilio::Backend: TEST_NGINX_BACKEND_PORT='$want' is not a port\n"
            unless $want =~ /\A[0-9]+\z/ && $want > 0 && $want < 65536;
        $listen = _listen($want)
            or die "Twilio::Backend: cannot listen on 127.0.0.1:$want: $@\n";
    } else {
        $listen = _listen(DEFAULT_PORT) || _listen(0)
            or die "Twilio::Backend: cannot listen on 127.0.0.1: $@\n";
    }
    my $port   = $listen->sockport;
    my $parent = $$;

    my $pid = fork;
    die "Twilio::Backend: fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        # The child must never return into the test or run its END blocks.
        local $@;
        eval {
            $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP QUIT ALRM CHLD);
            $SIG{PIPE} = 'IGNORE';
            $SIG{__DIE__} = 'DEFAULT';
            $SIG{__WARN__} = 'DEFAULT';
            open STDIN,  '<', '/dev/null';
            open STDOUT, '>', '/dev/null';    # keep the TAP stream free
            _serve($listen, $parent);
            1;
        } or do {
            my $err = $@;
            print STDERR "Twilio::Backend: $err" if $err;
        };
        POSIX::_exit(0);
    }

    close $listen;
    ($PID, $OWNER, $PORT) = ($pid, $$, $port);
    $ENV{TEST_NGINX_BACKEND_PORT} = $port;
    return $port;
}

sub stop {
    return unless $PID && $OWNER == $$;
    local ($?, $!);
    kill 'TERM', $PID;
    my $deadline = Time::HiRes::time() + 5;
    while (waitpid($PID, POSIX::WNOHANG()) == 0) {
        if (Time::HiRes::time() > $deadline) {
            kill 'KILL', $PID;
            waitpid($PID, 0);
            last;
        }
        Time::HiRes::sleep(0.02);
    }
    $PID = undef;
    return 1;
}

END { stop() }

# ---------------------------------------------------------------------------
# server

sub _serve {
    my ($listen, $parent) = @_;
    $listen->blocking(0);
    my $sel  = IO::Select->new($listen);
    my %conn;
    my $hits = 0;
    my @pending;                # [due, fh, status, body] of delayed answers

    my $drop = sub {
        my ($fh) = @_;
        $sel->remove($fh);
        delete $conn{ fileno($fh) // -1 };
        close $fh;
    };

    while (1) {
        POSIX::_exit(0) if getppid() != $parent;

        for my $fh ($sel->can_read(@pending ? 0.05 : 0.5)) {
            if ($fh == $listen) {
                while (my $c = $listen->accept) {
                    $c->blocking(0);
                    $sel->add($c);
                    $conn{ fileno $c } = { buf => '', t => time };
                }
                next;
            }
            my $st = $conn{ fileno $fh } or do { $drop->($fh); next };
            my $n = sysread($fh, my $chunk, 65536);
            if (!defined $n) {
                next if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
                $drop->($fh);
                next;
            }
            $st->{t} = time;
            $st->{buf} .= $chunk if $n;
            my $req = _parse_request(\$st->{buf}, $n == 0);
            if (!$req) {
                $drop->($fh) if $n == 0;      # peer gave up mid-request
                next;
            }

            my ($status, $body);
            if ($req->{error}) {
                ($status, $body) = ('400 Bad Request', "bad request: $req->{error}\n");
            } elsif ($req->{path} eq '/__hits') {
                ($status, $body) = ('200 OK', "hits: $hits\n");
            } elsif ($req->{path} eq '/__reset') {
                $hits = 0;
                ($status, $body) = ('200 OK', "hits: 0\n");
            } else {
                $hits++;
                ($status, $body) = ('200 OK',
                    _echo_body($req->{method}, $req->{uri}, $req->{body}, $req->{headers}));
                # X-Backend-Status: NNN answers with that status,
                # X-Backend-Delay: S answers S seconds later
                my %h = map { @$_ } @{ $req->{headers} };
                $status = "$1 Backend Status"
                    if ($h{'x-backend-status'} // '') =~ /\A([1-5][0-9][0-9])\z/;
                if (($h{'x-backend-delay'} // '') =~ /\A([0-9.]+)\z/) {
                    $sel->remove($fh);
                    push @pending, [Time::HiRes::time() + $1, $fh, $status, $body];
                    next;
                }
            }
            _respond($fh, $status, $body);
            $drop->($fh);
        }

        my $t = Time::HiRes::time();
        for my $p (grep { $_->[0] <= $t } @pending) {
            _respond($p->[1], $p->[2], $p->[3]);
            $drop->($p->[1]);
        }
        @pending = grep { $_->[0] > $t } @pending;

        my $now = time;
        for my $fh ($sel->handles) {
            next if $fh == $listen;
            my $st = $conn{ fileno $fh };
            $drop->($fh) if !$st || $now - $st->{t} > IDLE_TIMEOUT;
        }
    }
}

sub _respond {
    my ($fh, $status, $body) = @_;
    my $out = "HTTP/1.1 $status\r\n"
            . "Content-Type: text/plain\r\n"
            . 'Content-Length: ' . length($body) . "\r\n"
            . "Connection: close\r\n\r\n"
            . $body;
    $fh->blocking(1);
    my $off = 0;
    while ($off < length $out) {
        my $w = syswrite($fh, $out, length($out) - $off, $off);
        if (!defined $w) {
            next if $!{EINTR};
            return;
        }
        $off += $w;
    }
    shutdown($fh, 1);
    # Drain briefly so a close with unread input does not turn into a RST
    # that could destroy the response before the client read it.
    my $sel = IO::Select->new($fh);
    my $until = Time::HiRes::time() + 0.2;
    while (Time::HiRes::time() < $until && $sel->can_read(0.05)) {
        my $r = sysread($fh, my $junk, 65536);
        last unless $r;
    }
}

# _parse_request(\$buf, $eof) -> undef (need more), {error => ...}, or
# {method, uri, path, version, headers => [[lcname, value]...], body}
sub _parse_request {
    my ($bufref, $eof) = @_;
    my $buf = $$bufref;

    $buf =~ s/\A(?:\r?\n)+//;                   # tolerate leading CRLFs
    my ($head, $rest);
    if ($buf =~ /\r?\n\r?\n/) {
        $head = substr($buf, 0, $-[0]);
        $rest = substr($buf, $+[0]);
    } else {
        return { error => 'header too large' } if length $buf > MAX_HEADER;
        return $eof && length $buf ? { error => 'incomplete header' } : undef;
    }

    my @lines = split /\r?\n/, $head;
    my $rl = shift @lines;
    my ($method, $uri, $version) =
        $rl =~ m{\A([!#\$%&'*+.^_`|~0-9A-Za-z-]+) +(\S+)(?: +(HTTP/[0-9]+\.[0-9]+))? *\z}
        or return { error => 'bad request line' };
    $version //= 'HTTP/0.9';

    my @headers;
    for my $line (@lines) {
        if ($line =~ /\A[ \t]+(.*)\z/ && @headers) {      # obsolete folding
            $headers[-1][1] .= " $1";
            next;
        }
        my ($name, $value) = $line =~ /\A([^:\s]+):[ \t]*(.*?)[ \t]*\z/
            or return { error => 'bad header line' };
        push @headers, [ lc $name, $value ];
    }

    my @te = map { $_->[1] } grep { $_->[0] eq 'transfer-encoding' } @headers;
    my @cl = map { $_->[1] } grep { $_->[0] eq 'content-length' } @headers;
    my $body;
    if (@te) {
        my $codings = lc join ',', @te;
        return { error => 'unsupported transfer-encoding' }
            unless $codings =~ /(?:\A|,)\s*chunked\s*\z/ && $codings !~ /chunked\s*,/;
        my $r = _dechunk($rest);
        return { error => $r->{error} } if $r && $r->{error};
        return $eof ? { error => 'incomplete chunked body' } : undef unless $r;
        $body = $r->{body};
    } elsif (@cl) {
        my %uniq;
        for my $v (map { split /,/ } @cl) {
            $v =~ s/\A\s+//;
            $v =~ s/\s+\z//;
            $uniq{$v} = 1;
        }
        my @v = keys %uniq;
        return { error => 'bad content-length' }
            unless @v == 1 && $v[0] =~ /\A[0-9]{1,12}\z/;
        my $len = $v[0] + 0;
        return { error => 'body too large' } if $len > MAX_BODY;
        if (length $rest < $len) {
            return $eof ? { error => 'incomplete body' } : undef;
        }
        $body = substr($rest, 0, $len);
    } else {
        $body = '';
    }

    my $path = $uri;
    $path =~ s/\?.*\z//s;
    return {
        method  => $method,
        uri     => $uri,
        path    => $path,
        version => $version,
        headers => \@headers,
        body    => $body,
    };
}

# Returns undef (incomplete), {error}, or {body} for a chunked message body.
sub _dechunk {
    my ($data) = @_;
    my $body = '';
    my $pos  = 0;
    while (1) {
        my $nl = index($data, "\n", $pos);
        return undef if $nl < 0;
        my $line = substr($data, $pos, $nl - $pos);
        $line =~ s/\r\z//;
        my ($hex) = $line =~ /\A([0-9A-Fa-f]{1,15})[ \t]*(?:;.*)?\z/
            or return { error => 'bad chunk size' };
        my $size = hex $hex;
        return { error => 'body too large' } if length($body) + $size > MAX_BODY;
        $pos = $nl + 1;
        if ($size == 0) {
            # trailer section, ended by an empty line
            while (1) {
                my $e = index($data, "\n", $pos);
                return undef if $e < 0;
                my $t = substr($data, $pos, $e - $pos);
                $pos = $e + 1;
                return { body => $body } if $t eq '' || $t eq "\r";
            }
        }
        return undef if length($data) < $pos + $size + 1;
        $body .= substr($data, $pos, $size);
        $pos += $size;
        if (substr($data, $pos, 2) eq "\r\n") {
            $pos += 2;
        } elsif (substr($data, $pos, 1) eq "\n") {
            $pos += 1;
        } elsif (length($data) - $pos < 2 && substr($data, $pos) =~ /\A\r?\z/) {
            return undef;
        } else {
            return { error => 'bad chunk terminator' };
        }
    }
}

# ---------------------------------------------------------------------------
# client helpers for plain Perl tests

# send_raw($raw, $port = backend_port(), $timeout = 10) -> raw response bytes
sub send_raw {
    my ($raw, $port, $timeout) = @_;
    $port    //= $PORT // die "send_raw: no port (backend not started)\n";
    $timeout //= 10;
    my $s = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp',
        Timeout  => $timeout,
    ) or die "send_raw: connect 127.0.0.1:$port: $@\n";
    binmode $s;
    my $off = 0;
    $raw = _bytes($raw);
    while ($off < length $raw) {
        my $w = syswrite($s, $raw, length($raw) - $off, $off);
        die "send_raw: write: $!\n" unless defined $w;
        $off += $w;
    }
    my $resp = '';
    my $sel = IO::Select->new($s);
    my $deadline = Time::HiRes::time() + $timeout;
    while (1) {
        my $left = $deadline - Time::HiRes::time();
        die "send_raw: timeout\n" if $left <= 0;
        next unless $sel->can_read($left);
        my $r = sysread($s, my $buf, 65536);
        last if !$r;
        $resp .= $buf;
    }
    close $s;
    return $resp;
}

# parse_response($raw) -> ($status_code, {lcname => value}, $body)
sub parse_response {
    my ($raw) = @_;
    my ($head, $body) = split /\r\n\r\n/, $raw, 2;
    my @lines = split /\r\n/, $head // '';
    my ($code) = (shift(@lines) // '') =~ m{\AHTTP/\d\.\d (\d{3})};
    my %h;
    for (@lines) {
        my ($k, $v) = /\A([^:]+):\s*(.*)\z/ or next;
        $h{ lc $k } = $v;
    }
    return ($code, \%h, $body // '');
}

sub backend_hits {
    my (undef, undef, $body) = parse_response(send_raw(raw_request('GET', '/__hits', '127.0.0.1')));
    return $body =~ /\Ahits: (\d+)\n\z/ ? $1 : undef;
}

sub backend_reset {
    send_raw(raw_request('GET', '/__reset', '127.0.0.1'));
    return 1;
}

1;

__END__

=head1 NAME

Twilio::Backend - echo upstream for the ngx_twilio_guard tests

=head1 SYNOPSIS

  use FindBin; use lib "$FindBin::Bin/lib";
  use Test::Nginx::Socket 'no_plan';
  use Twilio::Backend;        # starts 127.0.0.1:$TEST_NGINX_BACKEND_PORT

  __DATA__
  === TEST 1: echo
  --- config
      location / { proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT; }
  --- raw_request eval
  Twilio::Backend::raw_request("POST", "/sms", "example.com", "a=1",
      "Content-Type" => "application/x-www-form-urlencoded")
  --- response_body eval
  Twilio::Backend::backend_echo("POST", "/sms", "a=1",
      "content-type" => "application/x-www-form-urlencoded")

=head1 RESPONSE FORMAT

  method: POST
  uri: /sms?x=1
  length: 123
  sha256: <lowercase hex of the body bytes received (de-chunked)>
  header: content-type: ...           (one line per echoed header,
  header: x-echo-foo: ...              sorted by name, then arrival order)
  header: x-twilio-signature: ...

Echoed headers: C<content-type>, C<x-twilio-signature> and C<x-echo-*>;
every header line when the request carries C<X-Echo-All>.

Two request headers change the answer (the hit is counted all the same):
C<X-Backend-Status: 500> answers with that status, C<X-Backend-Delay: 1.5>
answers 1.5 seconds later (without holding up other connections).

=head1 FUNCTIONS

Exported by default: C<backend_echo>, C<backend_port>, C<raw_request>
(also installed into C<Test::Base::Filter>, where Test::Nginx evaluates
C<eval> sections).  On request: C<start>, C<stop>, C<backend_pid>,
C<backend_hits>, C<backend_reset>, C<send_raw>, C<parse_response>,
C<echoed_header>.

=cut
