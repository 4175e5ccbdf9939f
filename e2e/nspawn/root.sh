# The Debian root a suite boots: bootstrapped once with debootstrap and
# cached in e2e/.cache/SUITE, next to a stamp naming what it was made with.
# Sourced by e2e/nspawn.sh.
#
# The roots hold no libvips: the .deb is installed with apt-get from the
# suite's archive, so its Depends: alone must bring every library kilnd
# needs (Debian 13 renamed libvips42 to libvips42t64, and its AVIF encoder
# is a plug-in of its own; a root with them preinstalled would hide a
# package that forgot them). rpm is there to install the .rpm, man-db to
# read the man pages, rsyslog for /var/log/syslog.

# suite_include SUITE: what debootstrap adds to the minimal base.
suite_include() {
	case "$1" in
	bookworm | trixie) echo systemd,systemd-sysv,dbus,rsyslog,procps,adduser,rpm,man-db ;;
	*) return 1 ;;
	esac
}

# suite_name SUITE: the Debian release it is, for the report.
suite_name() {
	case "$1" in
	bookworm) echo "Debian 12" ;;
	trixie) echo "Debian 13" ;;
	*) return 1 ;;
	esac
}

# mirror: the archive the host's apt uses.
mirror() {
	local uri
	uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
	[ -n "$uri" ] || uri=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
	echo "${uri:-http://deb.debian.org/debian}"
}

# unmount_under DIR: unmount whatever is mounted at or below DIR, deepest
# first (an interrupted debootstrap leaves its proc and sys mounts behind,
# and rm -rf must never walk into them).
unmount_under() {
	local dir=$1 m
	findmnt -rn -o TARGET | awk -v d="$dir" '$0 == d || index($0, d "/") == 1' | sort -r |
		while read -r m; do
			umount -l "$m"
		done
}

# ensure_root SUITE ROOT: make ROOT a bootstrapped SUITE unless its stamp
# says it already is one with today's include list. The stamp is written
# last, so a root without it is what an interrupted run left.
ensure_root() {
	local suite=$1 root=$2 include stamp log
	include=$(suite_include "$suite")
	stamp="$root/.kiln-e2e-ready-$(echo "$suite $include" | md5sum | cut -c1-8)"
	# One maker at a time: a run that finds another making the root (make
	# test prepares it ahead) waits for it rather than bootstrapping too.
	mkdir -p "$(dirname "$root")"
	exec 8>"$root.lock"
	flock 8
	if [ -f "$stamp" ]; then
		exec 8>&-
		return 0
	fi
	log="$root.debootstrap.log"
	log "bootstrapping $suite ($(suite_name "$suite")) into $root with $include (once; cached)"
	if [ -e "$root" ]; then
		unmount_under "$root"
		rm -rf --one-file-system "$root"
	fi
	mkdir -p "$(dirname "$root")"
	if ! debootstrap --variant=minbase --include="$include" "$suite" "$root" "$(mirror)" >"$log" 2>&1; then
		tail -20 "$log"
		unmount_under "$root"
		echo "e2e: debootstrap of $suite into $root failed (log: $log)" >&2
		return 1
	fi
	unmount_under "$root"
	touch "$stamp"
	exec 8>&-
}
