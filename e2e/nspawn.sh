#!/usr/bin/env bash
# End-to-end test of the .deb under real systemd: a Debian 12 root booted with
# systemd-nspawn, the package installed with apt-get, and the service driven
# with systemctl, kilnctl and journalctl, as an operator would.
#
# usage: e2e/nspawn.sh dist/kiln_<version>-1_<arch>.deb
# Needs root, debootstrap and systemd-container. The bootstrapped root is
# cached in e2e/.cache/; each run boots it with --volatile=overlay, so runs
# never see each other's changes.
set -euo pipefail

deb=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
cache="$here/.cache"
root="$cache/bookworm"
machine="kiln-e2e-$$"
work=$(mktemp -d /tmp/kiln-e2e.XXXXXX)
nspawn_pid=""
leader=""
failures=0
passes=0

log() { printf 'e2e: %s\n' "$*"; }
pass() { passes=$((passes + 1)); printf 'e2e: PASS %s\n' "$*"; }
fail() { failures=$((failures + 1)); printf 'e2e: FAIL %s\n' "$*"; }

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

# 1. A Debian 12 root with systemd, rsyslog and the package's dependency.
if [ ! -f "$root/.kiln-e2e-ready" ]; then
	log "bootstrapping Debian 12 into $root (once; cached)"
	rm -rf "$root"
	mkdir -p "$cache"
	debootstrap --variant=minbase \
		--include=systemd,systemd-sysv,dbus,rsyslog,procps,libvips42 \
		bookworm "$root" "$(mirror)" >"$cache/debootstrap.log" 2>&1 || {
		tail -20 "$cache/debootstrap.log"
		exit 1
	}
	touch "$root/.kiln-e2e-ready"
fi

# 2. Something to feed it, readable by the kiln user.
mkdir -p "$work/srv"
vips gaussnoise "$work/srv/pic.jpg" 2400 1600 >/dev/null
chmod 755 "$work/srv"
chmod 644 "$work/srv/pic.jpg"

cleanup() {
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
	rm -rf "$work"
}
trap cleanup EXIT

in_container() {
	nsenter -t "$leader" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}

# 3. Boot it under real systemd. /run/systemd gets a private tmpfs so that
# nspawn does not mistake this host's state for systemd's.
log "booting $machine"
SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 unshare -m --propagation private sh -c \
	'mkdir -p /run/systemd && mount -n -t tmpfs -o mode=0755 tmpfs /run/systemd && exec systemd-nspawn "$@"' sh \
	-D "$root" -b --register=no --keep-unit --machine="$machine" --console=read-only \
	--volatile=overlay --bind-ro="$deb:/root/kiln.deb" --bind-ro="$work/srv:/srv/e2e" \
	>"$work/console.log" 2>&1 &
nspawn_pid=$!

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
for _ in $(seq 1 100); do
	leader=$(find_leader || true)
	[ -n "$leader" ] && break
	kill -0 "$nspawn_pid" 2>/dev/null || break
	sleep 0.1
done
if [ -z "$leader" ]; then
	cat "$work/console.log"
	echo "e2e: container did not start" >&2
	exit 1
fi
# Until systemd has its bus socket up, systemctl cannot even ask.
state=""
for _ in $(seq 1 300); do
	state=$(in_container systemctl is-system-running --wait 2>/dev/null || true)
	case "$state" in running | degraded) break ;; esac
	sleep 0.1
done
log "systemd is $state (leader pid $leader)"

# 4. Install the package with apt-get, as an operator would.
if in_container apt-get install -y -q /root/kiln.deb >"$work/apt.log" 2>&1; then
	pass "apt-get install ./kiln.deb"
else
	cat "$work/apt.log"
	fail "apt-get install ./kiln.deb"
	exit 1
fi
if in_container getent passwd kiln >/dev/null; then pass "kiln user created"; else fail "kiln user created"; fi

# 5. systemctl start returns only after READY=1: active at once, and the
# status line is there.
in_container systemctl stop kiln
if in_container systemctl start kiln && [ "$(in_container systemctl is-active kiln)" = active ]; then
	pass "systemctl start kiln -> active"
else
	in_container journalctl -u kiln --no-pager | tail -20
	fail "systemctl start kiln -> active"
fi
status_text=$(in_container systemctl show -p StatusText --value kiln)
if [[ "$status_text" == *running*queued*dead* ]]; then pass "STATUS= line: $status_text"; else fail "STATUS= line: '$status_text'"; fi
mainpid=$(in_container systemctl show -p MainPID --value kiln)

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

wait_active() {
	local s
	for _ in $(seq 1 100); do
		s=$(in_container systemctl show -p ActiveState --value kiln)
		[ "$s" = active ] && return 0
		sleep 0.1
	done
	return 1
}

# 8. Reload with a valid config: a new pipeline takes effect, same process.
in_container sh -c 'cat >>/etc/kiln/kiln.toml <<EOT

[pipelines.thumbs]
queue = "images"
output_dir = "/var/lib/kiln/out/thumbs"
[[pipelines.thumbs.variants]]
name = "t100"
width = 100
format = "png"
EOT'
in_container systemctl reload kiln
if wait_active && [ "$(in_container systemctl show -p MainPID --value kiln)" = "$mainpid" ]; then
	pass "reload (valid): still active, same PID"
else
	fail "reload (valid)"
fi
out=$(in_container kilnctl submit -pipeline thumbs -wait -json /srv/e2e/pic.jpg || true)
if [[ "$out" == *'"state":"succeeded"'* ]]; then pass "new pipeline works after reload"; else fail "new pipeline after reload: $out"; fi

# 9. Reload with a broken config: refused, logged, old config keeps running.
in_container sh -c 'echo "bogus_key = 1" >>/etc/kiln/kiln.toml'
in_container systemctl reload kiln
wait_active || true
if [ "$(in_container systemctl is-active kiln)" = active ] && [ "$(in_container systemctl show -p MainPID --value kiln)" = "$mainpid" ]; then
	pass "reload (broken): still active, same PID"
else
	fail "reload (broken): service not active"
fi
refused=""
for _ in $(seq 1 50); do
	if in_container journalctl -u kiln --no-pager | grep -q "reload refused.*bogus_key"; then refused=1; break; fi
	sleep 0.1
done
if [ -n "$refused" ]; then pass "broken reload logged with the bad key"; else fail "broken reload not logged"; fi
out=$(in_container kilnctl submit -pipeline thumbs -wait -json /srv/e2e/pic.jpg || true)
if [[ "$out" == *'"state":"succeeded"'* ]]; then pass "old config still serves"; else fail "after broken reload: $out"; fi

# 10. Stop: inactive, clean exit.
in_container systemctl stop kiln
result=$(in_container systemctl show -p Result --value kiln)
active=$(in_container systemctl is-active kiln || true)
if [ "$active" = inactive ] && [ "$result" = success ]; then pass "systemctl stop -> inactive, result=success"; else fail "stop: $active result=$result"; fi
if in_container journalctl -u kiln --no-pager | grep -q "msg=stopped\|stopped$"; then pass "clean stop logged"; else fail "no 'stopped' line"; fi

echo "e2e: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
