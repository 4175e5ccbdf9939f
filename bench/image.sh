#!/usr/bin/env bash
# bench-image: kiln's image jobs on real photographs against the floor,
# per-output decoding and the libvips CLI, in one run. Needs libvips-tools
# and plasma-workspace-wallpapers (make bench-image installs them) and
# bin/kilnd (make build).
set -euo pipefail
cd "$(dirname "$0")"
exec go run ./image "$@"
