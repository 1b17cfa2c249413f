package Twilio::Sign;

# Reference implementation of Twilio's webhook signature (X-Twilio-Signature)
# as docs/signature.md describes it (t/data/vectors.json holds the cases).
# Pure Perl, core modules only.  Used by the test suite and by
# util/twilio-sign.
#
# All strings are treated as bytes.  A string that carries Perl's UTF-8 flag
# (e.g. one decoded by JSON::PP) is taken as text and encoded as UTF-8 first.

use strict;
use warnings;

use Digest::SHA qw(hmac_sha1 hmac_sha256 sha256_hex);
use MIME::Base64 qw(encode_base64);
use Encode ();
use Exporter ();
our @ISA = (q(Exporter));

our $VERSION = '0.01';

our @EXPORT = qw(
    twilio_signature
    twilio_signature_node
    signed_string
    signed_string_node
    json_url
    shared_key_signature
    form_encode
);

our @EXPORT_OK = (@EXPORT, qw(
    string_to_sign
    parse_form
    form_decode
    is_form_content_type
    is_json_content_type
    body_sha256_hex
    port_variants
    url_query_param
    hmac_sha1_base64_padded
));

our %EXPORT_TAGS = (all => \@EXPORT_OK);

sub import {
    my ($class, @args) = @_;
    $class->export_to_level(1, $class, @args);
    # "--- foo eval" sections of Test::Nginx (Test::Base) are evaluated in
    # package Test::Base::Filter: make the default functions callable there.
    no strict 'refs';
    for my $name (@EXPORT) {
        *{"Test::Base::Filter::$name"} = \&{$name}
            unless defined &{"Test::Base::Filter::$name"};
    }
}

# ---------------------------------------------------------------------------
# helpers

sub _bytes {
    my ($s) = @_;
    return '' unless defined $s;
    if (utf8::is_utf8($s)) {
        utf8::encode($s);    # $s is a copy
    }
    return $s;
}

sub _b64 {
    my $b64 = encode_base64($_[0], '');
    return $b64;
}

sub _media_type {
    my ($ct) = @_;
    $ct = _bytes($ct);
    my ($mt) = split /;/, $ct, 2;
    $mt = '' unless defined $mt;
    $mt =~ s/\A[ \t]+//;
    $mt =~ s/[ \t]+\z//;
    return lc $mt;
}

# True if the media type (parameters ignored) is a form body.
sub is_form_content_type {
    return _media_type($_[0]) eq 'application/x-www-form-urlencoded';
}

sub is_json_content_type {
    return _media_type($_[0]) eq 'application/json';
}

# Decode one form component: '+' becomes a space, then %XX becomes a byte;
# a malformed '%' sequence stays literal.
sub form_decode {
    my ($s) = @_;
    $s = _bytes($s);
    $s =~ tr/+/ /;
    $s =~ s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge;
    return $s;
}

# parse_form($body) -> list of [key, value] (decoded bytes), in body order.
sub parse_form {
    my ($body) = @_;
    $body = _bytes($body);
    my @pairs;
    for my $seg (split /&/, $body, -1) {
        next if $seg eq '';
        my ($k, $v) = split /=/, $seg, 2;
        $v = '' unless defined $v;
        push @pairs, [ form_decode($k), form_decode($v) ];
    }
    return @pairs;
}

# Sort key for Node's order: compare by UTF-16 code units.  Bytes that are
# not valid UTF-8 become U+FFFD here; ties are broken bytewise.
sub _utf16_key {
    my ($bytes) = @_;
    my $copy  = $bytes;
    my $chars = Encode::decode('UTF-8', $copy);
    return Encode::encode('UTF-16BE', $chars);
}

sub _sorter {
    my ($order) = @_;
    $order = 'bytes' unless defined $order;
    if ($order eq 'bytes') {
        return sub { sort { $a cmp $b } @_ };
    }
    if ($order eq 'utf16') {
        return sub {
            my %key = map { $_ => _utf16_key($_) } @_;
            return sort { $key{$a} cmp $key{$b} || $a cmp $b } @_;
        };
    }
    die "Twilio::Sign: unknown sort order '$order' (bytes|utf16)\n";
}

# string_to_sign($url, $body, $content_type, %opt) -> S
#   opt: order => 'bytes' (default, the contract) | 'utf16' (twilio-node)
sub string_to_sign {
    my ($url, $body, $ct, %opt) = @_;
    my $s = _bytes($url);
    $body = _bytes($body);
    return $s if $body eq '' || !is_form_content_type($ct);

    my $sort = _sorter($opt{order});
    my (%values, %seen);
    for my $p (parse_form($body)) {
        my ($k, $v) = @$p;
        next if $seen{$k}{$v}++;            # drop exact-duplicate values
        push @{ $values{$k} }, $v;
    }
    for my $k ($sort->(keys %values)) {
        $s .= $k . $_ for $sort->(@{ $values{$k} });
    }
    return $s;
}

# ---------------------------------------------------------------------------
# public API (argument order as in the test plan)

# signed_string($token, $url, $body, $content_type) -> S  (token unused)
sub signed_string {
    my (undef, $url, $body, $ct) = @_;
    return string_to_sign($url, $body, $ct);
}

sub signed_string_node {
    my (undef, $url, $body, $ct) = @_;
    return string_to_sign($url, $body, $ct, order => 'utf16');
}

sub hmac_sha1_base64_padded {
    my ($key, $msg) = @_;
    return _b64(hmac_sha1(_bytes($msg), _bytes($key)));
}

# twilio_signature($token, $url, $body, $content_type) -> 28-char base64
sub twilio_signature {
    my ($token, $url, $body, $ct) = @_;
    return _b64(hmac_sha1(string_to_sign($url, $body, $ct), _bytes($token)));
}

# Same, with twilio-node's UTF-16 code-unit sort order.
sub twilio_signature_node {
    my ($token, $url, $body, $ct) = @_;
    return _b64(hmac_sha1(string_to_sign($url, $body, $ct, order => 'utf16'),
                          _bytes($token)));
}

# Shared-key (public beta) signature: same S, HMAC-SHA256, 44-char base64.
sub shared_key_signature {
    my ($secret, $url, $body, $ct) = @_;
    return _b64(hmac_sha256(string_to_sign($url, $body, $ct), _bytes($secret)));
}

sub body_sha256_hex {
    return sha256_hex(_bytes($_[0]));
}

# json_url($url, $body) -> $url with bodySHA256=<hex> appended to the query.
# A fragment, if any, stays at the end.
sub json_url {
    my ($url, $body) = @_;
    $url = _bytes($url);
    my $frag = '';
    if ($url =~ s/(#.*)\z//s) {
        $frag = $1;
    }
    my $sep = index($url, '?') < 0       ? '?'
            : $url =~ /[?&]\z/           ? ''
            :                              '&';
    return $url . $sep . 'bodySHA256=' . body_sha256_hex($body) . $frag;
}

# url_query_param($url, $name) -> raw (undecoded) value of the first
# occurrence of $name in the query, or undef.
sub url_query_param {
    my ($url, $name) = @_;
    $url = _bytes($url);
    $url =~ s/#.*\z//s;
    my $q = index($url, '?');
    return undef if $q < 0;
    for my $seg (split /&/, substr($url, $q + 1), -1) {
        my ($k, $v) = split /=/, $seg, 2;
        return defined $v ? $v : '' if $k eq $name;
    }
    return undef;
}

# port_variants($url) -> ($url, $toggled) or ($url) when the URL has no
# recognisable authority.  Only the authority text is edited.
sub port_variants {
    my ($url) = @_;
    $url = _bytes($url);
    my ($scheme, $auth, $rest) = $url =~ m{\A([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)(.*)\z}s
        or return ($url);
    my ($userinfo, $hostport) = $auth =~ /\A(.*@)?(.*)\z/s;
    $userinfo = '' unless defined $userinfo;
    my $toggled;
    if ($hostport =~ /\A(\[[^\]]*\]|[^:]*):[0-9]*\z/) {
        $toggled = $1;                                  # drop the port
    } else {
        my $lc = lc $scheme;
        my $port = $lc eq 'https' ? 443 : $lc eq 'http' ? 80 : undef;
        return ($url) unless defined $port;
        $toggled = "$hostport:$port";
    }
    return ($url, "$scheme://$userinfo$toggled$rest");
}

# form_encode(k1 => v1, k2 => v2, ...) -> "k1=v1&k2=v2" encoded the way
# Twilio does: space as '+', unreserved bytes [A-Za-z0-9._~-] kept, every
# other byte as %XX (uppercase hex).  Order is kept; keys may repeat.
sub form_encode {
    my @kv = @_;
    die "form_encode: odd number of arguments\n" if @kv % 2;
    my @out;
    while (my ($k, $v) = splice @kv, 0, 2) {
        push @out, _form_component($k) . '=' . _form_component($v);
    }
    return join '&', @out;
}

sub _form_component {
    my ($s) = @_;
    $s = _bytes($s);
    $s =~ s/([^A-Za-z0-9._~ -])/sprintf('%%%02X', ord $1)/ge;
    $s =~ tr/ /+/;
    return $s;
}

1;

__END__

=head1 NAME

Twilio::Sign - compute Twilio webhook signatures (X-Twilio-Signature)

=head1 SYNOPSIS

  use Twilio::Sign;
  my $body = form_encode(Body => 'hi', From => '+12125550199');
  my $sig  = twilio_signature($token, 'https://example.com/sms', $body,
                              'application/x-www-form-urlencoded');

  my $url  = json_url('https://example.com/events', $json);
  my $sig2 = twilio_signature($token, $url, $json, 'application/json');

=head1 FUNCTIONS

Exported by default: C<twilio_signature>, C<twilio_signature_node>,
C<signed_string>, C<signed_string_node>, C<json_url>,
C<shared_key_signature>, C<form_encode>.  On request (or C<:all>):
C<string_to_sign>, C<parse_form>, C<form_decode>, C<is_form_content_type>,
C<is_json_content_type>, C<body_sha256_hex>, C<port_variants>,
C<url_query_param>, C<hmac_sha1_base64_padded>.

=over

=item twilio_signature($token, $url, $body, $content_type)

Base64 (28 chars, padded) of HMAC-SHA1(token, S).  S is the URL followed,
for an C<application/x-www-form-urlencoded> body only, by the decoded form
parameters sorted bytewise by key (repeated keys: duplicate values dropped,
the rest sorted bytewise).  Any other body leaves S = URL.

=item twilio_signature_node(...)

Same, but sorting by UTF-16 code units as twilio-node does.

=item signed_string($token, $url, $body, $content_type)

Returns S (the token is ignored).  C<signed_string_node> uses the Node order.
C<string_to_sign($url, $body, $ct, order =E<gt> 'bytes'|'utf16')> is the
underlying function.

=item shared_key_signature($secret, $url, $body, $content_type)

Base64 (44 chars) of HMAC-SHA256(secret, S).

=item json_url($url, $body)

The URL with C<bodySHA256=E<lt>hex sha256 of bodyE<gt>> appended with C<?>
or C<&>.

=item form_encode(k =E<gt> v, ...)

Builds a form body like Twilio's: space as C<+>, C<[A-Za-z0-9._~-]> kept,
every other byte C<%XX> in uppercase.

=item port_variants($url)

The URL and its port-toggled variant (C<:443>/C<:80> inserted, or any port
removed), editing only the authority text.

=back

=cut
