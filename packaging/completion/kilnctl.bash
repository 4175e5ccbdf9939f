# bash completion for kilnctl(1). Commands and flags are listed here; queue
# and pipeline names and job IDs come from the running daemon through
# `kilnctl complete`, so they are what kilnd knows now.

_kilnctl_names() {
	# $1: queues | pipelines | jobs; $2: optional -state list for jobs.
	local socket=() i
	for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
		case ${COMP_WORDS[i]} in
		-socket | --socket) socket=(-socket "${COMP_WORDS[i + 1]}") ;;
		esac
	done
	# A stopped daemon must not hang the shell.
	if [[ -n $2 ]]; then
		kilnctl -timeout 2s "${socket[@]}" complete "$1" -state "$2" 2>/dev/null
	else
		kilnctl -timeout 2s "${socket[@]}" complete "$1" 2>/dev/null
	fi
}

_kilnctl() {
	local cur prev cmd i flags
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}

	# The command is the first word that is neither a global flag nor its value.
	cmd=""
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-socket | --socket | -timeout | --timeout | -connect-timeout | --connect-timeout) ((i++)) ;;
		-*) ;;
		*)
			cmd=${COMP_WORDS[i]}
			break
			;;
		esac
	done

	if [[ -z $cmd ]]; then
		case $prev in
		-socket | --socket)
			COMPREPLY=($(compgen -f -- "$cur"))
			return
			;;
		-timeout | --timeout | -connect-timeout | --connect-timeout)
			return
			;;
		esac
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "-socket -timeout -connect-timeout -version -h --help" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "submit job jobs retry cancel pause resume purge status schedules events reload complete help" -- "$cur"))
		fi
		return
	fi

	# A flag's value.
	case $prev in
	-queue)
		COMPREPLY=($(compgen -W "$(_kilnctl_names queues)" -- "$cur"))
		return
		;;
	-pipeline)
		COMPREPLY=($(compgen -W "$(_kilnctl_names pipelines)" -- "$cur"))
		return
		;;
	-state)
		COMPREPLY=($(compgen -W "scheduled queued running retrying succeeded dead cancelled" -- "$cur"))
		return
		;;
	-type | -payload | -priority | -at | -in | -unique-key | -timeout-per-attempt | -wait-timeout | -max-attempts | -limit | -older-than)
		return
		;;
	esac

	case $cmd in
		submit) flags="-pipeline -type -payload -queue -priority -at -in -unique-key -timeout-per-attempt -wait -wait-timeout -max-attempts -json" ;;
		job) flags="-json" ;;
		jobs) flags="-queue -state -limit -json" ;;
		retry) flags="-dead -queue -json" ;;
		cancel) flags="-json" ;;
		pause) flags="-json" ;;
		resume) flags="-json" ;;
		purge) flags="-dead -succeeded -cancelled -older-than -queue -json" ;;
		status) flags="-json" ;;
		schedules) flags="-json" ;;
		events) flags="-follow -since -queue -job -state -json" ;;
		reload) flags="-json" ;;
		complete) flags="-state -json" ;;
		*) flags="" ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$flags -h" -- "$cur"))
		return
	fi

	# Positional arguments.
	case $cmd in
	submit) COMPREPLY=($(compgen -f -- "$cur")) ;;
	job) COMPREPLY=($(compgen -W "$(_kilnctl_names jobs)" -- "$cur")) ;;
	cancel) COMPREPLY=($(compgen -W "$(_kilnctl_names jobs scheduled,queued,running,retrying)" -- "$cur")) ;;
	retry) COMPREPLY=($(compgen -W "$(_kilnctl_names jobs dead,cancelled)" -- "$cur")) ;;
	pause | resume) COMPREPLY=($(compgen -W "$(_kilnctl_names queues)" -- "$cur")) ;;
	complete) COMPREPLY=($(compgen -W "queues pipelines jobs" -- "$cur")) ;;
	help) COMPREPLY=($(compgen -W "submit job jobs retry cancel pause resume purge status schedules events reload complete" -- "$cur")) ;;
	esac
}
complete -o filenames -F _kilnctl kilnctl
