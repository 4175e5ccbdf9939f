// Package kilntype holds the vocabulary that the daemon, its API and the
// programs that talk to it share: job states, durations and sizes as
// written in config and JSON, and attempt errors. It depends on nothing but
// the standard library, so that a client can import it without the daemon.
package kilntype
