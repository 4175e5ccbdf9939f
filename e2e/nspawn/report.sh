# PASS and FAIL lines, their counts, and the suite's closing line.
# Sourced by e2e/nspawn.sh.

passes=0
failures=0
started=$(date +%s)

log() { printf 'e2e: %s\n' "$*"; }
pass() { passes=$((passes + 1)); printf 'e2e: PASS %s\n' "$*"; }
fail() { failures=$((failures + 1)); printf 'e2e: FAIL %s\n' "$*"; }
check() { # check NAME COMMAND...: PASS when the command succeeds
	local name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name"; fi
}

# elapsed: the time since the suite started, as 3m05s.
elapsed() {
	local s=$(($(date +%s) - started))
	printf '%dm%02ds' $((s / 60)) $((s % 60))
}

# summary_line: what the suite ran on, its counts and its time. A suite
# that stopped before its last check (a package that would not install, a
# root that would not boot) says so, so that its counts are not taken for
# a whole run.
summary_line() {
	local what=$1 stopped=$2
	printf 'e2e %s: %d PASS, %d FAIL%s in %s\n' "$what" "$passes" "$failures" \
		"${stopped:+, stopped early}" "$(elapsed)"
}
