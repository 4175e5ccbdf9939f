package daemon

import (
	"os"
	"testing"

	"kiln/worker/image"
)

// The tests run the daemon with kilnd's plugins, and the image plugin's
// config check tries each output format in a process started from the
// running executable, as kilnd does (cmd/kilnd/main.go): the test binary
// doubles as that process.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == image.EncoderTrialArg {
		os.Exit(image.ServeEncoderTrial(os.Args[2], os.Stdout))
	}
	os.Exit(m.Run())
}
