# The unit tests of t/002-core-unit.t against the core built with
# -DNGX_TWILIO_NO_SIMD: the portable code paths used where SSE2 is not.
use strict;
use warnings;
use FindBin;

$ENV{TEST_CORE_SCALAR} = 1;
do "$FindBin::Bin/002-core-unit.t" or die $@ || $!;
