package Twilio::Cert;

# A self-signed certificate for the TLS tests, made at test time with the
# openssl command line tool (never shipped in the repository).
#
#   use Twilio::Cert;
#
# sets $ENV{TEST_NGINX_CERT_DIR} (cert.pem, key.pem for CN=localhost and
# example.com) and $ENV{TEST_NGINX_TLS_PORT} (default 1986) unless set.

use strict;
use warnings;

use File::Path qw(make_path);
use File::Spec;
use FindBin;

sub import {
    my $dir = $ENV{TEST_NGINX_CERT_DIR}
              // File::Spec->rel2abs("$FindBin::Bin/../build/test-cert");

    if (!-s "$dir/cert.pem" || !-s "$dir/key.pem") {
        make_path($dir);
        my @cmd = ('openssl', 'req', '-x509', '-newkey', 'rsa:2048',
                   '-nodes', '-days', '30', '-subj', '/CN=localhost',
                   '-addext', 'subjectAltName=DNS:localhost,DNS:example.com',
                   '-keyout', "$dir/key.pem", '-out', "$dir/cert.pem");
        system("@cmd >/dev/null 2>&1") == 0
            or die "Twilio::Cert: openssl req failed: @cmd\n";
    }

    $ENV{TEST_NGINX_CERT_DIR} = $dir;
    $ENV{TEST_NGINX_TLS_PORT} ||= 1986;
}

1;
