// Command kiln-image-worker is the process kilnd decodes pictures in: one
// JSON request per line on its stdin, one answer per line on its stdout
// (image.ServeWorker). It links only what rendering needs, so that each
// worker process kilnd starts costs little memory: none of the daemon's
// packages are loaded and relocated in it. Not for people to run.
package main

import (
	"fmt"
	"os"

	"kiln/worker/image"
)

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintf(os.Stderr, "kiln-image-worker: takes no arguments; kilnd starts it\n")
		os.Exit(2)
	}
	if err := image.ServeWorker(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "kiln-image-worker: %v\n", err)
		os.Exit(1)
	}
}
