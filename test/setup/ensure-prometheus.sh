#!/usr/bin/env bash
# Makes `promtool` available for test/integration/promtool.test.ts: installs Debian's
# prometheus package when promtool is missing and this is root on a machine with apt-get.
# Idempotent; always exits 0 (the test skips and says so when promtool is still missing).
set -u

if command -v promtool >/dev/null 2>&1; then
  echo "ensure-prometheus: promtool found at $(command -v promtool)"
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "ensure-prometheus: promtool missing and not root: not installing (the promtool test will skip)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-prometheus: promtool missing and no apt-get: not installing (the promtool test will skip)"
  exit 0
fi
echo "ensure-prometheus: promtool missing: installing Debian's prometheus package"
if apt-get update -qq &&
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; then
  if command -v promtool >/dev/null 2>&1; then
    echo "ensure-prometheus: installed promtool at $(command -v promtool)"
  else
    echo "ensure-prometheus: prometheus installed but promtool is not on PATH (the promtool test will skip)"
  fi
else
  echo "ensure-prometheus: apt-get could not install prometheus (the promtool test will skip)"
fi
exit 0
