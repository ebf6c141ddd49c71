#!/usr/bin/env bash
# System packages the project needs beyond PyPI: exiftool (geotagging, and the independent reader in
# the tests) and Chromium (the browser end-to-end test). Installs only what is missing.
set -euo pipefail
need=()
command -v exiftool >/dev/null 2>&1 || need+=(libimage-exiftool-perl)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
  echo "missing system packages: ${need[*]} (install them with apt-get as root)" >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
