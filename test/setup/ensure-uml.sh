#!/usr/bin/env bash
# Makes the real-kernel engine's tools available (`--engine uml`, DESIGN.md section 12):
# Debian's user-mode-linux (linux.uml, a Linux 6.1 kernel that runs as a process, and its
# nbd.ko), nbd-client (the guest attaches /dev/nbd0 with it), kmod (insmod) and iproute2
# (the run's network namespace and tap). Installed when missing, with apt-get update
# first. Root is needed (apt-get, and the engine itself needs root for the namespace and
# the tap): without it this script refuses with a message and exits 1. Idempotent.
set -u

# command -> Debian package
declare -A PKG=([linux.uml]=user-mode-linux [nbd-client]=nbd-client [insmod]=kmod [ip]=iproute2)

missing() {
  local m=""
  for bin in linux.uml nbd-client insmod ip; do
    if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$bin" ] && [ ! -x "/sbin/$bin" ]; then
      m="$m ${PKG[$bin]}"
    fi
  done
  echo "${m# }"
}

need=$(missing)
if [ -z "$need" ]; then
  echo "ensure-uml: found linux.uml, nbd-client, insmod and ip"
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "ensure-uml: missing packages: $need; refusing: root is needed to install them (apt-get) and to run the uml engine (network namespace and tap). Run this script as root, or: sudo apt-get install $need" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-uml: missing packages: $need; no apt-get on this machine: install Debian's $need (or your distribution's equivalents) by hand" >&2
  exit 1
fi
echo "ensure-uml: missing: $need; installing with apt-get"
# shellcheck disable=SC2086 # one word per package
if apt-get update -qq &&
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need; then
  left=$(missing)
  if [ -z "$left" ]; then
    echo "ensure-uml: installed $need"
    exit 0
  fi
  echo "ensure-uml: installed, but still missing: $left" >&2
  exit 1
fi
echo "ensure-uml: apt-get could not install: $need" >&2
exit 1
