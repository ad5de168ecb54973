#!/usr/bin/env bash
# Makes Debian's headless Chromium available for test/e2e/report.test.ts (it opens a real
# HTML report through playwright-core): installs the `chromium` package when
# /usr/bin/chromium is missing and this is root on a machine with apt-get. Idempotent.
# Never fails by itself: when Chromium is still missing, the report test fails and says
# how to install it (the test needs it; it does not skip).
set -u

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
  echo "ensure-chromium: chromium found at $CHROMIUM"
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "ensure-chromium: $CHROMIUM missing and not root: not installing (install Debian's chromium package; the report test will fail without it)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: $CHROMIUM missing and no apt-get: not installing (the report test will fail without it)"
  exit 0
fi
echo "ensure-chromium: $CHROMIUM missing: installing Debian's chromium package"
if apt-get update -qq &&
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; then
  if [ -x "$CHROMIUM" ]; then
    echo "ensure-chromium: installed chromium at $CHROMIUM"
  else
    echo "ensure-chromium: the chromium package installed but $CHROMIUM is missing (the report test will fail)"
  fi
else
  echo "ensure-chromium: apt-get could not install chromium (the report test will fail)"
fi
exit 0
