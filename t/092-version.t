# The module's version: one definition (NGX_HTTP_TWILIO_GUARD_VERSION in
# ngx_http_twilio_guard_module.h), the same as CHANGES' latest entry, and
# logged at "notice" once each time nginx loads a configuration.
#
# Plain Test::More with its own nginx (Twilio::Nginx).  At the first start
# the line goes to nginx's default error log (the configuration's is not
# open yet); at a reload to the configured one, where it is counted.
# Port: TEST_NGINX_VERSION_PORT (1993).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Twilio::Nginx;

my $port = $ENV{TEST_NGINX_VERSION_PORT} || 1993;
my $top = "$FindBin::Bin/..";

sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or BAIL_OUT("$path: $!");
    local $/;
    return <$fh>;
}

my $h = slurp("$top/ngx_twilio_guard/ngx_http_twilio_guard_module.h");
my @defs = $h =~ /^#define\s+NGX_HTTP_TWILIO_GUARD_VERSION\s+"([^"]*)"\s*$/mg;
is scalar(@defs), 1, 'NGX_HTTP_TWILIO_GUARD_VERSION is defined once';
my $version = $defs[0] // '';
like $version, qr/\A\d+\.\d+\.\d+\z/,
     "the version is MAJOR.MINOR.PATCH ($version)";

my $changes = slurp("$top/CHANGES");
my ($latest) =
    $changes =~ /^Changes with ngx_twilio_guard (\S+) +\d\d? \w{3} \d{4}$/m;
is $latest, $version, 'the latest entry of CHANGES is this version';

my $n = Twilio::Nginx->new(name => 'version', port => $port, http => <<"EOC");
    server {
        listen 127.0.0.1:$port;
        location / {
            return 204;
        }
    }
EOC

ok $n->start, 'nginx starts' or BAIL_OUT('nginx did not start');

my $re = qr/\[notice\] .*twilio_guard: ngx_twilio_guard\/\Q$version\E loaded$/;

sub notices { scalar grep { /$re/ } $n->log_lines }

# 0 here, or 1 with an nginx whose default error log is logs/error.log
my $at_start = notices();
ok $n->reload, 'reload';
is notices(), $at_start + 1, 'one notice line for one configuration load';
ok $n->reload, 'reload again';
is notices(), $at_start + 2, 'and one more for the next';

$n->stop;

my @bad = $n->bad_log_lines;
is scalar(@bad), 0, 'no alert, crit, emerg or crash in the error log'
    or diag @bad;

done_testing;
