#!/usr/bin/env bash
# End-to-end test of the packages under real systemd: a Debian root booted
# with systemd-nspawn, the packages installed with apt-get and rpm, and the
# service driven with systemctl, kilnctl and journalctl, as an operator
# would.
#
# usage: e2e/nspawn.sh [--suite bookworm|trixie] [--summary FILE] OLD.deb NEW.deb OLD.rpm NEW.rpm
#        e2e/nspawn.sh --prepare [--suite bookworm|trixie]  (only the root)
#
# --suite is the Debian release the root is (bookworm, the default: Debian
# 12, systemd 252, rpm 4.18; trixie: Debian 13, systemd 257, rpm 4.20);
# every check runs on either. OLD and NEW are two versions built from this
# tree (make e2e builds them): the .deb part installs OLD with apt-get into
# a root without libvips, upgrades to NEW, runs every service check on NEW,
# then removes and purges; the .rpm part boots a fresh root, installs
# OLD.rpm with rpm, upgrades to NEW.rpm and erases it. The last line is the
# suite's PASS and FAIL counts and its time; --summary appends it to FILE
# as well, also when the suite stops early.
#
# Needs root, debootstrap, systemd-container and the network to the
# suite's archive. The bootstrapped root is cached in e2e/.cache/SUITE, the
# apt lists and packages in e2e/.cache/SUITE.apt; each boot uses
# --volatile=overlay, so boots never see each other's changes. The checks
# are in e2e/nspawn/, one file per concern.
set -euo pipefail

usage() {
	echo "usage: e2e/nspawn.sh [--suite bookworm|trixie] [--summary FILE] OLD.deb NEW.deb OLD.rpm NEW.rpm" >&2
	echo "       e2e/nspawn.sh --prepare [--suite bookworm|trixie]" >&2
	exit 2
}

suite=bookworm
summary_file=""
prepare=""
while [ $# -gt 0 ]; do
	case "$1" in
	--prepare)
		prepare=1
		shift
		;;
	--suite)
		[ $# -ge 2 ] || usage
		suite=$2
		shift 2
		;;
	--summary)
		[ $# -ge 2 ] || usage
		summary_file=$2
		shift 2
		;;
	--*) usage ;;
	*) break ;;
	esac
done
[ -n "$prepare" ] || [ $# -eq 4 ] || usage

here=$(cd "$(dirname "$0")" && pwd)
parts="$here/nspawn"
for part in report root container kiln deb service sandbox admin commands formats rpm; do
	# shellcheck source=/dev/null # one file per concern, all in e2e/nspawn/
	. "$parts/$part.sh"
done

if ! suite_include "$suite" >/dev/null; then
	echo "e2e: unknown suite '$suite' (bookworm or trixie)" >&2
	exit 2
fi
if [ -n "$prepare" ]; then
	# --prepare: only make the suite's root (make test does it ahead of
	# the steps that need it, while others run).
	if [ "$(id -u)" -ne 0 ]; then
		echo "e2e: needs root (debootstrap)" >&2
		exit 1
	fi
	ensure_root "$suite" "$here/.cache/$suite"
	exit
fi
for f in "$@"; do
	if [ ! -f "$f" ]; then
		echo "e2e: $suite: no package $f" >&2
		exit 2
	fi
done
if [ "$(id -u)" -ne 0 ]; then
	echo "e2e: needs root (debootstrap and systemd-nspawn)" >&2
	exit 1
fi

old_deb=$(realpath "$1")
new_deb=$(realpath "$2")
old_rpm=$(realpath "$3")
new_rpm=$(realpath "$4")
cache="$here/.cache"
root="$cache/$suite"
apt_cache="$cache/$suite.apt"
work=$(mktemp -d /tmp/kiln-e2e.XXXXXX)
# What the suite ran on, for its closing line; filled in at the first boot.
platform="$suite ($(suite_name "$suite"))"
finished=""

cleanup() {
	local line
	shutdown_container
	rm -rf "$work"
	line=$(summary_line "$platform" "$([ -n "$finished" ] || echo yes)")
	echo "$line"
	[ -z "$summary_file" ] || echo "$line" >>"$summary_file"
}
trap cleanup EXIT

# describe_platform: the suite, its Debian release and the systemd and rpm
# the booted root has.
describe_platform() {
	local systemd rpm
	systemd=$(in_container systemctl --version | awk 'NR == 1 {print $2}')
	rpm=$(in_container rpm --version | awk '{print $3}')
	platform="$suite ($(suite_name "$suite"), systemd $systemd, rpm $rpm)"
}

ensure_root "$suite" "$root"

# Something to feed it, readable by the kiln user.
mkdir -p "$work/srv" "$work/pkg"
vips gaussnoise "$work/srv/pic.jpg" 2400 1600 >/dev/null
chmod 755 "$work/srv"
chmod 644 "$work/srv/pic.jpg"
cp "$old_deb" "$work/pkg/old.deb"
cp "$new_deb" "$work/pkg/new.deb"
cp "$old_rpm" "$work/pkg/old.rpm"
cp "$new_rpm" "$work/pkg/new.rpm"
old_version=$(dpkg-deb -f "$old_deb" Version)
old_version=${old_version%-1*}
new_version=$(dpkg-deb -f "$new_deb" Version)
new_version=${new_version%-1*}

# Part 1: the .deb with apt-get.
boot deb
describe_platform
deb_install_and_upgrade
service_checks
sandbox_checks
admin_checks
command_checks
format_checks
deb_remove_and_purge
shutdown_container

# Part 2: the .rpm with rpm, in a fresh boot of the same root.
boot rpm
rpm_checks
shutdown_container

finished=yes
[ "$failures" -eq 0 ]
