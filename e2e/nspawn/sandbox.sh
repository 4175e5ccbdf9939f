# The sandbox: systemd's exposure score for the shipped unit, and the
# drop-in that closes the network for the local backend. Sourced by
# e2e/nspawn.sh.

# The exposure score must not be above this (network allowed), on every
# suite's systemd: a newer systemd that scores the unit higher means the
# unit is hardened further, not that the bound moves.
max_exposure=1.5

sandbox_checks() {
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
}
