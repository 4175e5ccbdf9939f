#!/usr/bin/env bash
# bench-queue: kiln's local backend against RabbitMQ (quorum queue,
# publisher confirms, manual acks) and goqite (SQLite, synchronous=FULL), in
# one run on this machine. Extra arguments go to the Go program
# (e.g. -jobs 200000). Needs rabbitmq-server installed (make bench-queue
# installs it).
#
# -hosts 1,2,4 measures each kiln-rabbitmq system with 1, 2 and then 4
# kilnd processes sharing one private broker (own state directory, socket
# and config each; same broker, prefix and queue): jobs are submitted
# through host 1 and run wherever the broker delivers them. The table
# splits CPU per 1,000 jobs into the broker's beam.smp, the kilnds summed
# and each host, beside the raw RabbitMQ peers (measured once: they have
# no hosts). -runs 3 repeats every measurement and prints medians, e.g.
#   bench/queue.sh -systems kiln-rabbitmq-stream,kiln-rabbitmq-amqp,rabbitmq-pipelined -hosts 1,2,4 -runs 3
# -light-hosts makes every host but the first keep no job records
# (broker.keep_records = false): the hosts added only to run jobs.
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
