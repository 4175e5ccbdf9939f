#!/usr/bin/env bash
# bench-image: kiln's image jobs on real photographs against the floor,
# per-output decoding and the libvips CLI, in one run. Needs libvips-tools
# and plasma-workspace-wallpapers (make bench-image installs them) and
# bin/kilnd (make build). The contenders that run libvips in process are
# a program of their own (image/contender), built here, so that the
# program that weighs every system never maps libvips.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/bench-image-contender" ./image/contender
go run ./image -contender "$tmp/bench-image-contender" "$@"
