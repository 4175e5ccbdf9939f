# The operator's own program as a job, a pipeline followed by it, and a
# hot folder, in the installed package under the unit's sandbox. Sourced
# by e2e/nspawn.sh.

# The program keeps the JSON it reads under /var/lib/kiln (the one place
# the unit lets it write) and prints where.
publish_program=$(
	cat <<'EOT'
#!/bin/sh
set -eu
mkdir -p /var/lib/kiln/published
cat >"/var/lib/kiln/published/$KILN_JOB_ID.json"
printf '{"published": "/var/lib/kiln/published/%s.json", "queue": "%s"}\n' "$KILN_JOB_ID" "$KILN_QUEUE"
EOT
)

commands_config='
[commands.e2e-publish]
command = ["/usr/local/bin/kiln-e2e-publish"]
queue = "images"

[pipelines.chained]
queue = "images"
output_dir = "/var/lib/kiln/out/chained"
then = ["e2e-publish"]
[[pipelines.chained.variants]]
name = "c100"
width = 100
format = "jpeg"

[pipelines.hot]
queue = "images"
output_dir = "/var/lib/kiln/out/hot"
inbox = "/var/lib/kiln/inbox/web"
[[pipelines.hot.variants]]
name = "h100"
width = 100
format = "webp"'

command_checks() {
	printf '%s\n' "$publish_program" >"$work/srv/kiln-e2e-publish"
	in_container install -m 0755 /srv/e2e/kiln-e2e-publish /usr/local/bin/kiln-e2e-publish
	printf '%s\n' "$commands_config" | in_container sh -c 'cat >>/etc/kiln/kiln.toml'
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
}
