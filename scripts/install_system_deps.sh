#!/usr/bin/env bash
# System packages the tests need: Debian's chromium for the real-browser tests, OBS Studio
# and Xvfb for the OBS bridge's tests (real OBS, headless). Idempotent and quiet when
# everything is already there.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v obs >/dev/null 2>&1 || need+=(obs-studio)
command -v Xvfb >/dev/null 2>&1 || need+=(xvfb)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "installing system packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" fonts-dejavu-core >/dev/null
fi
# The WHIP tests' SFU (Janus + simple-whip-server, tests/test_whip.py): its own script.
bash "$(dirname "$0")/sfu/install.sh"
