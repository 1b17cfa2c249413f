#!/usr/bin/perl
# Checks the reference signer (t/lib/Twilio/Sign.pm) against every case in
# t/data/vectors.json, against Debian's python3-twilio when it is installed,
# and checks the echo backend (t/lib/Twilio/Backend.pm) the nginx tests use.
# Plain Test::More: no nginx needed.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();
use Digest::SHA qw(sha256_hex hmac_sha256_base64);
use IPC::Open3 ();
use Symbol ();
use POSIX ();
use Time::HiRes ();
use File::Temp ();

use Twilio::Sign qw(:all);
use Twilio::Backend qw(:all);

my $FORM = 'application/x-www-form-urlencoded';
my $VECTORS = "$FindBin::Bin/data/vectors.json";

sub bytes { my $s = shift; utf8::encode($s) if utf8::is_utf8($s); $s }

sub read_file {
    my ($path) = @_;
    open my $fh, '<:raw', $path or die "$path: $!\n";
    local $/;
    return scalar <$fh>;
}

my $vectors = JSON::PP->new->utf8->decode(read_file($VECTORS));
ok(@$vectors > 0, 'vectors.json has cases');

# ---------------------------------------------------------------------------
# 1. vectors

for my $v (@$vectors) {
    my %v = map { $_ => (ref $v->{$_} ? $v->{$_} : bytes($v->{$_})) } keys %$v;
    my $name = $v{name};
    my @args = @v{qw(auth_token url body content_type)};

    subtest "vector $name" => sub {
        my $sig  = twilio_signature(@args);
        my $node = twilio_signature_node(@args);
        my $s    = signed_string(@args);

        is(length $sig, 28, 'signature is 28 chars of base64');
        is($sig, $v{signature}, 'signature');
        is($node, $v{signature_twilio_node}, 'Node-order signature')
            if defined $v{signature_twilio_node};
        is($sig, $v{signature_twilio_python}, 'signature equals twilio-python\'s')
            if defined $v{signature_twilio_python};
        is(hmac_sha1_base64_padded($v{auth_token}, $s), $sig,
           'signature is HMAC-SHA1 of signed_string');

        # The vector's signed_string should be the S of its signature; one
        # vector (sort_trap_non_bmp_values) carries the Node-order S instead.
        my $vs = $v{signed_string};
        if (hmac_sha1_base64_padded($v{auth_token}, $vs) eq $v{signature}) {
            is($s, $vs, 'signed_string');
        } elsif (defined $v{signature_twilio_node}
                 && hmac_sha1_base64_padded($v{auth_token}, $vs) eq $v{signature_twilio_node}) {
            note("vector's signed_string is the Node (UTF-16 order) string");
            is(signed_string_node(@args), $vs, 'signed_string (Node order)');
            isnt($s, $vs, 'byte order differs from the Node order here');
        } else {
            fail("vector signed_string matches neither signature");
        }

        my @urls = @{ $v->{urls_accepted_by_official_libraries} || [] };
        @urls = map { bytes($_) } @urls;
        is($urls[0], $v{url}, 'first accepted URL is the vector URL') if @urls;
        my %variants = map { $_ => 1 } port_variants($v{url});
        for my $u (@urls) {
            ok($variants{$u}, "accepted URL is a port variant: $u");
            ok((grep { $_ eq $v{url} } port_variants($u)),
               "and toggling it back gives the vector URL");
        }

        if (is_json_content_type($v{content_type})) {
            my $h = url_query_param($v{url}, 'bodySHA256');
            is($h, sha256_hex($v{body}), 'bodySHA256 is the body hash');
            (my $base = $v{url}) =~ s/[?&]bodySHA256=[0-9a-f]*//;
            is(json_url($base, $v{body}), $v{url}, 'json_url rebuilds the URL');
            is($s, $v{url}, 'JSON: S is the URL alone');
        }
        if ($v{method} eq 'GET') {
            is($s, $v{url}, 'GET: S is the URL alone');
        }

        is(shared_key_signature(@args),
           hmac_sha256_base64($s, $v{auth_token}) . '=',
           'shared-key signature is HMAC-SHA256 of the same S');
    };
}

# ---------------------------------------------------------------------------
# 2. edge cases of the contract

my $U = 'https://example.com/hook';
my %cases = (
    'media-type params ignored, case-insensitive' =>
        [ 'b=2&a=1', 'Application/X-WWW-Form-URLEncoded ; charset=UTF-8', "${U}a1b2" ],
    'other content type: URL only' =>
        [ 'b=2&a=1', 'text/plain', $U ],
    'JSON: URL only' =>
        [ '{"a":1}', 'application/json', $U ],
    'no content type: URL only' =>
        [ 'b=2&a=1', undef, $U ],
    'empty body: URL only' =>
        [ '', $FORM, $U ],
    'empty segments skipped, no "=" means empty value' =>
        [ '&&b&a=1&&', $FORM, "${U}a1b" ],
    'split at the first "="' =>
        [ 'a=b=c', $FORM, "${U}ab=c" ],
    'empty key kept' =>
        [ '=x&a=1', $FORM, "${U}xa1" ],
    '"+" then %XX: %2B stays a plus' =>
        [ 'a=1+%2B+2%20', $FORM, "${U}a1 + 2 " ],
    'malformed % stays literal' =>
        [ 'a=100%&b=%zz&c=%4&d=%%41', $FORM, "${U}a100%b%zzc%4d%A" ],
    'lowercase hex escapes decode' =>
        [ 'a=%c3%a9', $FORM, "${U}a\xC3\xA9" ],
    'keys decoded too' =>
        [ 'a%5Bb%5D=1&a+c=2', $FORM, "${U}a c2a[b]1" ],
    'sort by key only, not key+value' =>
        [ 'aa=1&a=z', $FORM, "${U}azaa1" ],
    'bytewise key order A < Z < _ < a' =>
        [ 'a=1&_=2&Z=3&A=4', $FORM, "${U}A4Z3_2a1" ],
    'repeated key: values sorted as strings' =>
        [ 'n=9&n=10&n=100', $FORM, "${U}n10n100n9" ],
    'repeated key: exact duplicates dropped, empty values kept' =>
        [ 'k=&k=x&k=&k=x', $FORM, "${U}kkx" ],
    'duplicate only after decoding' =>
        [ 'k=a+b&k=a%20b', $FORM, "${U}ka b" ],
    'bytes are not normalised' =>
        [ 'k=e%CC%81&k=%C3%A9', $FORM, "${U}ke\xCC\x81k\xC3\xA9" ],
);
for my $name (sort keys %cases) {
    my ($body, $ct, $want) = @{ $cases{$name} };
    is(signed_string('t', $U, $body, $ct), $want, "S: $name");
}
is(twilio_signature('12345', $U, 'a=1', $FORM),
   hmac_sha1_base64_padded('12345', "${U}a1"), 'token used as-is');
{
    my $chars = "\xC3\xA9";
    utf8::decode($chars);                   # one character, U+00E9
    is(twilio_signature($chars, "https://x/$chars", "a=$chars", $FORM),
       twilio_signature("\xC3\xA9", "https://x/\xC3\xA9", "a=\xC3\xA9", $FORM),
       'character strings are taken as UTF-8');
}

# Node order: U+1F600 (surrogates D83D DE00) sorts before U+FF5E in UTF-16,
# after it bytewise; outside that range both orders agree.
{
    my $body = 'K=%F0%9F%98%80&K=%EF%BD%9E&%F0%9F%98%80=1&%EF%BD%9E=2';
    is(signed_string('t', $U, $body, $FORM),
       "${U}K\xEF\xBD\x9EK\xF0\x9F\x98\x80\xEF\xBD\x9E2\xF0\x9F\x98\x801", 'byte order');
    is(signed_string_node('t', $U, $body, $FORM),
       "${U}K\xF0\x9F\x98\x80K\xEF\xBD\x9E\xF0\x9F\x98\x801\xEF\xBD\x9E2", 'UTF-16 order');
    my $b2 = 'x=%C3%A9&x=z&x=%E6%97%A5&x=%F0%9F%98%80';
    is(signed_string_node('t', $U, $b2, $FORM), signed_string('t', $U, $b2, $FORM),
       'orders agree without a U+E000..U+FFFF vs non-BMP pair');
}

# form_encode
is(form_encode(Body => "a b+c/\xC3\xA9~*-_.", 'To' => '+1', 'E' => ''),
   'Body=a+b%2Bc%2F%C3%A9~%2A-_.&To=%2B1&E=', 'form_encode');
is(form_encode(k => 1, k => 2), 'k=1&k=2', 'form_encode keeps order and repeats');
{
    my @pairs = (["a b", "x&y=z"], ["\xF0\x9F\x98\x80", "%41+"], ['', '']);
    my $enc = form_encode(map { @$_ } @pairs);
    is_deeply([ parse_form($enc) ], \@pairs, 'parse_form(form_encode(...)) round trip');
}

# port variants (authority edited as text)
my @pv = (
    [ 'https://example.com/a?b=c:d', 'https://example.com:443/a?b=c:d' ],
    [ 'http://example.com/',         'http://example.com:80/' ],
    [ 'https://example.com:8443/x',  'https://example.com/x' ],
    [ 'http://example.com:1234/x',   'http://example.com/x' ],
    [ 'https://example.com',         'https://example.com:443' ],
    [ 'https://example.com:443',     'https://example.com' ],
    [ 'https://example.com?x=1',     'https://example.com:443?x=1' ],
    [ 'https://u:p@example.com/x',   'https://u:p@example.com:443/x' ],
    [ 'https://u:p@example.com:443/x', 'https://u:p@example.com/x' ],
    [ 'https://[::1]/x',             'https://[::1]:443/x' ],
    [ 'https://[::1]:8443/x',        'https://[::1]/x' ],
    [ 'https://Example.COM/%2b%2B',  'https://Example.COM:443/%2b%2B' ],
    [ 'HTTPS://example.com/',        'HTTPS://example.com:443/' ],
);
for (@pv) {
    my ($in, $want) = @$_;
    is_deeply([ port_variants($in) ], [ $in, $want ], "port_variants($in)");
}
is_deeply([ port_variants('ftp://example.com/') ], [ 'ftp://example.com/' ],
          'no variant for other schemes');

# json_url
my $eh = sha256_hex('{}');
is(json_url('https://h/p', '{}'),       "https://h/p?bodySHA256=$eh", 'json_url: no query');
is(json_url('https://h/p?a=1', '{}'),   "https://h/p?a=1&bodySHA256=$eh", 'json_url: query');
is(json_url('https://h/p?', '{}'),      "https://h/p?bodySHA256=$eh", 'json_url: bare ?');
is(url_query_param("https://h/p?a=1&bodySHA256=$eh", 'bodySHA256'), $eh, 'url_query_param');
is(url_query_param('https://h/p?a=1', 'bodySHA256'), undef, 'url_query_param: absent');

# ---------------------------------------------------------------------------
# 3. cross-check with Debian's python3-twilio (one value per key there)

SKIP: {
    my $probe = system('/usr/bin/python3', '-c',
        "import sys\ntry:\n    from twilio.request_validator import RequestValidator\n"
        . "except Exception:\n    sys.exit(3)\n") if -x '/usr/bin/python3';
    skip 'python3-twilio not importable', 1
        unless -x '/usr/bin/python3' && defined $probe && $probe == 0;

    my @cases;
    for my $v (@$vectors) {
        my %v = map { $_ => (ref $v->{$_} ? $v->{$_} : bytes($v->{$_})) } keys %$v;
        my $form = is_form_content_type($v{content_type}) && $v{body} ne '';
        if ($form) {
            my %n;
            next if grep { $n{ $_->[0] }++ } parse_form($v{body});  # repeated keys
        }
        push @cases, {
            name  => $v{name}, token => $v{auth_token}, url => $v{url},
            body  => $v{body}, form => $form ? 1 : 0,
            json  => is_json_content_type($v{content_type}) ? 1 : 0,
            urls  => [ map { bytes($_) } @{ $v->{urls_accepted_by_official_libraries} } ],
            sig   => twilio_signature(@v{qw(auth_token url body content_type)}),
        };
    }

    # generated cases: unique keys, tricky bytes, malformed escapes
    srand(20240501);
    my @alphabet = ('a' .. 'e', 'A' .. 'C', '0' .. '9', '_', '.', '-', ' ', '+', '%',
                    '&', '=', "'", '/', ':', '~', '*', "\xC3\xA9", "\xE6\x97\xA5",
                    "\xF0\x9F\x98\x80", "\xEF\xBD\x9E", "\xC3\x84");
    my @urls = ('https://example.com/a?b=c\'d&e=%2b', 'http://h.example:8080/x/',
                'https://example.com', 'https://Example.com/p?x=1+2&y=%20');
    my $rand_str = sub {
        my $n = shift;
        join '', map { $alphabet[ int rand @alphabet ] } 1 .. $n;
    };
    for my $i (1 .. 150) {
        my (%seen, @kv);
        for (1 .. 1 + int rand 8) {
            my $k = $rand_str->(1 + int rand 5);
            next if $seen{$k}++;
            push @kv, $k, $rand_str->(int rand 8);
        }
        my $body = form_encode(@kv);
        # vary the encoding the way real senders do: %20 for space,
        # lowercase hex, unescaped safe bytes, malformed '%' sequences
        $body =~ s/\+/%20/g        if $i % 5 == 1;
        $body =~ s/(%[0-9A-F]{2})/lc $1/ge if $i % 5 == 2;
        $body =~ s/%2F/\//g, $body =~ s/%3A/:/g if $i % 5 == 3;
        $body .= '&zz=%&zy=%4&zx=%zz&&' if $i % 7 == 0;
        my $url = $urls[ $i % @urls ];
        push @cases, {
            name => "generated $i", token => "tok$i" x 3, url => $url, body => $body,
            form => 1, json => 0,
            # a variant is accepted when toggling it leads back to $url:
            # a non-default port can be dropped, but not added back
            urls => [ grep { my $u = $_; grep { $_ eq $url } port_variants($u) } port_variants($url) ],
            sig  => twilio_signature("tok$i" x 3, $url, $body, $FORM),
        };
    }

    my $py = <<'PY';
import json, sys
from urllib.parse import parse_qsl
from twilio.request_validator import RequestValidator
cases = json.load(sys.stdin)
out = []
for c in cases:
    v = RequestValidator(c["token"])
    if c["form"]:
        params = dict(parse_qsl(c["body"], keep_blank_values=True))
    elif c["json"]:
        params = c["body"]
    else:
        params = {}
    sig = v.compute_signature(c["url"], {} if c["json"] else params)
    ok = [v.validate(u, params, c["sig"]) for u in c["urls"]]
    tampered = v.validate(c["url"], params, "A" + c["sig"][1:]) if c["sig"][0] != "A" else \
               v.validate(c["url"], params, "B" + c["sig"][1:])
    out.append({"name": c["name"], "sig": sig, "ok": ok, "tampered": tampered})
json.dump(out, sys.stdout)
PY
    # JSON carries text; every byte string here is valid UTF-8
    my $json = JSON::PP->new->canonical;
    my @wire = map {
        my %c = %$_;
        for my $k (qw(name token url body sig)) { utf8::decode($c{$k}) or die "not UTF-8: $c{$k}" }
        $c{urls} = [ map { my $u = $_; utf8::decode($u); $u } @{ $c{urls} } ];
        \%c
    } @cases;
    my ($res, $err) = pipe_through(['/usr/bin/python3', '-c', $py], $json->utf8->encode(\@wire));
    my $got = eval { JSON::PP->new->utf8->decode($res) };
    ok($got && @$got == @cases, 'python3-twilio answered for every case')
        or diag($err);
    $got ||= [];
    my ($agree, $validated) = (0, 0);
    for my $i (0 .. $#$got) {
        my ($c, $g) = ($cases[$i], $got->[$i]);
        my $gs = $g->{sig};
        $agree++ if $gs eq $c->{sig};
        $validated++ if !grep { !$_ } @{ $g->{ok} };
        if ($gs ne $c->{sig} || grep({ !$_ } @{ $g->{ok} }) || $g->{tampered}) {
            fail("python3-twilio disagrees on $c->{name}");
            diag(explain({ ours => $c->{sig}, python => $gs, ok => $g->{ok},
                           tampered_accepted => $g->{tampered}, body => $c->{body} }));
        }
    }
    is($agree, scalar @cases, 'python3-twilio computes the same signature for all ' . scalar(@cases) . ' cases');
    is($validated, scalar @cases, 'python3-twilio validates our signature on every accepted URL');
}

sub pipe_through {
    my ($cmd, $input) = @_;
    my $err = Symbol::gensym();
    my ($in, $out);
    my $pid = IPC::Open3::open3($in, $out, $err, @$cmd);
    binmode $_ for $in, $out, $err;
    # write in a child so a large output cannot dead-lock against the input
    my $writer = fork;
    die "fork: $!" unless defined $writer;
    if (!$writer) {
        close $out;
        print {$in} $input;
        close $in;
        POSIX::_exit(0);
    }
    close $in;
    local $/;
    my $res = <$out> // '';
    my $e = <$err> // '';
    waitpid($writer, 0);
    waitpid($pid, 0);
    return ($res, $e);
}

# ---------------------------------------------------------------------------
# 4. the echo backend

my $port = backend_port();
ok($port, "backend listening on $port");
is($ENV{TEST_NGINX_BACKEND_PORT}, $port, 'TEST_NGINX_BACKEND_PORT set');
isnt($port, 1984, 'not the nginx test port');

backend_reset();
is(backend_hits(), 0, 'hits: 0 after reset');

{
    my $body = "Body=Caf%C3%A9&From=%2B1\x00\xFF";
    my @h = ('Content-Type' => "$FORM; charset=UTF-8", 'X-Twilio-Signature' => 'abc=',
             'X-Echo-B' => '2', 'X-Echo-A' => ['1', '0'], 'User-Agent' => 'TwilioProxy/1.1');
    my ($code, $hdr, $got) = parse_response(send_raw(raw_request('POST', "/sms?x=1&y='", 'example.com:443', $body, @h)));
    is($code, 200, 'POST: 200');
    is($hdr->{'content-type'}, 'text/plain', 'POST: text/plain');
    is($hdr->{connection}, 'close', 'POST: Connection: close');
    is($got, backend_echo('POST', "/sms?x=1&y='", $body, @h), 'POST: echo matches backend_echo');
    is($got, "method: POST\nuri: /sms?x=1&y='\nlength: " . length($body) . "\nsha256: " . sha256_hex($body) . "\n"
           . "header: content-type: $FORM; charset=UTF-8\nheader: x-echo-a: 1\nheader: x-echo-a: 0\n"
           . "header: x-echo-b: 2\nheader: x-twilio-signature: abc=\n",
       'POST: echo format');
}
{
    my $raw = "POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            . "Content-Type: application/json\r\nConnection: close\r\n\r\n"
            . "5\r\n{\"a\":\r\n3;ext=1\r\n1}\n\r\n0\r\nX-Trailer: t\r\n\r\n";
    my ($code, undef, $got) = parse_response(send_raw($raw));
    is($code, 200, 'chunked: 200');
    is($got, backend_echo('POST', '/chunked', "{\"a\":1}\n", 'content-type' => 'application/json'),
       'chunked: de-chunked body echoed');
}
{
    my ($code, undef, $got) = parse_response(send_raw(raw_request('GET', '/voice?a=%2B1', 'h')));
    is($got, backend_echo('GET', '/voice?a=%2B1', ''), 'GET: no body');
    # a body that arrives in pieces
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port) or die $@;
    my $r = raw_request('PUT', '/slow', 'h', 'x' x 100000);
    for (my $o = 0; $o < length $r; $o += 7000) {
        syswrite($s, substr($r, $o, 7000));
        Time::HiRes::sleep(0.005);
    }
    local $/;
    my $resp = <$s>;
    (undef, undef, $got) = parse_response($resp);
    is($got, backend_echo('PUT', '/slow', 'x' x 100000), 'body sent in pieces');
}
{
    my ($code, undef, $got) = parse_response(send_raw("NOT A REQUEST LINE\r\n\r\n"));
    is($code, 400, 'garbage: 400');
    ($code) = parse_response(send_raw("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"));
    is($code, 400, 'conflicting Content-Length: 400');
}
is(backend_hits(), 4, 'hits counts served requests only (not /__hits, /__reset, errors)');
my (undef, undef, $hb) = parse_response(send_raw(raw_request('GET', '/__hits', 'h')));
is($hb, "hits: 4\n", '/__hits body');
(undef, undef, $hb) = parse_response(send_raw(raw_request('GET', '/__reset', 'h')));
is($hb, "hits: 0\n", '/__reset body');
is(backend_hits(), 0, 'hits: 0 after /__reset');

# a forked child that exits normally must not stop the parent's backend
{
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) { exit 0 }       # runs END blocks in the child
    waitpid($pid, 0);
    is(backend_hits(), 0, 'backend survives a child process exiting');
}

sub alive {
    my ($pid) = @_;
    return 0 unless kill 0, $pid;
    open my $fh, '<', "/proc/$pid/stat" or return 1;
    my $stat = <$fh> // '';
    return $stat =~ /\)\s+Z\s/ ? 0 : 1;     # a zombie is gone for our purpose
}

sub wait_gone {
    my ($pid, $secs) = @_;
    my $until = Time::HiRes::time() + $secs;
    while (alive($pid)) {
        return 0 if Time::HiRes::time() > $until;
        Time::HiRes::sleep(0.05);
    }
    return 1;
}

# a test that dies stops its backend; one killed outright loses it within ~1s
for my $how ('die', 'KILL') {
    local $ENV{TEST_NGINX_BACKEND_PORT} = '';
    my $code = 'use Twilio::Backend; $| = 1; print Twilio::Backend::backend_pid(), " ",'
             . ' Twilio::Backend::backend_port(), "\n"; '
             . ($how eq 'die' ? 'open STDERR, q(>), q(/dev/null); die "boom\n"' : 'sleep 30');
    my $pid = open(my $fh, '-|', $^X, "-I$FindBin::Bin/lib", '-e', $code . '; exit 0')
        or die "spawn: $!";
    my $line = <$fh> // '';
    my ($bpid, $bport) = $line =~ /\A(\d+) (\d+)/;
    ok($bpid, "$how: subprocess started a backend on port " . ($bport // '?'));
    isnt($bport, $port, "$how: with the port taken, another port was chosen");
    kill 'KILL', $pid if $how eq 'KILL';
    close $fh;
    ok(wait_gone($bpid, 5), "$how: backend process gone");
}

# ---------------------------------------------------------------------------
# 5. util/twilio-sign reads secret files as the module does, and --curl
#    takes extra curl options

{
    my $signer = "$FindBin::Bin/../util/twilio-sign";
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    my $AC1 = 'AC0123456789abcdef0123456789abcdef';
    my $AC2 = 'AC11111111111111111111111111111111';
    my ($t1, $t2, $t3, $t4) = map { $_ x 32 } qw(a b c d);
    my $U = 'https://hooks.example.com/sms';

    my $write = sub {
        my ($name, $text) = @_;
        open my $fh, '>', "$dir/$name" or die "$dir/$name: $!";
        print $fh $text;
        close $fh;
        return "$dir/$name";
    };
    my $sign = sub {
        my ($out, $err) = pipe_through([$^X, $signer, @_], '');
        my $rc = $? >> 8;
        chomp $out;
        return ($out, $rc, $err);
    };

    my $tokens = $write->('tokens', "# the module's format\n\n"
                          . "$AC1 $t1\n  $t2  \r\n$AC2\t$t3\n$t4\n");

    my ($sig, $rc) = $sign->('--token-file', $tokens, '--url', $U, '--param', 'Body=hi');
    is($sig, twilio_signature($t2, $U, 'Body=hi', $FORM),
       'twilio-sign --token-file: the first unbound token, comments and CR skipped');
    ($sig) = $sign->('--token-file', $tokens, '--token-index', 2, '--url', $U, '--param', 'Body=hi');
    is($sig, twilio_signature($t4, $U, 'Body=hi', $FORM), '--token-index 2: the second unbound token');
    ($sig) = $sign->('--token-file', $tokens, '--account', $AC2, '--url', $U, '--param', 'Body=hi');
    is($sig, twilio_signature($t3, $U, 'Body=hi', $FORM), '--account: the token bound to it');
    ($sig) = $sign->('--token-file', $tokens, '--url', $U, '--param', "AccountSid=$AC1");
    is($sig, twilio_signature($t1, $U, "AccountSid=$AC1", $FORM),
       'the AccountSid of the form picks the bound token');
    ($sig) = $sign->('--token-file', $tokens, '--url', "$U?AccountSid=$AC2");
    is($sig, twilio_signature($t3, "$U?AccountSid=$AC2", '', ''),
       'the AccountSid of the query picks the bound token of a GET');

    my $bound = $write->('bound', "$AC1 $t1\n");
    my ($out, $err);
    ($out, $rc, $err) = $sign->('--token-file', $bound, '--url', $U, '--param', 'a=1');
    is($rc, 1, 'every token bound and no account: exit 1');
    like($err, qr/every token in \S+ is bound to an account: use --account/, '... saying so');
    ($out, $rc, $err) = $sign->('--token-file', $tokens, '--token-index', 3, '--url', $U);
    like($err, qr/--token-index 3: \S+ has 2 unbound tokens/, '--token-index out of range');
    my $bad = $write->('bad', "$t1\n$AC1:$t2\n");
    ($out, $rc, $err) = $sign->('--token-file', $bad, '--url', $U);
    is($rc, 1, 'a line the module refuses: exit 1');
    like($err, qr/invalid line 2 in token file \S+bad: the token is "ACCOUNT_SID:TOKEN": separate the account SID and the token with a space/,
         '... naming the line and the fix');
    $bad = $write->('bad2', "\n\nAC12 $t2\n");
    ($out, $rc, $err) = $sign->('--token-file', $bad, '--url', $U);
    like($err, qr/invalid line 3 in token file \S+bad2: the account SID must be "AC" and 32 hex digits/,
         'a bad account SID, with its line number');

    my $keys = $write->('keys', "# id secret\nKS1 first-secret\nKS2 second-secret\n");
    ($sig) = $sign->('--sha256', '--token-file', $keys, '--key-id', 'KS2', '--url', $U, '--param', 'a=1');
    is($sig, shared_key_signature('second-secret', $U, 'a=1', $FORM), '--sha256 --key-id picks the shared key');
    ($out, $rc, $err) = $sign->('--sha256', '--token-file', $keys, '--url', $U, '--param', 'a=1');
    like($err, qr/several keys: use --key-id/, 'several shared keys need --key-id');
    my $one = $write->('one-key', "KS9 only-secret\n");
    ($out) = $sign->('--sha256', '--token-file', $one, '--url', $U, '--param', 'a=1', '--curl');
    like($out, qr/X-Twilio-Webhooks-Signature-Settings: key=KS9,algorithm=HMAC_SHA256/,
         'the only key of a file: its id goes into --curl');

    # --curl: extra options before the URL, --connect to another address
    ($out) = $sign->('--token', $t1, '--url', $U, '--param', 'a=1', '--curl',
                     '--connect', '127.0.0.1:8443', '--curl-opt', '-i', '--', '-k',
                     '--resolve', 'hooks.example.com:443:127.0.0.1');
    like($out, qr/ --connect-to ::127\.0\.0\.1:8443 /, '--connect: curl --connect-to');
    like($out, qr/ -i -k --resolve hooks\.example\.com:443:127\.0\.0\.1 -- \Q$U\E\z/,
         '--curl-opt and everything after "--" go before "-- URL"');
    ($out, $rc, $err) = $sign->('--token', $t1, '--url', $U, '--', '-k');
    is($rc, 2, 'curl options without --curl: bad usage');

  SKIP: {
        skip('no curl', 4) unless -x '/usr/bin/curl';
        my $url = 'http://hooks.example.com/sms?x=1';
        ($out) = $sign->('--token-file', $tokens, '--url', $url, '--param', 'Body=hi',
                         '--curl', '--connect', "127.0.0.1:$port", '--',
                         '-H', 'X-Echo-Extra: yes', '--max-time', '10');
        my $got = `$out`;
        like($got, qr/^uri: \/sms\?x=1$/m, 'the printed command reaches the --connect address');
        like($got, qr/^header: x-echo-extra: yes$/m, 'with the extra curl option');
        like($got, qr/^sha256: \Q@{[sha256_hex('Body=hi')]}\E$/m, 'and the body');
        like($got, qr/^header: x-twilio-signature: \Q@{[twilio_signature($t2, $url, 'Body=hi', $FORM)]}\E$/m,
             'and the signature of the public URL');
    }
}

done_testing();
