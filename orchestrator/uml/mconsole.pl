#!/usr/bin/perl
# One command to a User-Mode Linux guest's management console (arch/um/drivers/
# mconsole_user.c): a datagram on the Unix socket $HOME/.uml/UMID/mconsole, answered by
# the guest kernel itself, so it works when the guest's user space is wedged (sysrq w).
# Request: magic 0xcafebabe, version 2, length, 512 bytes of text; reply: err, more,
# length, 512 bytes. Prints the reply's text; exits 1 with the text when err is set.
# Usage: mconsole.pl SOCKET COMMAND...
use strict;
use warnings;
use Socket qw(AF_UNIX SOCK_DGRAM pack_sockaddr_un);
use File::Temp qw(tempdir);
my ($path, @words) = @ARGV;
die "usage: mconsole.pl SOCKET COMMAND...\n" unless defined $path && @words;
my $text = join(' ', @words);
die "mconsole: command longer than 511 bytes\n" if length($text) > 511;
my $dir = tempdir(CLEANUP => 1);
my $me = "$dir/client";
socket(my $s, AF_UNIX, SOCK_DGRAM, 0) or die "mconsole: socket: $!\n";
bind($s, pack_sockaddr_un($me)) or die "mconsole: bind: $!\n";
send($s, pack('LLLa512', 0xcafebabe, 2, length($text), $text), 0, pack_sockaddr_un($path))
  or die "mconsole: $path: $!\n";
my $out = '';
my $err = 0;
while (1) {
  my $rin = '';
  vec($rin, fileno($s), 1) = 1;
  select(my $rout = $rin, undef, undef, 5) or die "mconsole: no reply from $path\n";
  defined(recv($s, my $buf, 12 + 512, 0)) or die "mconsole: recv: $!\n";
  my ($e, $more, $len) = unpack('LLL', $buf);
  $err ||= $e;
  $out .= substr($buf, 12, $len);
  last unless $more;
}
print $out, "\n";
exit($err ? 1 : 0);
