# The service under systemd on the installed package: start and READY=1,
# a picture through every variant of the shipped pipeline, the journal and
# syslog, a good and a refused reload, a broken config at start. Sourced by
# e2e/nspawn.sh; leaves job (the picture's job) and mainpid (kilnd's PID)
# for the checks after it, and /root/kiln.toml.good, the config they start
# from.

service_checks() {
	# systemctl start returns only after READY=1: active at once, and the
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

	# A picture in, every variant out.
	out=$(in_container kilnctl submit -pipeline web -wait -json /srv/e2e/pic.jpg || true)
	job=$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' <<<"$out")
	if [[ "$out" == *'"state":"succeeded"'* ]]; then pass "kilnctl submit -wait -> succeeded ($job)"; else fail "kilnctl submit -wait: $out"; fi
	for v in large.jpg w800.jpg w800-webp.webp thumb.webp w800-gray.jpg w800-sepia.jpg; do
		if in_container test -s "/var/lib/kiln/out/web/$job/$v"; then pass "output $v"; else fail "output $v missing"; fi
	done

	# The job is in the journal and in syslog.
	if in_container journalctl -u kiln --no-pager | grep -q "job succeeded.*job=$job"; then pass "journalctl -u kiln shows the job"; else fail "journalctl -u kiln does not show job $job"; fi
	found=""
	for _ in $(seq 1 50); do
		if in_container grep -q "kilnd.*job=$job" /var/log/syslog 2>/dev/null; then found=1; break; fi
		sleep 0.1
	done
	if [ -n "$found" ]; then pass "/var/log/syslog shows the job"; else fail "/var/log/syslog does not show job $job"; fi

	# Reload with a valid config: a new pipeline takes effect, same process,
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

	# A drop-in: the package ships /etc/kiln/conf.d empty, and a file put
	# there is read at the next reload, with its origin in -print-config.
	if [ "$(in_container stat -c '%U:%G %a' /etc/kiln/conf.d)" = "root:root 755" ] && [ -z "$(in_container ls -A /etc/kiln/conf.d)" ]; then
		pass "/etc/kiln/conf.d shipped empty, root:root 0755"
	else
		fail "/etc/kiln/conf.d: $(in_container stat -c '%U:%G %a' /etc/kiln/conf.d 2>&1) $(in_container ls -A /etc/kiln/conf.d 2>&1)"
	fi
	in_container sh -c 'printf "[queues.images]\nconcurrency = 3\n" >/etc/kiln/conf.d/50-e2e.toml'
	out=""
	if in_container systemctl reload kiln 2>"$work/reload.err" && wait_state active; then
		out=$(in_container kilnctl status -json || true)
	fi
	if [[ "$out" == *'"images":{'*'"concurrency":3'* ]]; then pass "a drop-in in /etc/kiln/conf.d applies at reload"; else fail "drop-in not in effect after reload: $(cat "$work/reload.err") $out"; fi
	if in_container kilnd -print-config | grep -q '^concurrency = 3 .*# /etc/kiln/conf.d/50-e2e.toml:2$'; then
		pass "kilnd -print-config names the drop-in that set the key"
	else
		fail "kilnd -print-config does not name the drop-in: $(in_container kilnd -print-config 2>&1 | grep -n 'concurrency' | head -5)"
	fi
	in_container rm /etc/kiln/conf.d/50-e2e.toml

	# Reload with a broken config: systemctl reload fails, the error with
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

	# A broken config at start: the unit fails once, with exit status 78,
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
}
