# Every case of t/data/vectors.json through the pure core alone
# (build/unit/ngx_twilio_validate): each URL the official libraries accept,
# the Node signature where it differs, and a tampered copy of each case.
use strict;
use warnings;
use FindBin;
use JSON::PP;
use Test::More;

my $root = "$FindBin::Bin/..";
my $bin  = "$root/build/unit/ngx_twilio_validate";

system("make -s -C '$root' unit >&2") == 0 or BAIL_OUT("make unit failed");

open my $fh, '<:raw', "$FindBin::Bin/data/vectors.json" or die $!;
my $vectors = JSON::PP->new->utf8->decode(do { local $/; <$fh> });

sub check {
    my ($v, $url, $body, $sig) = @_;
    my $form = $v->{content_type} =~ m{^application/x-www-form-urlencoded}i;
    open my $p, '-|', $bin, ($form ? ('-f') : ()), '-k', $v->{auth_token},
        $url, $body, $sig or die "$bin: $!";
    my $out = <$p>;
    close $p;
    chomp $out;
    return $out;
}

for my $v (@$vectors) {
    my %sigs = map { $_ => 1 } grep { defined }
        $v->{signature}, $v->{signature_twilio_node};

    for my $url (@{ $v->{urls_accepted_by_official_libraries} }) {
        for my $sig (sort keys %sigs) {
            is check($v, $url, $v->{body}, $sig), 'ok key=0',
                "$v->{name}: $url ($sig)";
        }
    }

    my $json = $v->{content_type} =~ /json/;
    my $body = $v->{body};

    if (length $body) {
        # flip one byte of the last value
        my $i = length($body) - 1;
        substr($body, $i, 1) = substr($body, $i, 1) eq 'x' ? 'y' : 'x';
        is check($v, $v->{url}, $body, $v->{signature}),
            $json ? 'body_hash_mismatch' : 'bad_signature',
            "$v->{name}: tampered body rejected";

    } else {
        my $url = $v->{url} . 'x';
        is check($v, $url, $body, $v->{signature}), 'bad_signature',
            "$v->{name}: tampered url rejected";
    }
}

done_testing;
