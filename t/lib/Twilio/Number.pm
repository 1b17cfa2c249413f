package Twilio::Number;

# What the SMS guard's tests (t/097, t/098, t/099, t/120, t/121) share: a
# location behind twilio_guard_number that proxies to the test backend
# and shows $twilio_guard_number_result in X-Result, and a JSON POST.
#
#   number_location($backend_port, 'phone default_country=US', '/path',
#                   'twilio_guard_limit zone=sms key=number 1/1h;', ...)
#   number_request('/path', '{"phone":"+14155550100"}',
#                  type => 'application/json', headers => [Name => value])

use strict;
use warnings;
use Exporter 'import';

our @EXPORT = qw(number_location number_request);

sub number_location {
    my ($backend, $number, $path, @lines) = @_;
    my $body = join '', map { "            $_\n" } @lines;
    return <<"EOC";
        location $path {
            twilio_guard_number $number;
$body            add_header X-Result \$twilio_guard_number_result always;
            proxy_pass http://127.0.0.1:$backend;
        }
EOC
}

sub number_request {
    my ($path, $body, %o) = @_;
    my $type = $o{type} // 'application/json';
    my @h = @{ $o{headers} // [] };
    my $hdr = '';
    while (@h) { my ($k, $v) = splice @h, 0, 2; $hdr .= "$k: $v\r\n" }
    return "POST $path HTTP/1.1\r\nHost: localhost\r\n"
         . "Content-Type: $type\r\n$hdr"
         . 'Content-Length: ' . length($body) . "\r\n"
         . "Connection: close\r\n\r\n$body";
}

1;
