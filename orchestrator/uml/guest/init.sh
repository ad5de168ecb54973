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
if [ -n "${SWAPNET_WATERMARK_SCALE_FACTOR:-}" ]; then
  echo "$SWAPNET_WATERMARK_SCALE_FACTOR" >/proc/sys/vm/watermark_scale_factor || fail watermark-scale-factor
fi
if [ -n "${SWAPNET_MIN_FREE_KBYTES:-}" ]; then
  echo "$SWAPNET_MIN_FREE_KBYTES" >/proc/sys/vm/min_free_kbytes || fail min-free-kbytes
fi

# The agent and the relay lock themselves in memory (mlockall, MCL_FUTURE), so every page
# their heap grows by is allocated at once, in the allocating call: under memory
# pressure that call enters direct reclaim and waits on swap writeout, which for the relay
# is its own. Their malloc gets its room up front and never gives it back, so that in
# steady state neither asks the kernel for memory (a perl artefact, not the transport).
LOCKED_MALLOC="MALLOC_TOP_PAD_=16777216 MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_MMAP_THRESHOLD_=1073741824"

# The sampler first, locked in memory, so that it reports while memory is tight.
if [ "${SWAPNET_AGENT_MS:-0}" -gt 0 ] && [ "${SWAPNET_PROGRAM:-}" != engine ]; then
  env $LOCKED_MALLOC perl "$HERE/agent.pl" "$SWAPNET_AGENT_MS" sample "$NIC_IF" &
fi

if [ "${SWAPNET_TRANSPORT:-tcp}" = relay ]; then
  # vanilla: the kernel's NBD socket is a Unix socket to a relay that forwards over an
  # ordinary TCP socket (not SOCK_MEMALLOC), like a userspace NBD or TLS proxy.
  env $LOCKED_MALLOC perl "$HERE/relay.pl" "$SCRATCH/nbd.sock" "$SWAPNET_NBD_HOST" "$SWAPNET_NBD_PORT" "${SWAPNET_RELAY:-io-flusher}" &
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
  engine)
    # The uml engine's machine A: the service B floods (port 7000) runs from the start,
    # like the model's; the agent takes the host's commands on the console (the hog,
    # halt) and samples, locked in memory, until the host halts the guest.
    perl "$HERE/service.pl" 7000 "$SWAPNET_SERVICE_MIB" "$SWAPNET_HOT_MIB" "$SWAPNET_COLD_RATIO" \
      "$SWAPNET_MESSAGE_BYTES" "$SWAPNET_TOUCHES" &
    exec env $LOCKED_MALLOC perl "$HERE/agent.pl" "$SWAPNET_AGENT_MS" control "$NIC_IF" "$HERE"
    ;;
  *) say "{\"event\":\"error\",\"step\":\"program\"}" ;;
esac
say "{\"event\":\"done\",\"status\":$?}"
halt_guest
