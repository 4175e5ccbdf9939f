# The .deb with apt-get: install the older version into a root without
# libvips, upgrade to the newer one over an edited config with jobs
# queued, and at the end remove and purge. Sourced by e2e/nspawn.sh.

thumbs_pipeline='
[pipelines.thumbs]
queue = "images"
output_dir = "/var/lib/kiln/out/thumbs"
[[pipelines.thumbs.variants]]
name = "t100"
width = 100
format = "png"'

# apt_install LOG FILE: what an operator types, without the recommends, so
# that the package's Depends: alone have to bring what kilnd needs.
apt_install() {
	in_container env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends "$2" </dev/null >"$work/$1" 2>&1
}

deb_install_and_upgrade() {
	apt_update
	# What the test is about: nothing of libvips there before the package.
	local libs
	libs=$(in_container ldconfig -p)
	if [[ "$libs" == *libc.so.6* && "$libs" != *libvips* ]]; then
		pass "the root has no libvips before kiln is installed"
	else
		fail "the root has libvips (or no ldconfig -p) before kiln is installed"
	fi

	# Install the older version, as an operator would.
	if apt_install apt.log /root/pkg/old.deb; then
		pass "apt-get install --no-install-recommends ./kiln.deb ($old_version)"
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

	# Upgrade: edit the config (a pipeline; the test's pictures, in
	# /srv/e2e, among the input roots), queue jobs that cannot run before
	# the stop (their queue is paused), stop, upgrade with apt-get and no
	# terminal.
	in_container sh -c "cat >>/etc/kiln/kiln.toml <<'EOT'
$thumbs_pipeline
EOT"
	in_container sed -i 's|^allowed_input_roots = .*|allowed_input_roots = ["/var/lib/kiln/uploads", "/srv/e2e"]|' /etc/kiln/kiln.toml
	in_container systemctl restart kiln
	in_container kilnctl pause images >/dev/null
	local queued=() old_pid
	for _ in 1 2 3; do
		queued+=("$(in_container kilnctl submit -pipeline thumbs /srv/e2e/pic.jpg)")
	done
	old_pid=$(prop MainPID)
	in_container systemctl stop kiln
	if apt_install apt-upgrade.log /root/pkg/new.deb; then
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
}

# Remove keeps config and data; purge removes the config only.
deb_remove_and_purge() {
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
}
