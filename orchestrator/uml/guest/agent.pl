#!/usr/bin/perl
# swapnet's agent in the guest. Every INTERVAL_MS it reads /proc/vmstat,
# /proc/net/netstat (TcpExt), /proc/net/snmp (Tcp), /proc/zoneinfo, /proc/meminfo, /proc/stat,
# /proc/net/sockstat and the NIC's rx_dropped once each and prints one
# "SWAPNET {json}" line on the console. It locks itself in memory (mlockall) and
# allocates nothing new per sample worth speaking of, so that it keeps reporting while
# the guest is short of memory (a shell loop that forks went silent).
#
# With "control" as its second argument it is also the host's hand in the guest: it reads
# commands from its standard input, the console (the host writes them to the UML
# process's stdin), one per line, and answers each with {"event":"ack"|"nack",...}:
#   start hog TASKS MIB BATCH INTERVAL_MS   TASKS cycle-hog.pl processes of MIB each
#   stop hog                                 kills them
#   tasks                                    the tasks in D state (and the perl
#                                            programs in any state) among those there were
#                                            when the hog started, with their kernel
#                                            stacks: {"event":"task",pid,comm,stack}
#   sysrq m|w|t                              the kernel's dump of memory, blocked tasks
#                                            or all tasks, on the console
#   halt                                     powers the guest off (sysrq o)
# Usage: agent.pl INTERVAL_MS [control NIC_IF HERE]
use strict;
use warnings;
use IO::Select;
$| = 1;
my ($interval_ms, $mode, $nic, $here) = @ARGV;
my $interval = ($interval_ms // 500) / 1000;
my $control = ($mode // '') eq 'control';
# mlockall(MCL_CURRENT | MCL_FUTURE): syscall 151 on x86_64 (UML runs the host's ABI).
my $locked = syscall(151, 3) == 0 ? 1 : 0;
my @VM = qw(nr_free_pages nr_writeback nr_anon_pages pswpin pswpout oom_kill pgscan_kswapd
  pgscan_direct pgsteal_kswapd pgsteal_direct allocstall_normal allocstall_movable);
my @TCP = qw(PFMemallocDrop TCPMemoryPressures TCPRcvQDrop TCPBacklogDrop);
my @MEM = qw(MemTotal MemFree MemAvailable SwapTotal SwapFree);
my %want_vm = map { $_ => 1 } @VM;
my %want_mem = map { $_ => 1 } @MEM;
# Every file is opened once and read again from its start (a fresh open would allocate a
# struct file and, under /proc/PID, an inode: kernel memory that mlock cannot hold back,
# and under a wedge the allocation waits in direct reclaim with everyone else).
my %open;
sub slurp {
  my $f = shift;
  my $fh = $open{$f};
  if (!$fh) { open($fh, '<', $f) or return ''; $open{$f} = $fh; }
  sysseek($fh, 0, 0) or return '';
  my $s = '';
  while ((my $n = sysread($fh, my $chunk, 65536)) > 0) { $s .= $chunk; }
  return $s;
}
sub say_json { print 'SWAPNET {' . join(',', @_) . "}\n"; }
my $tcp_mem = join(',', split(' ', slurp('/proc/sys/net/ipv4/tcp_mem')));
say_json(qq("event":"agent"), qq("mlocked":$locked), qq("tcpMem":[$tcp_mem]));

my $sysrq;
$sysrq = undef unless open($sysrq, '>', '/proc/sysrq-trigger');
# Handles on /proc/PID/stat and /proc/PID/stack of every task there is when the hog
# starts (memory is plentiful then), read again at `tasks` without opening anything.
my %task;
sub scan_tasks {
  opendir(my $d, '/proc') or return;
  for my $pid (grep { /^\d+$/ } readdir $d) {
    next if $task{$pid};
    open(my $st, '<', "/proc/$pid/stat") or next;
    open(my $sk, '<', "/proc/$pid/stack") or next;
    $task{$pid} = [$st, $sk];
    slurp_fh($_) for ($st, $sk);    # the first read allocates each file's buffer
  }
  closedir $d;
}
sub slurp_fh {
  my $fh = shift;
  sysseek($fh, 0, 0) or return '';
  my $s = '';
  while ((my $n = sysread($fh, my $chunk, 65536)) > 0) { $s .= $chunk; }
  return $s;
}
sub list_tasks {
  my $clean = sub { my $t = shift; $t =~ s/[^\w .:+\/<>\[\]|-]/?/g; return $t; };
  for my $pid (sort { $a <=> $b } keys %task) {
    my ($st, $sk) = @{ $task{$pid} };
    next unless slurp_fh($st) =~ /^\d+ \((.*)\) (\S)/s;
    my ($comm, $state) = ($1, $2);
    # The blocked tasks, and the guest's own programs (the relay, the service, the
    # hogs: perl) whatever their state.
    next unless $state eq 'D' || ($comm eq 'perl' && $pid != $$);
    my $stack = join('|', map { s/^\[<[0-9a-f]+>\] //r } split /\n/, slurp_fh($sk));
    say_json(qq("event":"task"), qq("pid":$pid), '"comm":"' . $clean->($comm) . '"',
      qq("state":"$state"), '"stack":"' . $clean->($stack) . '"');
  }
}
my @hogs;
sub stop_hogs { kill 'KILL', @hogs if @hogs; waitpid($_, 0) for @hogs; @hogs = (); }
sub command {
  my @w = split ' ', shift;
  return unless @w;
  my $what = join(' ', @w);
  if ($w[0] eq 'start' && ($w[1] // '') eq 'hog' && @w == 6 && !grep { !/^\d+$/ } @w[2 .. 5]) {
    my ($tasks, $mib, $batch, $ms) = @w[2 .. 5];
    stop_hogs();
    for my $i (1 .. $tasks) {
      my $pid = fork;
      if (defined $pid && $pid == 0) {
        delete @ENV{ grep { /^MALLOC_/ } keys %ENV };
        exec('perl', "$here/cycle-hog.pl", $mib, $batch, $ms);
        exit 127;
      }
      push @hogs, $pid if $pid;
    }
    scan_tasks();
    say_json(qq("event":"ack"), qq("command":"$what"), '"pids":[' . join(',', @hogs) . ']');
  } elsif ($what eq 'stop hog') {
    stop_hogs();
    say_json(qq("event":"ack"), qq("command":"$what"));
  } elsif ($what eq 'tasks') {
    list_tasks();
    say_json(qq("event":"ack"), qq("command":"$what"));
  } elsif ($w[0] eq 'sysrq' && @w == 2 && $w[1] =~ /^[mwt]$/ && $sysrq) {
    # From this process, not from the management console's interrupt: in this UML the
    # blocked-task dump faults on kworkers when it runs with no mm (a kernel panic).
    say_json(qq("event":"ack"), qq("command":"$what"));
    syswrite($sysrq, $w[1]);
    say_json(qq("event":"sysrq-done"), qq("key":"$w[1]"));
  } elsif ($what eq 'halt') {
    say_json(qq("event":"ack"), qq("command":"$what"));
    stop_hogs();
    syswrite($sysrq, 'o') if $sysrq;
  } else {
    $what =~ s/[^\w .-]/?/g;
    say_json(qq("event":"nack"), qq("command":"$what"));
  }
}

my $sel = $control ? IO::Select->new(\*STDIN) : undef;
my $line = '';
my $next = 0;
while (1) {
  my ($up) = split ' ', slurp('/proc/uptime');
  if ($up >= $next) {
    $next = $up + $interval;
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
    # Tcp InSegs (/proc/net/snmp): segments the guest's TCP received, every socket.
    my @sn = grep { /^Tcp:/ } split /\n/, slurp('/proc/net/snmp');
    if (@sn == 2) {
      my %h;
      @h{ split ' ', $sn[0] } = split ' ', $sn[1];
      push @out, qq("tcpInSegs":$h{InSegs}) if defined $h{InSegs};
    }
    for my $l (split /\n/, slurp('/proc/meminfo')) {
      push @out, qq("$1":$2) if $l =~ /^(\w+):\s+(\d+)/ && $want_mem{$1};
    }
    push @out, qq("procsBlocked":$1) if slurp('/proc/stat') =~ /^procs_blocked (\d+)/m;
    my $ss = slurp('/proc/net/sockstat');
    push @out, qq("tcpMemPages":$1) if $ss =~ /^TCP:.*\bmem (\d+)/m;
    if ($nic) {
      my $d = slurp("/sys/class/net/$nic/statistics/rx_dropped");
      push @out, qq("nicRxDropped":$1) if $d =~ /(\d+)/;
    }
    # Watermarks of the zone that holds the guest's memory (UML has one: Normal). The
    # min, low and high lines include watermark_boost, reported apart.
    my $zi = slurp('/proc/zoneinfo');
    if ($zi =~ /zone\s+Normal.*?\bboost\s+(\d+)\s+min\s+(\d+)\s+low\s+(\d+)\s+high\s+(\d+)/s) {
      push @out, qq("wmarkBoost":$1), qq("wmarkMin":$2), qq("wmarkLow":$3), qq("wmarkHigh":$4);
    }
    say_json(@out);
  }
  my $wait = $next - $up;
  $wait = 0 if $wait < 0;
  if ($sel) {
    if ($sel->can_read($wait)) {
      my $n = sysread(STDIN, my $buf, 4096);
      if ($n) {
        $line .= $buf;
        while ($line =~ s/^([^\r\n]*)[\r\n]+//) { command($1); }
        $line = '' if length($line) > 4096;
      } else {
        select(undef, undef, undef, $wait);
      }
    }
  } else {
    select(undef, undef, undef, $wait);
  }
  while ((my $pid = waitpid(-1, 1)) > 0) { @hogs = grep { $_ != $pid } @hogs; }
}
