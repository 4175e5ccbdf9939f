# The .rpm with rpm, in a fresh boot of the suite's root. --nodeps because
# nothing in a Debian root provides what the .rpm requires; this shows the
# scriptlets under systemd, not dependency resolution. kilnd still needs
# its libraries to run: the .deb's Depends: name the same libraries (both
# come from the binaries' ELF NEEDED entries) in Debian's terms, so apt-get
# satisfies those first. Sourced by e2e/nspawn.sh.

rpm_flags=()

# rpm_ ARG...: the root's rpm on the database the .rpm's scriptlets expect.
rpm_() { in_container rpm "${rpm_flags[@]}" --dbpath /var/lib/rpm "$@"; }

# Debian's rpm 4.18 refuses to install anything without --force-debian;
# 4.20 dropped that patch and rejects the option as unknown. Ask the rpm
# in the root whether it takes the option, whatever the suite is called.
probe_rpm_flags() {
	rpm_flags=()
	if in_container rpm --force-debian --eval 1 >/dev/null 2>&1; then
		rpm_flags=(--force-debian)
	fi
	log "$(in_container rpm --version) takes ${rpm_flags[*]:-no --force-debian}"
}

rpm_checks() {
	local deps
	apt_update
	deps=$(dpkg-deb -f "$work/pkg/new.deb" Depends)
	if in_container env DEBIAN_FRONTEND=noninteractive apt-get satisfy -y -q --no-install-recommends "$deps" </dev/null >"$work/apt-satisfy.log" 2>&1; then
		pass "rpm: kilnd's libraries installed with apt-get satisfy '$deps'"
	else
		cat "$work/apt-satisfy.log"
		fail "rpm: apt-get satisfy '$deps'"
	fi
	probe_rpm_flags
	if rpm_ -i --nodeps /root/pkg/old.rpm >"$work/rpm.log" 2>&1; then
		pass "rpm ${rpm_flags[*]:+${rpm_flags[*]} }-i kiln.rpm ($old_version)"
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
}
