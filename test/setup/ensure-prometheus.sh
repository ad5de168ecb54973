#!/usr/bin/env bash
# Makes Prometheus available to the tests: the server (`prometheus`, which the live
# dashboard test runs against a topology) and `promtool` (config, rules and metrics
# checks). Debian's prometheus package provides both; it is installed when either is
# missing and this is root on a machine with apt-get. Idempotent. Always exits 0: when
# it cannot install, the tests that need the binaries fail and say how to install them.
set -u

missing() {
  local m=""
  for bin in prometheus promtool; do
    command -v "$bin" >/dev/null 2>&1 || m="$m $bin"
  done
  echo "${m# }"
}

need=$(missing)
if [ -z "$need" ]; then
  echo "ensure-prometheus: found $(command -v prometheus) and $(command -v promtool)"
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "ensure-prometheus: missing: $need; not root, not installing (the Prometheus tests will fail: run this script as root, or apt-get install prometheus)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-prometheus: missing: $need; no apt-get, not installing (the Prometheus tests will fail: install Prometheus 2.x and promtool on PATH)"
  exit 0
fi
echo "ensure-prometheus: missing: $need; installing Debian's prometheus package"
if apt-get update -qq &&
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; then
  need=$(missing)
  if [ -z "$need" ]; then
    echo "ensure-prometheus: installed $(command -v prometheus) and $(command -v promtool)"
  else
    echo "ensure-prometheus: prometheus installed but not on PATH: $need (the Prometheus tests will fail)"
  fi
else
  echo "ensure-prometheus: apt-get could not install prometheus (the Prometheus tests will fail)"
fi
exit 0
