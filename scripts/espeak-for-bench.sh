#!/usr/bin/env bash
# espeak-ng for the turn-taking benches' caller voices (bench/callers.py): Debian's package, installed with
# apt-get when missing. The benches still run without it, on the hibari caller voices only, and say so.
set -euo pipefail
if command -v espeak-ng >/dev/null; then exit 0; fi
echo "installing espeak-ng from Debian..." >&2
export DEBIAN_FRONTEND=noninteractive
sudo=""
if [ "$(id -u)" != "0" ]; then
  command -v sudo >/dev/null || { echo "espeak-ng is missing and installing it needs root" >&2; exit 1; }
  sudo="sudo -E"
fi
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends espeak-ng >&2
