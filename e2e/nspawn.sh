#!/usr/bin/env bash
# End-to-end test of the packages under real systemd: a Debian 12 root
# booted with systemd-nspawn, the packages installed with apt-get and rpm,
# and the service driven with systemctl, kilnctl and journalctl, as an
# operator would.
#
# usage: e2e/nspawn.sh OLD.deb NEW.deb OLD.rpm NEW.rpm
# OLD and NEW are two versions built from this tree (make e2e builds them):
# the .deb part installs OLD, upgrades to NEW, runs every service check on
# NEW, then removes and purges; the .rpm part boots a fresh root, installs
# OLD.rpm with rpm, upgrades to NEW.rpm and erases it.
# Needs root, debootstrap and systemd-container. The bootstrapped root is
# cached in e2e/.cache/; each boot uses --volatile=overlay, so boots never
# see each other's changes.
set -euo pipefail

old_deb=$(realpath "$1")
new_deb=$(realpath "$2")
old_rpm=$(realpath "$3")
new_rpm=$(realpath "$4")
here=$(cd "$(dirname "$0")" && pwd)
cache="$here/.cache"
root="$cache/bookworm"
# rpm is there to install the .rpm; man-db to read the man pages.
include=systemd,systemd-sysv,dbus,rsyslog,procps,adduser,libvips42,rpm,man-db
work=$(mktemp -d /tmp/kiln-e2e.XXXXXX)
nspawn_pid=""
leader=""
failures=0
passes=0
# The sandbox's exposure score must not be above this (network allowed).
max_exposure=1.5

log() { printf 'e2e: %s\n' "$*"; }
pass() { passes=$((passes + 1)); printf 'e2e: PASS %s\n' "$*"; }
fail() { failures=$((failures + 1)); printf 'e2e: FAIL %s\n' "$*"; }
check() { # check NAME COMMAND...: PASS when the command succeeds
	local name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name"; fi
}

if [ "$(id -u)" -ne 0 ]; then
	echo "e2e: needs root (debootstrap and systemd-nspawn)" >&2
	exit 1
fi

mirror() {
	local uri
	uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
	[ -n "$uri" ] || uri=$(awk '/^deb / && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
	echo "${uri:-http://deb.debian.org/debian}"
}

# 1. A Debian 12 root with systemd, rsyslog, rpm and the packages' libraries.
ready="$root/.kiln-e2e-ready-$(echo "$include" | md5sum | cut -c1-8)"
if [ ! -f "$ready" ]; then
	log "bootstrapping Debian 12 into $root (once; cached)"
	rm -rf "$root"
	mkdir -p "$cache"
	debootstrap --variant=minbase --include="$include" \
		bookworm "$root" "$(mirror)" >"$cache/debootstrap.log" 2>&1 || {
		tail -20 "$cache/debootstrap.log"
		exit 1
	}
	touch "$ready"
fi

# 2. Something to feed it, readable by the kiln user.
mkdir -p "$work/srv" "$work/pkg"
vips gaussnoise "$work/srv/pic.jpg" 2400 1600 >/dev/null
chmod 755 "$work/srv"
chmod 644 "$work/srv/pic.jpg"
cp "$old_deb" "$work/pkg/old.deb"
cp "$new_deb" "$work/pkg/new.deb"
cp "$old_rpm" "$work/pkg/old.rpm"
cp "$new_rpm" "$work/pkg/new.rpm"
old_version=$(dpkg-deb -f "$old_deb" Version)
old_version=${old_version%-1}
new_version=$(dpkg-deb -f "$new_deb" Version)
new_version=${new_version%-1}

in_container() {
	nsenter -t "$leader" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}

shutdown_container() {
	if [ -n "$leader" ] && kill -0 "$leader" 2>/dev/null; then
		in_container systemctl poweroff >/dev/null 2>&1 || true
		for _ in $(seq 1 100); do
			kill -0 "$nspawn_pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
		[ -n "$leader" ] && kill -KILL "$leader" 2>/dev/null || true
		kill -KILL "$nspawn_pid" 2>/dev/null || true
	fi
	[ -n "$nspawn_pid" ] && wait "$nspawn_pid" 2>/dev/null || true
	nspawn_pid=""
	leader=""
}

cleanup() {
	shutdown_container
	rm -rf "$work"
}
trap cleanup EXIT

# The container's PID 1 is the descendant of nspawn whose innermost PID is 1.
find_leader() {
	local p
	for p in $(pgrep -P "$nspawn_pid" 2>/dev/null) $(for c in $(pgrep -P "$nspawn_pid" 2>/dev/null); do pgrep -P "$c"; done); do
		if awk '/^NSpid:/ { exit !($NF == 1 && NF == 3) }' "/proc/$p/status" 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# boot NAME: boot a fresh overlay of the root under real systemd. /run/systemd
# gets a private tmpfs so that nspawn does not mistake this host's state for
# systemd's.
boot() {
	local machine="kiln-e2e-$$-$1" state=""
	log "booting $machine"
	SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 unshare -m --propagation private sh -c \
		'mkdir -p /run/systemd && mount -n -t tmpfs -o mode=0755 tmpfs /run/systemd && exec systemd-nspawn "$@"' sh \
		-D "$root" -b --register=no --keep-unit --machine="$machine" --console=read-only \
		--volatile=overlay --bind-ro="$work/pkg:/root/pkg" --bind-ro="$work/srv:/srv/e2e" \
		>"$work/console-$1.log" 2>&1 &
	nspawn_pid=$!
	for _ in $(seq 1 100); do
		leader=$(find_leader || true)
		[ -n "$leader" ] && break
		kill -0 "$nspawn_pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$leader" ]; then
		cat "$work/console-$1.log"
		echo "e2e: container did not start" >&2
		exit 1
	fi
	# Until systemd has its bus socket up, systemctl cannot even ask.
	for _ in $(seq 1 300); do
		state=$(in_container systemctl is-system-running --wait 2>/dev/null || true)
		case "$state" in running | degraded) break ;; esac
		sleep 0.1
	done
	log "systemd is $state (leader pid $leader)"
}

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

thumbs_pipeline='
[pipelines.thumbs]
queue = "images"
output_dir = "/var/lib/kiln/out/thumbs"
[[pipelines.thumbs.variants]]
name = "t100"
width = 100
format = "png"'

###########################################################################
# Part 1: the .deb with apt-get.
boot deb

# 3. Install the older version, as an operator would.
if in_container apt-get install -y -q /root/pkg/old.deb >"$work/apt.log" 2>&1; then
	pass "apt-get install ./kiln.deb ($old_version)"
else
	cat "$work/apt.log"
	fail "apt-get install ./kiln.deb"
	exit 1
fi
check "kiln user created" in_container getent passwd kiln
check "the upload directory /var/lib/kiln/uploads: kiln:kiln, mode 2770" \
	test "$(in_container stat -c '%U:%G %a' /var/lib/kiln/uploads)" = "kiln:kiln 2770"
check "service enabled and active after install" test "$(in_container systemctl is-enabled kiln)-$(prop ActiveState)" = enabled-active
check "kilnd runs $old_version" test "$(daemon_version)" = "$old_version"

# 4. Upgrade: edit the config (a pipeline; the test's pictures, in
# /srv/e2e, among the input roots), queue jobs that cannot run before the
# stop (their queue is paused), stop, upgrade with apt-get and no terminal.
in_container sh -c "cat >>/etc/kiln/kiln.toml <<'EOT'
$thumbs_pipeline
EOT"
in_container sed -i 's|^allowed_input_roots = .*|allowed_input_roots = ["/var/lib/kiln/uploads", "/srv/e2e"]|' /etc/kiln/kiln.toml
in_container systemctl restart kiln
in_container kilnctl pause images >/dev/null
queued=()
for _ in 1 2 3; do
	queued+=("$(in_container kilnctl submit -pipeline thumbs /srv/e2e/pic.jpg)")
done
old_pid=$(prop MainPID)
in_container systemctl stop kiln
if in_container env DEBIAN_FRONTEND=noninteractive apt-get install -y -q /root/pkg/new.deb </dev/null >"$work/apt-upgrade.log" 2>&1; then
	pass "apt-get install of $new_version over $old_version, no prompt"
else
	cat "$work/apt-upgrade.log"
	fail "upgrade to $new_version"
fi
if in_container grep -q '^\[pipelines.thumbs\]' /etc/kiln/kiln.toml && ! in_container sh -c 'ls /etc/kiln/kiln.toml.dpkg-* 2>/dev/null | grep -q .'; then
	pass "upgrade keeps the edited /etc/kiln/kiln.toml"
else
	fail "upgrade did not keep the edited config"
fi
wait_state active || true
if [ "$(prop ActiveState)" = active ] && [ "$(daemon_version)" = "$new_version" ] && [ "$(prop MainPID)" != "$old_pid" ]; then
	pass "service restarted on $new_version by the upgrade"
else
	fail "after upgrade: $(prop ActiveState), version '$(daemon_version)'"
fi
in_container kilnctl resume images >/dev/null
check "jobs queued before the stop complete after the upgrade (${#queued[@]})" wait_jobs_succeeded "${queued[@]}"

# 5. systemctl start returns only after READY=1: active at once, and the
# status line is there.
in_container systemctl stop kiln
if in_container systemctl start kiln && [ "$(in_container systemctl is-active kiln)" = active ]; then
	pass "systemctl start kiln -> active"
else
	in_container journalctl -u kiln --no-pager | tail -20
	fail "systemctl start kiln -> active"
fi
status_text=$(prop StatusText)
if [[ "$status_text" == *running*queued*dead* ]]; then pass "STATUS= line: $status_text"; else fail "STATUS= line: '$status_text'"; fi
mainpid=$(prop MainPID)

# 6. A picture in, every variant out.
out=$(in_container kilnctl submit -pipeline web -wait -json /srv/e2e/pic.jpg || true)
job=$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' <<<"$out")
if [[ "$out" == *'"state":"succeeded"'* ]]; then pass "kilnctl submit -wait -> succeeded ($job)"; else fail "kilnctl submit -wait: $out"; fi
for v in large.jpg w800.jpg w800-webp.webp thumb.webp w800-gray.jpg w800-sepia.jpg; do
	if in_container test -s "/var/lib/kiln/out/web/$job/$v"; then pass "output $v"; else fail "output $v missing"; fi
done

# 7. The job is in the journal and in syslog.
if in_container journalctl -u kiln --no-pager | grep -q "job succeeded.*job=$job"; then pass "journalctl -u kiln shows the job"; else fail "journalctl -u kiln does not show job $job"; fi
found=""
for _ in $(seq 1 50); do
	if in_container grep -q "kilnd.*job=$job" /var/log/syslog 2>/dev/null; then found=1; break; fi
	sleep 0.1
done
if [ -n "$found" ]; then pass "/var/log/syslog shows the job"; else fail "/var/log/syslog does not show job $job"; fi

# 8. Reload with a valid config: a new pipeline takes effect, same process,
# and systemctl reload says so with its exit status.
in_container cp /etc/kiln/kiln.toml /root/kiln.toml.good
in_container sh -c "sed -i 's/^name = \"t100\"/name = \"t120\"/; s/^width = 100\$/width = 120/' /etc/kiln/kiln.toml"
if in_container systemctl reload kiln 2>"$work/reload.err" && wait_state active && [ "$(prop MainPID)" = "$mainpid" ]; then
	pass "systemctl reload (valid config) exits 0, same PID"
else
	fail "systemctl reload (valid config): $(cat "$work/reload.err")"
fi
out=$(in_container kilnctl submit -pipeline thumbs -wait -json /srv/e2e/pic.jpg || true)
if [[ "$out" == *'"variant":"t120"'* ]]; then pass "reloaded pipeline in effect"; else fail "reloaded pipeline not in effect: $out"; fi

# 9. Reload with a broken config: systemctl reload fails, the error with
# file:line: key reaches the operator, the old config keeps running.
in_container sh -c 'echo "bogus_key = 1" >>/etc/kiln/kiln.toml'
since=$(cursor)
if in_container systemctl reload kiln 2>"$work/reload.err"; then
	fail "systemctl reload (broken config) exited 0"
else
	pass "systemctl reload (broken config) exits non-zero"
fi
wait_state active || true
if [ "$(prop ActiveState)" = active ] && [ "$(prop MainPID)" = "$mainpid" ]; then
	pass "reload (broken): still active, same PID"
else
	fail "reload (broken): service $(prop ActiveState)"
fi
if journal_since "$since" _COMM=kilnctl | grep -q 'kiln.toml:[0-9]*: .*bogus_key'; then
	pass "refused reload: kilnctl names file:line: key in the journal (systemctl status shows it)"
else
	fail "refused reload: no file:line: key error from kilnctl reload"
fi
out=$(in_container kilnctl submit -pipeline thumbs -wait -json /srv/e2e/pic.jpg || true)
if [[ "$out" == *'"state":"succeeded"'* ]]; then pass "old config still serves"; else fail "after broken reload: $out"; fi

# 10. A broken config at start: the unit fails once, with exit status 78,
# and is not restarted; 30 s of watching show no restart.
in_container systemctl stop kiln
since=$(cursor)
if in_container systemctl start kiln 2>/dev/null; then
	fail "systemctl start with a broken config exited 0"
else
	pass "systemctl start with a broken config exits non-zero"
fi
wait_state failed || true
result=$(prop Result)
status=$(prop ExecMainStatus)
if [ "$(prop ActiveState)" = failed ] && [ "$result" = exit-code ] && [ "$status" = 78 ]; then
	pass "broken config at start: failed, Result=exit-code, status 78"
else
	fail "broken config at start: $(prop ActiveState) Result=$result status=$status"
fi
restarts=0
for _ in $(seq 1 30); do
	restarts=$(prop NRestarts)
	[ "$restarts" = 0 ] && [ "$(prop ActiveState)" = failed ] || break
	sleep 1 # watching for a restart that must not come: RestartSec=2s
done
if [ "$restarts" = 0 ] && [ "$(prop ActiveState)" = failed ]; then
	pass "broken config at start: NRestarts=0 after 30 s"
else
	fail "broken config at start: NRestarts=$restarts, $(prop ActiveState)"
fi
lines=$(journal_since "$since" | grep -c 'kiln.toml:[0-9]*: .*bogus_key' || true)
if [ "$lines" = 1 ]; then
	pass "broken config at start: one journal line names file:line: key"
else
	fail "broken config at start: $lines journal lines name the key"
fi
in_container cp /root/kiln.toml.good /etc/kiln/kiln.toml
in_container systemctl reset-failed kiln
check "starts again once the config is fixed" in_container systemctl start kiln
mainpid=$(prop MainPID)

# 11. The sandbox: systemd's exposure score, and the drop-in that closes
# the network for the local backend.
score=$(exposure)
if [ -n "$score" ] && awk -v s="$score" -v m="$max_exposure" 'BEGIN { exit !(s <= m) }'; then
	pass "systemd-analyze security kiln.service: $score (<= $max_exposure, network allowed)"
else
	fail "systemd-analyze security kiln.service: '$score' (> $max_exposure)"
fi
in_container mkdir -p /etc/systemd/system/kiln.service.d
in_container cp /usr/share/doc/kiln/examples/no-network.conf /etc/systemd/system/kiln.service.d/
in_container systemctl daemon-reload
in_container systemctl restart kiln
out=$(in_container kilnctl submit -pipeline web -wait -json /srv/e2e/pic.jpg || true)
closed=$(exposure)
if [[ "$out" == *'"state":"succeeded"'* ]] && [ "$(prop PrivateNetwork)" = yes ]; then
	pass "no-network drop-in: jobs still run (exposure $closed)"
else
	fail "no-network drop-in: $out"
fi
in_container rm /etc/systemd/system/kiln.service.d/no-network.conf
in_container systemctl daemon-reload
in_container systemctl restart kiln

# 12. What an admin reads: Documentation=, man pages, kilnctl's help.
doc=$(prop Documentation)
if [[ "$doc" == *"man:kilnd(8)"* && "$doc" == *"man:kilnctl(1)"* && "$doc" == *"man:kiln.toml(5)"* ]]; then
	pass "Documentation= names kilnd(8), kilnctl(1), kiln.toml(5)"
else
	fail "Documentation=$doc"
fi
for page in 8:kilnd 1:kilnctl 5:kiln.toml; do
	if man_shows "${page%%:*}" "${page#*:}"; then
		pass "man ${page%%:*} ${page#*:}"
	else
		fail "man ${page%%:*} ${page#*:}"
	fi
done
if in_container man 5 kiln.toml | grep -q ReadWritePaths; then pass "kiln.toml(5) shows the ReadWritePaths= drop-in"; else fail "kiln.toml(5) lacks ReadWritePaths="; fi
check "kilnctl --help on stdout, exit 0" help_on_stdout
check "kilnctl -version names $new_version" test "$(in_container kilnctl -version)" = "kilnctl $new_version"
out=$(in_container runuser -u nobody -- kilnctl status 2>&1 >/dev/null) && code=0 || code=$?
if [ "$code" = 3 ] && [[ "$out" == *"usermod -aG kiln"* ]]; then
	pass "permission denied: exit 3 and the kiln group hint"
else
	fail "permission denied: exit $code, '$out'"
fi
out=$(in_container kilnctl pause -json images) && in_container kilnctl resume images >/dev/null
if [ "$out" = '{"queue":"images","paused":true}' ]; then pass "kilnctl pause -json"; else fail "kilnctl pause -json: $out"; fi

# 13. Completion, with names from the running daemon.
complete_bash() { # complete_bash WORD...: what bash offers for the last word
	in_container bash -c 'source /usr/share/bash-completion/completions/kilnctl
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _kilnctl; echo "${COMPREPLY[*]}"' sh "$@"
}
check "bash completes commands" test "$(complete_bash kilnctl re)" = "retry resume reload"
check "bash completes flags" test "$(complete_bash kilnctl purge -old)" = "-older-than"
check "bash completes queue names" test "$(complete_bash kilnctl pause '')" = "default images"
check "bash completes pipeline names" test "$(complete_bash kilnctl submit -pipeline '')" = "thumbs web"
if [[ " $(complete_bash kilnctl job '') " == *" $job "* ]]; then pass "bash completes job IDs"; else fail "bash does not complete job $job"; fi
check "zsh completion installed" in_container test -s /usr/share/zsh/vendor-completions/_kilnctl

# 14. The operator's own program as a job, a pipeline followed by it, and
# a hot folder, in the installed package under the unit's sandbox. The
# program keeps the JSON it reads under /var/lib/kiln (the one place the
# unit lets it write) and prints where.
cat >"$work/srv/kiln-e2e-publish" <<'EOT'
#!/bin/sh
set -eu
mkdir -p /var/lib/kiln/published
cat >"/var/lib/kiln/published/$KILN_JOB_ID.json"
printf '{"published": "/var/lib/kiln/published/%s.json", "queue": "%s"}\n' "$KILN_JOB_ID" "$KILN_QUEUE"
EOT
in_container install -m 0755 /srv/e2e/kiln-e2e-publish /usr/local/bin/kiln-e2e-publish
in_container sh -c "cat >>/etc/kiln/kiln.toml <<'EOT'

[commands.e2e-publish]
command = [\"/usr/local/bin/kiln-e2e-publish\"]
queue = \"images\"

[pipelines.chained]
queue = \"images\"
output_dir = \"/var/lib/kiln/out/chained\"
then = [\"e2e-publish\"]
[[pipelines.chained.variants]]
name = \"c100\"
width = 100
format = \"jpeg\"

[pipelines.hot]
queue = \"images\"
output_dir = \"/var/lib/kiln/out/hot\"
inbox = \"/var/lib/kiln/inbox/web\"
[[pipelines.hot.variants]]
name = \"h100\"
width = 100
format = \"webp\"
EOT"
out=$(in_container runuser -u kiln -- kilnd -check-config -config /etc/kiln/kiln.toml 2>&1) || true
if [ "$out" = "config OK" ]; then pass "kilnd -check-config as kiln: a command, a then and an inbox pass"; else fail "kilnd -check-config as kiln: $out"; fi
# A new [commands.NAME] and an inbox take a restart.
in_container systemctl restart kiln

# (a) A command job: the program runs in the sandbox, its stdout is the
# result kilnctl job shows, and it read the payload on stdin.
cmd_job=$(in_container kilnctl submit -type e2e-publish -payload '{"hello": "e2e"}' 2>&1 || true)
check "command job succeeds ($cmd_job)" wait_jobs_succeeded "$cmd_job"
out=$(in_container kilnctl job "$cmd_job" 2>&1 || true)
if [[ "$out" == *"result    {\"published\":\"/var/lib/kiln/published/$cmd_job.json\",\"queue\":\"images\"}"* ]]; then
	pass "kilnctl job shows the command's result"
else
	fail "kilnctl job of the command: $out"
fi
# kiln stores the payload as JSON without insignificant spaces.
stdin=$(in_container cat "/var/lib/kiln/published/$cmd_job.json" 2>&1 || true)
if [ "$(tr -d ' ' <<<"$stdin")" = '{"hello":"e2e"}' ]; then
	pass "the command read its payload on stdin"
else
	fail "the command read on stdin: '$stdin'"
fi

# (b) A chain: the pipeline's variants, then the command on the image
# job's result, each a job of its own linked to the other.
parent=$(in_container kilnctl submit -pipeline chained /srv/e2e/pic.jpg 2>&1 || true)
check "chain: the image job and its follow-up succeed ($parent, $parent-1)" wait_jobs_succeeded "$parent" "$parent-1"
check "chain: the image job's variant" in_container test -s "/var/lib/kiln/out/chained/$parent/c100.jpg"
if in_container grep -q "\"path\":\"/var/lib/kiln/out/chained/$parent/c100.jpg\"" "/var/lib/kiln/published/$parent-1.json" 2>/dev/null; then
	pass "chain: the follow-up read the image job's result on stdin"
else
	fail "chain: the follow-up's stdin: $(in_container cat "/var/lib/kiln/published/$parent-1.json" 2>&1)"
fi
out=$(in_container kilnctl job "$parent" 2>&1 || true)
out1=$(in_container kilnctl job "$parent-1" 2>&1 || true)
if [[ "$out" == *"children  $parent-1 (succeeded)"* && "$out1" == *"parent    $parent (succeeded)"* && "$out1" == *"queue     images (e2e-publish)"* ]]; then
	pass "chain: kilnctl job shows the parent's child and the child's parent"
else
	fail "chain: kilnctl job: $out / $out1"
fi

# (c) A hot folder: a picture copied into the inbox becomes a job of its
# pipeline, and once its variants are written the original is in done/.
# kilnd sets the inbox up once it runs, maybe after READY=1, failed/ the
# last of its directories. A picture copied in before the inbox is watched
# is taken by the scan kilnd makes once a minute: hence 90 s for done/.
wait_file /var/lib/kiln/inbox/web/failed || true
modes=$(in_container stat -c '%n %U:%G %a' /var/lib/kiln/inbox/web /var/lib/kiln/inbox/web/done /var/lib/kiln/inbox/web/failed 2>&1 || true)
if [ "$(awk '{print $2, $3}' <<<"$modes" | sort -u)" = "kiln:kiln 2770" ]; then
	pass "inbox: kilnd created /var/lib/kiln/inbox/web, done/ and failed/, kiln:kiln 2770"
else
	fail "inbox: the directories kilnd created: $(tr '\n' ',' <<<"$modes") journal: $(in_container journalctl -u kiln --no-pager -o cat | grep 'inbox: cannot' | tail -2 | tr '\n' ' ')"
fi
in_container cp /srv/e2e/pic.jpg /var/lib/kiln/inbox/web/e2e-hot.jpg
check "inbox: the picture lands in done/" wait_file /var/lib/kiln/inbox/web/done/e2e-hot.jpg 90
check "inbox: the picture left the inbox" in_container test ! -e /var/lib/kiln/inbox/web/e2e-hot.jpg
# The variants are written before the job succeeds and the picture moves.
hot_job=$(in_container ls /var/lib/kiln/out/hot 2>/dev/null | head -1)
if [ -n "$hot_job" ] && wait_jobs_succeeded "$hot_job" && in_container test -s "/var/lib/kiln/out/hot/$hot_job/h100.webp"; then
	pass "inbox: its job ($hot_job) succeeded and wrote the variant"
else
	fail "inbox: no succeeded job with a variant under /var/lib/kiln/out/hot ('$hot_job')"
fi

# 15. Remove keeps config and data; purge removes the config only.
in_container env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q kiln >/dev/null 2>&1
if [ "$(in_container systemctl is-active kiln || true)" != active ] && in_container test -f /etc/kiln/kiln.toml && in_container test -f /var/lib/kiln/queue.db; then
	pass "apt-get remove: stopped, config and /var/lib/kiln kept"
else
	fail "apt-get remove"
fi
in_container env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q kiln >/dev/null 2>&1
if ! in_container test -e /etc/kiln && ! in_container test -e /usr/share/doc/kiln && in_container test -f /var/lib/kiln/queue.db; then
	pass "apt-get purge: config removed, /var/lib/kiln kept"
else
	fail "apt-get purge"
fi
shutdown_container

###########################################################################
# Part 2: the .rpm with rpm, in a fresh boot of the same root. --nodeps
# because nothing in a Debian root provides what the .rpm requires; this
# shows the scriptlets under systemd, not dependency resolution.
boot rpm
rpm_() { in_container rpm --force-debian --dbpath /var/lib/rpm "$@"; }
if rpm_ -i --nodeps /root/pkg/old.rpm >"$work/rpm.log" 2>&1; then
	pass "rpm -i kiln.rpm ($old_version)"
else
	cat "$work/rpm.log"
	fail "rpm -i kiln.rpm"
fi
check "rpm %post created the kiln user" in_container getent passwd kiln
check "rpm %post applied the preset (enabled)" test "$(in_container systemctl is-enabled kiln)" = enabled
check "rpm: man kilnd" man_shows 8 kilnd
if in_container systemctl start kiln && [ "$(prop ActiveState)" = active ]; then
	pass "rpm: systemctl start kiln -> active"
else
	fail "rpm: systemctl start kiln"
fi
check "rpm: the upload directory /var/lib/kiln/uploads: kiln:kiln, mode 2770" \
	test "$(in_container stat -c '%U:%G %a' /var/lib/kiln/uploads)" = "kiln:kiln 2770"
out=$(in_container kilnctl submit -pipeline web /srv/e2e/pic.jpg 2>&1 || true)
if [[ "$out" == *"outside allowed_input_roots"* ]]; then pass "rpm: a picture outside the upload directory is refused"; else fail "rpm: submit from /srv/e2e: $out"; fi
in_container install -m 0644 /srv/e2e/pic.jpg /var/lib/kiln/uploads/pic.jpg
out=$(in_container kilnctl submit -pipeline web -wait -json /var/lib/kiln/uploads/pic.jpg || true)
if [[ "$out" == *'"state":"succeeded"'* ]]; then pass "rpm: a picture in the upload directory in, variants out"; else fail "rpm: submit: $out"; fi
old_pid=$(prop MainPID)
rpm_ -U --nodeps /root/pkg/new.rpm >"$work/rpm.log" 2>&1 || cat "$work/rpm.log"
wait_state active || true
if [ "$(daemon_version)" = "$new_version" ] && [ "$(prop MainPID)" != "$old_pid" ]; then
	pass "rpm -U restarts the service on $new_version"
else
	fail "rpm -U: version '$(daemon_version)', pid $(prop MainPID) (was $old_pid)"
fi
rpm_ -e kiln >"$work/rpm.log" 2>&1 || cat "$work/rpm.log"
if [ "$(in_container systemctl is-active kiln || true)" != active ] && ! in_container test -e /etc/systemd/system/multi-user.target.wants/kiln.service; then
	pass "rpm -e stops and disables the service"
else
	fail "rpm -e: $(in_container systemctl is-active kiln || true)"
fi
check "rpm -e keeps /var/lib/kiln" in_container test -f /var/lib/kiln/queue.db
check "rpm -e leaves no package file or directory behind" in_container sh -c \
	'! test -e /usr/bin/kilnd && ! test -e /usr/share/doc/kiln && ! test -e /usr/share/licenses/kiln && ! test -e /usr/lib/systemd/system/kiln.service'
shutdown_container

echo "e2e: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
