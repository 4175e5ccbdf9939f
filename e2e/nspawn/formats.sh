# Every output format the shipped config offers, each written by the
# installed package with only the libraries its Depends: brought, and each
# output checked by its magic bytes inside the container (the root has no
# vipsheader, and must not: libvips-tools would bring what the package
# itself may have forgotten). Debian 13's libheif has its AV1 encoder in a
# plug-in of its own: a package without it fails here with "heifsave:
# Unsupported compression". Sourced by e2e/nspawn.sh.

# shipped_formats: the formats the installed /etc/kiln/kiln.toml documents
# for a variant's format key ("jpeg | png | webp | avif; left out = ..."),
# one a line, so that a format added there is tested here too.
shipped_formats() {
	in_container sed -n 's/^#[[:space:]]*format[[:space:]][[:space:]]*\([a-z0-9 |]*\);.*/\1/p' /etc/kiln/kiln.toml |
		head -1 | tr '|' '\n' | tr -d ' ' | grep .
}

# magic_matches FORMAT HEX: whether HEX, a file's first 12 bytes in
# hexadecimal, is how a FORMAT file begins. AVIF is an ISO media file whose
# ftyp box (bytes 4 to 11) names the avif brand; WebP a RIFF file of type
# WEBP.
magic_matches() {
	case "$1" in
	jpeg) [[ "$2" == ffd8ff* ]] ;;
	png) [[ "$2" == 89504e470d0a1a0a* ]] ;;
	webp) [[ "$2" == 52494646????????57454250 ]] ;;
	avif) [[ "$2" == ????????6674797061766966 ]] ;;
	*) return 2 ;;
	esac
}

# first_bytes PATH: the file's first 12 bytes in hexadecimal, read in the
# container.
first_bytes() {
	in_container od -An -tx1 -N12 "$1" 2>/dev/null | tr -d ' \n'
}

format_checks() {
	local formats f config out id err head path
	formats=$(shipped_formats || true)
	if [ -z "$formats" ]; then
		fail "every format: no format list found in the shipped /etc/kiln/kiln.toml"
		return
	fi
	config=$'\n[pipelines.formats]\nqueue = "images"\noutput_dir = "/var/lib/kiln/out/formats"'
	for f in $formats; do
		config+=$'\n[[pipelines.formats.variants]]\nname = "f-'"$f"$'"\nwidth = 320\nformat = "'"$f"'"'
	done
	printf '%s\n' "$config" | in_container sh -c 'cat >>/etc/kiln/kiln.toml'
	if in_container systemctl reload kiln 2>"$work/reload.err" && wait_state active; then
		pass "every format: a pipeline with ${formats//$'\n'/, } reloaded in"
	else
		fail "every format: reload with the formats pipeline: $(cat "$work/reload.err")"
	fi
	# One attempt: a format the libraries cannot write will not come with a
	# retry, and the error is what the check reports.
	out=$(in_container kilnctl submit -pipeline formats -max-attempts 1 -wait -json /srv/e2e/pic.jpg 2>&1 || true)
	id=$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' <<<"$out")
	if [[ "$out" == *'"state":"succeeded"'* ]]; then
		pass "every format: the job succeeded ($id)"
	else
		err=$(sed -n 's/.*"error":"\([^"]*\)".*/\1/p' <<<"$out")
		fail "every format: the job ($id) did not succeed: ${err:-$out}"
	fi
	for f in $formats; do
		path="/var/lib/kiln/out/formats/$id/f-$f.$([ "$f" = jpeg ] && echo jpg || echo "$f")"
		head=$(first_bytes "$path" || true)
		if [ -z "$head" ]; then
			fail "every format: $f: $path missing or empty"
		elif magic_matches "$f" "$head"; then
			pass "every format: $f: $path begins as $f does ($head)"
		else
			[ $? -eq 2 ] && f="$f (no magic bytes known to the test)"
			fail "every format: $f: $path begins with $head"
		fi
	done
}
