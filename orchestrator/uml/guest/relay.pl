#!/usr/bin/perl
# The vanilla transport: listens on a Unix socket for the kernel's NBD connection
# (nbd-client -u) and forwards it, byte for byte both ways, over an ordinary TCP socket
# to C. The kernel marks the socket it is given SOCK_MEMALLOC (sk_set_memalloc), here
# the Unix one; the TCP socket that carries the swap traffic is not. Locked in memory.
# MODE io-flusher (the default) marks the relay PR_SET_IO_FLUSHER (prctl 57, Linux 5.6),
# as a userspace block-device daemon should: its allocations are GFP_NOIO, so its own
# reclaim never waits on the swap writeout it carries. MODE naive leaves it out: its
# socket sends (GFP_KERNEL) can enter direct reclaim, write out to swap through the relay
# itself and wait on the bio mempool for ever.
# Usage: relay.pl SOCKET HOST PORT [io-flusher|naive]
use strict;
use warnings;
use IO::Socket::UNIX;
use IO::Socket::INET;
use IO::Select;
my ($path, $host, $port, $mode) = @ARGV;
$mode //= 'io-flusher';
syscall(151, 3);    # mlockall(MCL_CURRENT | MCL_FUTURE)
if ($mode eq 'io-flusher') {
  syscall(157, 57, 1, 0, 0, 0) == 0 or die "relay: prctl(PR_SET_IO_FLUSHER): $!\n";
}
unlink $path;
my $listen = IO::Socket::UNIX->new(Local => $path, Listen => 4) or die "relay: $path: $!\n";
while (my $client = $listen->accept) {
  my $server = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port, Proto => 'tcp')
    or do { close $client; next; };
  setsockopt($server, 6, 1, 1);    # TCP_NODELAY
  my $sel = IO::Select->new($client, $server);
  my $buf = "\0" x 262144;    # one buffer for the connection's life: no allocation per read
  my $open = 1;
  while ($open && (my @ready = $sel->can_read)) {
    for my $fh (@ready) {
      my $to = $fh == $client ? $server : $client;
      my $n = sysread($fh, $buf, 262144);
      if (!$n) { $open = 0; last; }
      my $off = 0;
      while ($off < $n) {
        my $w = syswrite($to, $buf, $n - $off, $off);
        if (!defined $w) { $open = 0; last; }
        $off += $w;
      }
    }
  }
  close $client;
  close $server;
}
