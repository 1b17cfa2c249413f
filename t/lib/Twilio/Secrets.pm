package Twilio::Secrets;

# Secret files (tokens, shared keys) for the tests, written with the file
# mode the test needs: Test::Nginx's "--- user_files" cannot set modes, and
# the module refuses secret files that others may read.
#
#   use Twilio::Secrets;
#   secret_file("tokens", "9f86...\n");            # mode 0600
#   secret_file("open-tokens", "9f86...\n", 0644);
#
# Files go to $ENV{TEST_NGINX_SECRETS_DIR} (default build/test-secrets),
# which config sections can use as $TEST_NGINX_SECRETS_DIR.

use strict;
use warnings;

use File::Path qw(make_path);
use File::Spec;
use FindBin;
use Exporter ();
our @ISA = (q(Exporter));
our @EXPORT = qw(secret_file);

$ENV{TEST_NGINX_SECRETS_DIR} ||=
    File::Spec->rel2abs("$FindBin::Bin/../build/test-secrets");

sub secret_file {
    my ($name, $content, $mode) = @_;
    my $dir = $ENV{TEST_NGINX_SECRETS_DIR};
    my $path = "$dir/$name";

    make_path($dir);
    chmod 0700, $dir;
    unlink $path;
    open my $fh, '>', $path or die "secret_file: $path: $!\n";
    print $fh $content;
    close $fh or die "secret_file: $path: $!\n";
    chmod $mode // 0600, $path or die "secret_file: chmod $path: $!\n";

    return $path;
}

1;
