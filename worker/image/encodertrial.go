package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// EncoderTrialArg, followed by a format, is the argument kilnd is run
// again with to try libvips' encoder of that format (ServeEncoderTrial):
// the daemon's config check asks a process of its own, started as a
// worker process is, rather than load libvips itself.
const EncoderTrialArg = "-image-encoder-trial"

// encoderTrialTimeout bounds a trial: a tiny picture takes milliseconds,
// and a check must not hang on an encoder that does.
const encoderTrialTimeout = 30 * time.Second

// ServeEncoderTrial is a trial process's main: it encodes a tiny picture
// in format under the worker's memory limit and returns the exit status,
// 0 if it was written, else 1 with the reason on out.
func ServeEncoderTrial(format string, out io.Writer) int {
	err := limitWorkerMemory()
	if err == nil {
		err = tryEncoder(format)
	}
	if err != nil {
		fmt.Fprintln(out, strings.ReplaceAll(err.Error(), "\n", "; "))
		return 1
	}
	return 0
}

// tryInTrialProcess tries format in a trial process started as a worker
// process under ps is: the running executable, the worker's environment.
func tryInTrialProcess(format string, ps processSettings) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable for the encoder trial: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), encoderTrialTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, EncoderTrialArg, format)
	cmd.Env = workerEnv(ps)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("the trial process %s %s %s did not finish in %s", exe, EncoderTrialArg, format, encoderTrialTimeout)
	case errors.As(err, &exit) && strings.TrimSpace(stdout.String()) != "":
		return errors.New(strings.TrimSpace(stdout.String()))
	}
	msg := fmt.Sprintf("the trial process %s %s %s failed: %v", exe, EncoderTrialArg, format, err)
	if tail := strings.TrimSpace(stderr.String()); tail != "" {
		msg += ": " + tail[max(0, len(tail)-500):]
	}
	return errors.New(msg)
}
