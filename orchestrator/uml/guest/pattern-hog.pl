#!/usr/bin/perl
# A guest program for the NBD test: writes a pattern that is a function of the page
# number over MIB MiB of anonymous memory (more than the guest's RAM, so most of it goes
# to swap on C), then reads every page back and counts the pages that differ. Progress
# as "SWAPNET {json}" lines so the host can partition C in the middle of each phase.
use strict;
use warnings;
$| = 1;
my $mib = shift // die "usage: pattern-hog.pl MIB\n";
my $pages = $mib * 256;
my $step = int($pages / 10) || 1;
sub say_event { print 'SWAPNET {"event":"hog",' . $_[0] . "}\n"; }
sub page_of { my $p = shift; return pack('NN', $p, $p ^ 0x5eed5eed) x 512; }
my $buf = "\0" x ($pages * 4096);
for my $p (0 .. $pages - 1) {
  substr($buf, $p * 4096, 4096) = page_of($p);
  say_event(qq("phase":"write","pages":) . ($p + 1)) if ($p + 1) % $step == 0;
}
say_event(qq("phase":"written","pages":$pages));
my $bad = 0;
for my $p (0 .. $pages - 1) {
  $bad++ if substr($buf, $p * 4096, 4096) ne page_of($p);
  say_event(qq("phase":"verify","pages":) . ($p + 1)) if ($p + 1) % $step == 0;
}
say_event(qq("phase":"verified","pages":$pages,"bad":$bad));
exit($bad == 0 ? 0 : 1);
