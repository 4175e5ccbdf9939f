// Command kiln-image-worker is the process kilnd decodes pictures in: one
// JSON request per line on its stdin, one answer per line on its stdout
// (render.Serve). It is the only program of kiln that links libvips:
// kilnd asks it, rather than libvips, what the pictures need, so that the
// daemon carries none of libvips' memory. It links only what rendering
// needs, so that each worker process kilnd starts costs little. Not for
// people to run.
package main

import (
	"fmt"
	"os"

	"kiln/worker/image/render"
)

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintf(os.Stderr, "kiln-image-worker: takes no arguments; kilnd starts it\n")
		os.Exit(2)
	}
	if err := render.Serve(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "kiln-image-worker: %v\n", err)
		os.Exit(1)
	}
}
