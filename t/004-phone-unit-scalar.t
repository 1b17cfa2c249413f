# The unit tests of t/004-phone-unit.t against the SMS guard's pure part
# built with -DNGX_TWILIO_NO_SIMD: the portable code paths used where SSE2
# is not.
use strict;
use warnings;
use FindBin;

$ENV{TEST_PHONE_SCALAR} = 1;
do "$FindBin::Bin/004-phone-unit.t" or die $@ || $!;
