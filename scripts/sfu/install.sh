#!/usr/bin/env bash
# Install what scripts/sfu/sfu.py runs: Debian's Janus (VideoRoom) and Debian's
# simple-whip-server in front of it, plus the loopback shim. Idempotent and quiet when
# everything is already there; root or sudo for the apt part. Everything but Janus lands in build/sfu/ (or $STREAMFX_SFU_HOME).
#
# Why not `apt-get install simple-whip-server`: its node-* dependencies conflict with a
# newer Node.js (CI's is NodeSource's 20), so the .deb is only unpacked and its seven
# Node.js modules come from npm at the versions pinned in package.json/package-lock.json.
# Without a reachable npm registry (or with STREAMFX_SFU_NODE=debian) Debian's own
# node-* packages are used instead: downloaded and unpacked too (node-websocket needs
# Debian's libnode108, which conflicts with NodeSource's nodejs, so they cannot be
# installed), found through NODE_PATH (scripts/sfu/sfu.py sets it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
home="${STREAMFX_SFU_HOME:-$root/build/sfu}"
sws="$home/simple-whip-server"
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
apt_install() {
  echo "installing system packages: $*"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

need=()
command -v janus >/dev/null 2>&1 || need+=(janus)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
did=
if [ ${#need[@]} -gt 0 ]; then apt_install "${need[@]}"; did=1; fi

mkdir -p "$home"
# 1. simple-whip-server from its .deb, unpacked (not installed)
if [ ! -f "$sws/src/whip-janus.js" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download -qq simple-whip-server 2>/dev/null || { $SUDO apt-get update -qq && apt-get download -qq simple-whip-server; })
  dpkg-deb -x "$tmp"/simple-whip-server_*.deb "$tmp/x"
  rm -rf "$sws"
  cp -r "$tmp/x/usr/share/simple-whip-server" "$sws"
  did=1
fi
# 2. our config (ports from the environment) and listen() bound to config.host, not *
rm -f "$sws/src/config.js"  # the .deb links it to /etc/simple-whip-server/config.js
cp "$here/whip-config.js" "$sws/src/config.js"
if ! grep -q "config.host" "$sws/src/server.js"; then
  sed -i 's/http\.listen(config\.port, function/http.listen(config.port, config.host, function/' "$sws/src/server.js"
fi
grep -q "http.listen(config.port, config.host, function" "$sws/src/server.js" || {
  echo "install.sh: could not bind simple-whip-server to 127.0.0.1 (server.js changed?)" >&2; exit 1; }
# 3. its Node.js modules (no install scripts: the optional native speed-ups are not needed)
debian_node_modules() {
  local dest="$home/debian-node" tmp2 pkgs
  [ -f "$dest/.streamfx-installed" ] && return 0
  tmp2="$(mktemp -d)"
  # the modules and everything they need, as Debian packages it (pure JavaScript)
  pkgs=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
           --no-replaces --no-enhances node-express node-cors node-debug node-colors node-body-parser \
           node-async node-websocket | grep -E '^(node-|libjs-)' | sort -u)
  (cd "$tmp2" && apt-get download -qq $pkgs 2>/dev/null)
  rm -rf "$dest" && mkdir -p "$dest"
  for deb in "$tmp2"/*.deb; do dpkg-deb -x "$deb" "$dest"; done
  rm -rf "$tmp2"
  touch "$dest/.streamfx-installed"
  did=1
}
cp "$here/package.json" "$here/package-lock.json" "$sws/"
if [ "${STREAMFX_SFU_NODE:-npm}" = debian ]; then
  debian_node_modules
elif [ ! -f "$sws/node_modules/.streamfx-installed" ] || ! cmp -s "$here/package-lock.json" "$sws/node_modules/.streamfx-installed"; then
  if (cd "$sws" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error); then
    cp "$here/package-lock.json" "$sws/node_modules/.streamfx-installed"
  else
    echo "npm could not install simple-whip-server's modules (registry unreachable?): using Debian's node-* packages"
    rm -rf "$sws/node_modules"
    debian_node_modules
  fi
  did=1
fi
# 4. the loopback shim for Janus (see noloopback.c)
if [ ! -f "$home/noloopback.so" ] || [ "$here/noloopback.c" -nt "$home/noloopback.so" ]; then
  cc -shared -fPIC -O2 -o "$home/noloopback.so" "$here/noloopback.c" -ldl
  did=1
fi
if [ -n "$did" ]; then echo "SFU ready: janus $(janus --version 2>/dev/null | sed -n 's/Janus version: [0-9]* (\(.*\))/\1/p'), simple-whip-server in $sws"; fi
