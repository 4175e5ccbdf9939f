#!/usr/bin/env bash
# bench-queue: kiln's local backend against RabbitMQ (quorum queue,
# publisher confirms, manual acks) and goqite (SQLite, synchronous=FULL), in
# one run on this machine. Extra arguments go to the Go program
# (e.g. -jobs 200000). Needs rabbitmq-server installed (make bench-queue
# installs it).
set -euo pipefail
cd "$(dirname "$0")"
# `go mod download` fetches goqite first on a fresh machine, where `go list
# -m` would name no directory yet, and prints where the module is.
dir=$(go mod download -json maragu.dev/goqite | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ -z "$dir" ]; then
	echo "bench-queue: cannot find the goqite module's directory" >&2
	exit 1
fi
schema="$dir/schema_sqlite.sql"
exec go run ./queue -goqite-schema "$schema" "$@"
