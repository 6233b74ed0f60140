#!/usr/bin/env bash
# Create the AnimCam virtual camera that `streamfx live` writes to (Linux, v4l2loopback).
#
#   bash scripts/setup_virtualcam.sh            # load now (needs sudo)
#   bash scripts/setup_virtualcam.sh --persist  # also load it at every boot
#
# exclusive_caps=1 makes Chrome/Zoom/Teams list the device as a camera (they ignore
# devices that advertise both output and capture). video_nr=10 keeps it clear of real
# webcams (/dev/video0..); card_label is the name apps show and the one streamfx looks for.
set -euo pipefail

LABEL=AnimCam
NR=10
OPTS="devices=1 video_nr=${NR} card_label=${LABEL} exclusive_caps=1"

if [[ "$(uname -s)" != Linux ]]; then
  echo "This script is for Linux. On Windows/macOS install OBS Studio 28+ and click 'Start Virtual Camera' once." >&2
  exit 1
fi

SUDO=""
if [[ $EUID -ne 0 ]]; then SUDO="sudo"; fi

if ! modinfo v4l2loopback >/dev/null 2>&1; then
  echo "v4l2loopback is not installed; installing it (Debian/Ubuntu: v4l2loopback-dkms)…"
  if command -v apt-get >/dev/null; then
    $SUDO apt-get install -y v4l2loopback-dkms "linux-headers-$(uname -r)" || $SUDO apt-get install -y v4l2loopback-dkms
  elif command -v dnf >/dev/null; then
    $SUDO dnf install -y v4l2loopback
  elif command -v pacman >/dev/null; then
    $SUDO pacman -S --noconfirm v4l2loopback-dkms
  else
    echo "Install the v4l2loopback kernel module with your package manager, then re-run." >&2
    exit 1
  fi
fi

if [[ -e /sys/class/video4linux/video${NR}/name ]] && grep -qx "${LABEL}" /sys/class/video4linux/video${NR}/name; then
  echo "/dev/video${NR} (${LABEL}) is already there."
else
  if lsmod | grep -q '^v4l2loopback'; then
    echo "v4l2loopback is loaded with other options; reloading it (close apps using it first)…"
    $SUDO modprobe -r v4l2loopback
  fi
  # shellcheck disable=SC2086
  $SUDO modprobe v4l2loopback ${OPTS}
  echo "Created /dev/video${NR} labelled ${LABEL}."
fi

if [[ "${1:-}" == "--persist" ]]; then
  echo "v4l2loopback" | $SUDO tee /etc/modules-load.d/streamfx-animcam.conf >/dev/null
  echo "options v4l2loopback ${OPTS}" | $SUDO tee /etc/modprobe.d/streamfx-animcam.conf >/dev/null
  echo "AnimCam will be created at every boot."
fi

echo "Now run: streamfx live   (then pick 'AnimCam' as the camera in Zoom/Meet/Teams/OBS)"
