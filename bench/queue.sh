#!/usr/bin/env bash
# bench-queue: kiln's local backend against RabbitMQ (quorum queue,
# publisher confirms, manual acks) and goqite (SQLite, synchronous=FULL), in
# one run on this machine. Extra arguments go to the Go program
# (e.g. -jobs 200000). Needs rabbitmq-server installed (make bench-queue
# installs it).
set -euo pipefail
cd "$(dirname "$0")"
schema="$(go list -m -f '{{.Dir}}' maragu.dev/goqite)/schema_sqlite.sql"
exec go run ./queue -goqite-schema "$schema" "$@"
