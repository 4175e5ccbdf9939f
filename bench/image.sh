#!/usr/bin/env bash
# bench-image: kiln's standard image job against the libvips CLI,
# ImageMagick, pure Go and the floor, in one run. Needs libvips-tools and
# imagemagick (make bench-image installs them) and bin/kilnd (make build).
set -euo pipefail
cd "$(dirname "$0")"
exec go run ./image "$@"
