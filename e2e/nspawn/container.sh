# Booting the suite's root under real systemd with systemd-nspawn, running
# commands in it, and shutting it down. Sourced by e2e/nspawn.sh, which sets
# root (the cached root), work (this run's scratch directory) and apt_cache
# (the suite's apt lists and downloaded packages, kept between runs).

nspawn_pid=""
leader=""

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
# systemd's. The apt lists and archives are bound from the suite's cache so
# that a run downloads only what changed since the last one; everything
# else a boot writes goes to the overlay and is gone at its end.
boot() {
	local machine="kiln-e2e-$$-$1" state=""
	mkdir -p "$apt_cache/lists" "$apt_cache/archives"
	log "booting $machine"
	SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 unshare -m --propagation private sh -c \
		'mkdir -p /run/systemd && mount -n -t tmpfs -o mode=0755 tmpfs /run/systemd && exec systemd-nspawn "$@"' sh \
		-D "$root" -b --register=no --keep-unit --machine="$machine" --console=read-only \
		--volatile=overlay --bind-ro="$work/pkg:/root/pkg" --bind-ro="$work/srv:/srv/e2e" \
		--bind="$apt_cache/lists:/var/lib/apt/lists" --bind="$apt_cache/archives:/var/cache/apt/archives" \
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
		return 1
	fi
	# Until systemd has its bus socket up, systemctl cannot even ask.
	for _ in $(seq 1 300); do
		state=$(in_container systemctl is-system-running --wait 2>/dev/null || true)
		case "$state" in running | degraded) break ;; esac
		sleep 0.1
	done
	log "systemd is $state (leader pid $leader): $(in_container systemctl --version | head -1), $(in_container rpm --version)"
}

# apt_update: fresh package lists from the suite's archive (the container
# shares the host's network), so that apt-get resolves the package's
# Depends: against what the archive has today.
apt_update() {
	if in_container apt-get update -q >"$work/apt-update.log" 2>&1; then
		pass "apt-get update from $(mirror) ($suite)"
	else
		cat "$work/apt-update.log"
		fail "apt-get update from $(mirror) ($suite)"
		exit 1
	fi
}
