#!/usr/bin/env bash
# System packages the tests need: Debian's chromium for the real-browser tests, OBS Studio
# and Xvfb for the OBS bridge's tests (real OBS, headless), espeak-ng (a speech file for the
# voice-driver tests) and libportaudio2 (sounddevice: microphones). Idempotent and quiet when
# everything is already there.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v obs >/dev/null 2>&1 || need+=(obs-studio)
command -v Xvfb >/dev/null 2>&1 || need+=(xvfb)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
ldconfig -p 2>/dev/null | grep -q libportaudio.so.2 || need+=(libportaudio2)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "installing system packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" fonts-dejavu-core >/dev/null
fi
# The WHIP tests' SFU (Janus + simple-whip-server, tests/test_whip.py): its own script.
bash "$(dirname "$0")/sfu/install.sh"
