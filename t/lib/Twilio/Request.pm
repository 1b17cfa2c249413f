package Twilio::Request;

# Builds signed (or deliberately broken) raw HTTP requests for the nginx
# tests, on top of Twilio::Sign and Twilio::Backend.
#
#   signed_request(
#       method  => 'POST',                  # default POST
#       target  => '/sms?x=1',              # request target, verbatim
#       host    => 'localhost',             # Host header (undef: none)
#       body    => 'a=1&b=2',
#       ct      => 'application/x-www-form-urlencoded',   # undef: none
#       url     => 'https://example.com/sms',   # the URL that is signed
#       token   => '...',
#       sig     => '...',                   # overrides the computed one
#       headers => [ Name => value, ... ],  # extra headers, in order
#   )
#
# Defaults sign the form body for $URL under $TOKEN.

use strict;
use warnings;

use Twilio::Sign qw(twilio_signature);
use Twilio::Backend '-nostart', qw(raw_request);
use Exporter ();
our @ISA = (q(Exporter));

our @EXPORT = qw(signed_request signature_for $URL $TOKEN $FORM);

our $URL   = 'https://example.com/sms';
our $TOKEN = '9f86d081884c7d659a2feaa0c55ad015';
our $FORM  = 'application/x-www-form-urlencoded';

sub import {
    my ($class, @args) = @_;
    $class->export_to_level(1, $class, @args);
    no strict 'refs';
    for my $name (qw(signed_request signature_for)) {
        *{"Test::Base::Filter::$name"} = \&{$name};
    }
}

sub signature_for {
    my (%o) = @_;
    my $ct = exists $o{ct} ? $o{ct} : $FORM;
    return twilio_signature($o{token} // $TOKEN, $o{url} // $URL,
                            $o{body} // '', $ct // '');
}

sub signed_request {
    my (%o) = @_;
    my $method = $o{method} // 'POST';
    my $ct = exists $o{ct} ? $o{ct} : $FORM;
    my $sig = exists $o{sig} ? $o{sig} : signature_for(%o);
    my @h;
    push @h, 'Content-Type' => $ct if defined $ct && $method ne 'GET';
    push @h, 'X-Twilio-Signature' => $sig if defined $sig;
    push @h, @{ $o{headers} // [] };
    return raw_request($method, $o{target} // '/sms',
                       exists $o{host} ? $o{host} : 'localhost',
                       $method eq 'GET' && !defined $o{body} ? undef
                                                             : $o{body} // '',
                       @h);
}

1;
