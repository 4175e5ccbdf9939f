// Command bench-image-contender is the part of bench-image that runs
// libvips itself: the floor and the per-output contender on a job and
// pictures (printing their figures as JSON), and the comparison of the
// outputs kilnd's worker makes of a picture with the reference. bench-image
// starts it, so that bench-image itself never links libvips.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	mode := flag.String("mode", "", "floor, per-output or per-output-idle (the pictures as arguments), or quality (PICTURE DIR)")
	job := flag.String("job", "", "the job (four or standard)")
	kilnd := flag.String("kilnd", "", "kilnd binary, whose worker the quality comparison runs")
	flag.Parse()
	if *mode == "quality" {
		if err := vipsInit(); err != nil {
			fail(err)
		}
		q, err := benchQuality(*kilnd, *job, flag.Arg(0), flag.Arg(1))
		if err != nil {
			fail(err)
		}
		fmt.Println(q)
		return
	}
	if err := runInproc(*mode, *job, flag.Args()); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench-image-contender:", err)
	os.Exit(1)
}
