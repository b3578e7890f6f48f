#!/usr/bin/env bash
# Chromium for the console's Playwright tests: Debian's `chromium` package, installed with apt-get when missing
# (Playwright never downloads a browser here). Prints the browser binary's path on stdout.
set -euo pipefail

find_chromium() {
  for candidate in "${SDR_TEST_CHROMIUM:-}" /usr/lib/chromium/chromium /usr/lib/chromium-browser/chromium-browser; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
  done
  return 1
}

if ! find_chromium >/dev/null; then
  echo "installing Chromium from Debian..." >&2
  export DEBIAN_FRONTEND=noninteractive
  sudo=""
  if [ "$(id -u)" != "0" ]; then
    command -v sudo >/dev/null || { echo "Chromium is missing and installing it needs root" >&2; exit 1; }
    sudo="sudo -E"
  fi
  $sudo apt-get update -qq >&2
  $sudo apt-get install -y -qq chromium >&2
fi
find_chromium
