#!/usr/bin/env bash
# System packages the test suite starts for real: PostgreSQL 15, Chromium, the compose v1 client.
# Installs only what is missing; needs root (or sudo).
set -euo pipefail
missing=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q -o APT::Update::Error-Mode=any
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
