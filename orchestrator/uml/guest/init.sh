#!/bin/sh
# PID 1 of swapnet's User-Mode Linux guest (orchestrator/uml/rig.ts boots it with
# init=<this file>, the host's / as a read-only hostfs root). The kernel hands it the
# SWAPNET_* variables of its command line. It brings up its NIC (vec0, or eth0 for the
# legacy driver: SWAPNET_NIC_IF), loads nbd.ko, attaches
# /dev/nbd0 to C (the kernel's own TCP socket, or a relay for SWAPNET_TRANSPORT=relay),
# swaps on it, starts the sampler, runs the program asked for, and halts the guest.
# Lines starting "SWAPNET " on the console are JSON for the host; the rest is the log.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
HERE=$(dirname "$0")

say() { echo "SWAPNET $1"; }
halt_guest() {
  sync
  echo o >/proc/sysrq-trigger
  sleep 60
}
fail() {
  say "{\"event\":\"error\",\"step\":\"$1\"}"
  halt_guest
}

mount -t proc proc /proc
mount -t sysfs sys /sys
mountpoint -q /dev || mount -t devtmpfs dev /dev
# A writable scratch directory (the root is the host's, read-only). Not /tmp when the
# project itself lives under /tmp (a clone there, as CI's may be): a tmpfs over it would
# hide this very script's siblings.
case "$HERE" in
  /tmp/*) SCRATCH=/run ;;
  *) SCRATCH=/tmp ;;
esac
mount -t tmpfs -o size=8m scratch "$SCRATCH"

say "{\"event\":\"boot\",\"kernel\":\"$(uname -r)\",\"nic\":\"${SWAPNET_NIC_IF:-vec0}\"}"

ip link set lo up || fail ip-lo
NIC_IF=${SWAPNET_NIC_IF:-vec0}
ip addr add "${SWAPNET_GUEST_IP:-192.0.2.2}/24" dev "$NIC_IF" || fail ip-addr
ip link set "$NIC_IF" up || fail ip-link
# One round trip before nbd-client makes the first connection reliable
# (real-kernel-rig.md used ping; a TCP connect does not need ping installed on the host).
probe() {
  perl -MIO::Socket::INET -e 'exit(IO::Socket::INET->new(PeerAddr => $ARGV[0], PeerPort => $ARGV[1], Timeout => 5) ? 0 : 1)' "$SWAPNET_NBD_HOST" "$SWAPNET_NBD_PORT"
}
probe || probe || probe || fail probe

insmod "/usr/lib/uml/modules/$(uname -r)/kernel/drivers/block/nbd.ko" || fail insmod
if [ -n "${SWAPNET_MIN_FREE_KBYTES:-}" ]; then
  echo "$SWAPNET_MIN_FREE_KBYTES" >/proc/sys/vm/min_free_kbytes || fail min-free-kbytes
fi

# The sampler first, locked in memory, so that it reports while memory is tight.
if [ "${SWAPNET_AGENT_MS:-0}" -gt 0 ]; then
  perl "$HERE/agent.pl" "$SWAPNET_AGENT_MS" &
fi

if [ "${SWAPNET_TRANSPORT:-tcp}" = relay ]; then
  # vanilla: the kernel's NBD socket is a Unix socket to a relay that forwards over an
  # ordinary TCP socket (not SOCK_MEMALLOC), like a userspace NBD or TLS proxy.
  perl "$HERE/relay.pl" "$SCRATCH/nbd.sock" "$SWAPNET_NBD_HOST" "$SWAPNET_NBD_PORT" &
  i=0
  while [ ! -S "$SCRATCH/nbd.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  nbd-client -u "$SCRATCH/nbd.sock" /dev/nbd0 -N swapnet -b 4096 -L -s || fail nbd-client
else
  nbd-client "$SWAPNET_NBD_HOST" "$SWAPNET_NBD_PORT" /dev/nbd0 -N swapnet -b 4096 -L -s || fail nbd-client
fi
mkswap /dev/nbd0 >/dev/null || fail mkswap
swapon /dev/nbd0 || fail swapon
say "{\"event\":\"swapon\",\"memTotalKb\":$(awk '/^MemTotal/ {print $2}' /proc/meminfo),\"swapTotalKb\":$(awk '/^SwapTotal/ {print $2}' /proc/meminfo)}"

case "${SWAPNET_PROGRAM:-}" in
  pattern) perl "$HERE/pattern-hog.pl" "$SWAPNET_HOG_MIB" ;;
  service)
    # partition-c's machine A: the hog, then the service B floods (port 7000); runs until
    # the host halts the guest.
    perl "$HERE/cycle-hog.pl" "$SWAPNET_HOG_MIB" &
    perl "$HERE/service.pl" 7000 "${SWAPNET_SERVICE_MIB:-32}" "${SWAPNET_HOT_MIB:-4}" "${SWAPNET_COLD_RATIO:-0.02}" &
    wait
    ;;
  *) say "{\"event\":\"error\",\"step\":\"program\"}" ;;
esac
say "{\"event\":\"done\",\"status\":$?}"
halt_guest
