#!/usr/bin/perl
# The guest's hog, like the model's: an anonymous working set larger than what is free,
# touched page by page for ever (flat out the first time, then BATCH pages every INTERVAL
# ms), so the guest swaps steadily to C. Usage: cycle-hog.pl MIB [BATCH INTERVAL_MS]
use strict;
use warnings;
use Time::HiRes qw(usleep);
$| = 1;
my ($mib, $batch, $interval) = @ARGV;
$batch //= 16;
$interval //= 32;
my $pages = $mib * 256;
my $mem = "\0" x ($pages * 4096);
my ($pass, $n) = (0, 0);
while (1) {
  for my $p (0 .. $pages - 1) {
    substr($mem, $p * 4096, 1) = chr(65 + $pass % 26);
    usleep($interval * 1000) if $pass > 0 && ++$n % $batch == 0;
  }
  $pass++;
  print qq(SWAPNET {"event":"hog","pass":$pass}\n);
}
