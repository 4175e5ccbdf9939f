# What an admin reads and types: Documentation=, the man pages, kilnctl's
# help, version and permission hint, and shell completion with names from
# the running daemon. Sourced by e2e/nspawn.sh.

complete_bash() { # complete_bash WORD...: what bash offers for the last word
	in_container bash -c 'source /usr/share/bash-completion/completions/kilnctl
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _kilnctl; echo "${COMPREPLY[*]}"' sh "$@"
}

admin_checks() {
	# What an admin reads: Documentation=, man pages, kilnctl's help.
	doc=$(prop Documentation)
	if [[ "$doc" == *"man:kilnd(8)"* && "$doc" == *"man:kilnctl(1)"* && "$doc" == *"man:kiln.toml(5)"* ]]; then
		pass "Documentation= names kilnd(8), kilnctl(1), kiln.toml(5)"
	else
		fail "Documentation=$doc"
	fi
	for file in $doc; do
		[[ "$file" == file://* ]] || continue
		check "Documentation= ${file#file://} is installed" in_container test -f "${file#file://}"
	done
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

	# Completion, with names from the running daemon.
	check "bash completes commands" test "$(complete_bash kilnctl re)" = "retry resume reload"
	check "bash completes flags" test "$(complete_bash kilnctl purge -old)" = "-older-than"
	check "bash completes queue names" test "$(complete_bash kilnctl pause '')" = "default images"
	check "bash completes pipeline names" test "$(complete_bash kilnctl submit -pipeline '')" = "thumbs web"
	if [[ " $(complete_bash kilnctl job '') " == *" $job "* ]]; then pass "bash completes job IDs"; else fail "bash does not complete job $job"; fi
	check "zsh completion installed" in_container test -s /usr/share/zsh/vendor-completions/_kilnctl
}
