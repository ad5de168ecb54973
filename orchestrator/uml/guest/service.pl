#!/usr/bin/perl
# The guest's service, like the model's (nodes/machines/workloads.ts): a TCP port that B
# floods; for every message read (MESSAGE_BYTES of B's stream) it touches TOUCHES pages
# of its working set, mostly the hot set, sometimes anywhere (the long tail, which reclaim pushes out to swap). So it
# reads while C answers and freezes on a swap-in of its tail when C is away; B's backlog
# then grows in the guest's socket buffers. Not mlocked: it must be able to block.
# Usage: service.pl PORT WORKING_SET_MIB HOT_SET_MIB COLD_TOUCH_RATIO [MESSAGE_BYTES TOUCHES]
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time);
$| = 1;
my ($port, $ws_mib, $hot_mib, $cold, $msg, $touches) = @ARGV;
$msg ||= 4096;
$touches //= 1;
die "usage: service.pl PORT WS_MIB HOT_MIB COLD_RATIO\n" unless defined $cold;
my $pages = $ws_mib * 256;
my $hot = $hot_mib * 256;
my $ws = "\0" x ($pages * 4096);
substr($ws, $_ * 4096, 1) = 'w' for 0 .. $pages - 1;
my $listen = IO::Socket::INET->new(LocalPort => $port, Listen => 256, ReuseAddr => 1, Blocking => 0)
  or die "service: listen: $!\n";
my $sel = IO::Select->new($listen);
my %pending;    # bytes of a message read so far, per socket
my ($messages, $last) = (0, time);
print qq(SWAPNET {"event":"service","phase":"listening","port":$port}\n);
while (1) {
  for my $fh ($sel->can_read(0.25)) {
    if ($fh == $listen) {
      while (my $c = $listen->accept) { $c->blocking(0); $sel->add($c); $pending{$c} = 0; }
      next;
    }
    my $n = sysread($fh, my $buf, 65536);
    if (!defined $n || $n == 0) {
      next if !defined $n && $!{EAGAIN};
      $sel->remove($fh); delete $pending{$fh}; close $fh; next;
    }
    $pending{$fh} += $n;
    while ($pending{$fh} >= $msg) {
      $pending{$fh} -= $msg;
      for (1 .. $touches) {
        my $p = rand() < $cold ? int(rand($pages)) : int(rand($hot));
        substr($ws, $p * 4096, 1) = 'm';
      }
      $messages++;
    }
  }
  if (time - $last >= 0.25) {
    $last = time;
    print qq(SWAPNET {"event":"service","messages":$messages,"connections":) . ($sel->count - 1) . "}\n";
  }
}
