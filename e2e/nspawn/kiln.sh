# Asking the kiln service in the container how it is: systemctl's
# properties, kilnctl, the journal, systemd-analyze. Sourced by
# e2e/nspawn.sh.

prop() { in_container systemctl show -p "$1" --value kiln; }

# wait_state STATE: poll until kiln's ActiveState is STATE (10 s at most).
# systemctl reload returns before READY=1 in systemd 252.
wait_state() {
	for _ in $(seq 1 100); do
		[ "$(prop ActiveState)" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# daemon_version: the version the running kilnd reports.
daemon_version() {
	in_container kilnctl status -json 2>/dev/null | sed -n 's/.*"version":"\([^"]*\)".*/\1/p'
}

# wait_jobs_succeeded ID...: poll until every job has succeeded (60 s).
wait_jobs_succeeded() {
	local id out
	for id in "$@"; do
		out=$(in_container kilnctl job -json "$id" 2>&1 || true)
		for _ in $(seq 1 600); do
			[[ "$out" == *'"state":"succeeded"'* || "$out" == *'"state":"dead"'* ]] && break
			sleep 0.1
			out=$(in_container kilnctl job -json "$id" 2>&1 || true)
		done
		[[ "$out" == *'"state":"succeeded"'* ]] || return 1
	done
}

# wait_file PATH [SECONDS]: poll until PATH exists in the container (60 s
# unless SECONDS says).
wait_file() {
	for _ in $(seq 1 $((${2:-60} * 10))); do
		in_container test -e "$1" && return 0
		sleep 0.1
	done
	return 1
}

# cursor: the journal's position now; journal_since CURSOR ARGS... reads
# kiln's entries after it (a --since in seconds could catch earlier lines).
cursor() { in_container journalctl -n 1 --show-cursor --no-pager -o cat | sed -n 's/^-- cursor: //p'; }
journal_since() {
	local c=$1
	shift
	# journald takes in what a unit's processes write on its own time:
	# --sync returns once what it has received is in the journal.
	in_container journalctl --sync >/dev/null 2>&1 || true
	in_container journalctl -u kiln --after-cursor="$c" --no-pager -o cat "$@"
}

help_on_stdout() {
	local out
	out=$(in_container kilnctl --help 2>/dev/null) && [ -n "$out" ]
}

man_shows() { # man_shows SECTION PAGE
	in_container man "$1" "$2" 2>/dev/null | grep -q "$2"
}

# exposure: the overall exposure score systemd-analyze gives kiln.service.
exposure() {
	in_container systemd-analyze security kiln.service 2>/dev/null |
		sed -n 's/.*Overall exposure level for kiln.service: \([0-9.]*\).*/\1/p'
}
