# Self-test of the bundled runner's valgrind report (util/tnx): what
# TEST_NGINX_USE_VALGRIND=1 does with valgrind's log after a block.  Only a
# leak with a frame of this module fails a block, any memory error fails
# it, and nginx core's leaks are only shown.  It loads the bundled runner
# directly, whichever runner runs the suite.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../util/tnx";
use File::Temp ();
use Test::More;

my $tnx = "$FindBin::Bin/../util/tnx/Test/Nginx/Socket.pm";
require $tnx;

my $dir = File::Temp::tempdir(CLEANUP => 1);
$TNX::Server::ValgrindLog = "$dir/valgrind.log";

my $core_leak = <<'EOV';
==1== 
==1== 32 bytes in 1 blocks are definitely lost in loss record 4 of 9
==1==    at 0x48417B4: malloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==1==    by 0x4C0F3E8: ngx_alloc (in /usr/sbin/nginx)
==1==    by 0x4C0F3F0: main (in /usr/sbin/nginx)
==1== 
EOV

my $module_leak = <<'EOV';
==1== 64 bytes in 1 blocks are definitely lost in loss record 3 of 9
==1==    at 0x48417B4: malloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==1==    by 0x4C0F3E8: ngx_palloc (in /usr/sbin/nginx)
==1==    by 0x5C0F3E8: ??? (in /build/ngx_http_twilio_guard_module.so)
==1== 
EOV

my $invalid_read = <<'EOV';
==1== Invalid read of size 1
==1==    at 0x4C0F3E8: ngx_strlow (in /usr/sbin/nginx)
==1== 
EOV

# runs the report on a log; returns whether it failed the block
sub fails {
    my ($log) = @_;
    open my $fh, '>', $TNX::Server::ValgrindLog or die $!;
    print $fh $log;
    close $fh;

    # a private builder: the verdict must not count in this file's plan
    my $tb = Test::More->builder;
    my $failed = 0;
    no warnings 'redefine';
    local *Test::More::fail = sub { $failed = 1; 0 };
    my $no_ending = $tb->no_ending;
    local $SIG{__WARN__} = sub { };
    Test::Nginx::Socket::_report_valgrind('block');
    $tb->no_ending($no_ending);
    return $failed;
}

ok !fails(''), 'no valgrind output: the block passes';
ok !fails($core_leak), "a leak in nginx core's frames is only shown";
ok fails($core_leak . $module_leak), 'a leak with a frame of the module fails';
ok fails($invalid_read), 'an invalid read fails';
ok -z $TNX::Server::ValgrindLog, 'the log is emptied for the next block';

done_testing;
