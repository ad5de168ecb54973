#!/usr/bin/perl
# swapnet's sampler in the guest: every INTERVAL_MS it reads /proc/vmstat,
# /proc/net/netstat (TcpExt), /proc/zoneinfo, /proc/meminfo and /proc/net/sockstat once
# each and prints one "SWAPNET {json}" line on the console. It locks itself in memory
# (mlockall) and allocates nothing new per sample worth speaking of, so that it keeps
# reporting while the guest is short of memory (a shell loop that forks went silent).
use strict;
use warnings;
$| = 1;
my $interval = (shift // 500) / 1000;
# mlockall(MCL_CURRENT | MCL_FUTURE): syscall 151 on x86_64 (UML runs the host's ABI).
my $locked = syscall(151, 3) == 0 ? 1 : 0;
my @VM = qw(nr_free_pages nr_writeback nr_anon_pages pswpin pswpout oom_kill pgscan_kswapd
  pgscan_direct pgsteal_kswapd pgsteal_direct allocstall_normal allocstall_movable);
my @TCP = qw(PFMemallocDrop TCPMemoryPressures TCPRcvQDrop TCPBacklogDrop);
my @MEM = qw(MemTotal MemFree MemAvailable SwapTotal SwapFree);
my %want_vm = map { $_ => 1 } @VM;
my %want_mem = map { $_ => 1 } @MEM;
sub slurp { my $f = shift; open(my $fh, '<', $f) or return ''; local $/; my $s = <$fh>; close $fh; return $s // ''; }
print qq(SWAPNET {"event":"agent","mlocked":$locked}\n);
my $t0;
while (1) {
  my ($up) = split ' ', slurp('/proc/uptime');
  $t0 //= $up;
  my @out = (qq("event":"sample"), qq("uptime":$up));
  for my $l (split /\n/, slurp('/proc/vmstat')) {
    my ($k, $v) = split ' ', $l;
    push @out, qq("$k":$v) if $want_vm{$k};
  }
  my @ns = split /\n/, slurp('/proc/net/netstat');
  for (my $i = 0; $i + 1 < @ns; $i += 2) {
    next unless $ns[$i] =~ /^TcpExt:/;
    my @k = split ' ', $ns[$i];
    my @v = split ' ', $ns[$i + 1];
    my %h;
    @h{@k} = @v;
    push @out, qq("$_":) . ($h{$_} // 0) for @TCP;
  }
  for my $l (split /\n/, slurp('/proc/meminfo')) {
    push @out, qq("$1":$2) if $l =~ /^(\w+):\s+(\d+)/ && $want_mem{$1};
  }
  my $ss = slurp('/proc/net/sockstat');
  push @out, qq("tcpMemPages":$1) if $ss =~ /^TCP:.*\bmem (\d+)/m;
  # Watermarks of the zone that holds the guest's memory (UML has one: Normal).
  my $zi = slurp('/proc/zoneinfo');
  if ($zi =~ /zone\s+Normal.*?\bmin\s+(\d+)\s+low\s+(\d+)\s+high\s+(\d+)/s) {
    push @out, qq("wmarkMin":$1), qq("wmarkLow":$2), qq("wmarkHigh":$3);
  }
  print 'SWAPNET {' . join(',', @out) . "}\n";
  select(undef, undef, undef, $interval);
}
