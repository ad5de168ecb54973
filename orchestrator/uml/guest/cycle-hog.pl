#!/usr/bin/perl
# The guest's hog, like the model's: an anonymous working set larger than what is free,
# touched page by page for ever (flat out the first time, then BATCH pages every INTERVAL
# ms), so the guest swaps steadily to C; its touches so far every half second.
# Usage: cycle-hog.pl MIB [BATCH INTERVAL_MS]
use strict;
use warnings;
use Time::HiRes qw(usleep time);
$| = 1;
my ($mib, $batch, $interval) = @ARGV;
$batch //= 16;
$interval //= 32;
my $pages = $mib * 256;
# The first pass grows the working set a page at a time (appending: a large string grows
# by mremap, nothing else is touched), so that touches are counted from the start.
my $mem = '';
my $page = "\0" x 4096;
my ($pass, $n, $touches, $said) = (0, 0, 0, time);
sub touched {
  $touches++;
  if (($touches & 63) == 0 && time - $said >= 0.5) {
    $said = time;
    print qq(SWAPNET {"event":"hog","pid":$$,"touches":$touches}\n);
  }
}
while (1) {
  for my $p (0 .. $pages - 1) {
    if ($pass == 0) {
      $mem .= $page;
    } else {
      substr($mem, $p * 4096, 1) = chr(65 + $pass % 26);
      usleep($interval * 1000) if ++$n % $batch == 0;
    }
    touched();
  }
  $pass++;
  print qq(SWAPNET {"event":"hog","pass":$pass}\n);
}
