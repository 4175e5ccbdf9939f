package image

import (
	"bufio"
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

// EncoderTrialArg, followed by formats separated by commas, is the
// argument kilnd is run again with to try libvips' encoders of those
// formats (ServeEncoderTrial): the daemon's config check asks a process of
// its own, started as a worker process is, rather than load libvips
// itself.
const EncoderTrialArg = "-image-encoder-trial"

// encoderTrialTimeout bounds a trial: a tiny picture takes milliseconds,
// and a check must not hang on an encoder that does.
const encoderTrialTimeout = 30 * time.Second

// ServeEncoderTrial is a trial process's main: under the worker's memory
// limit, it encodes a tiny picture in each of formats (separated by
// commas) and writes a line for each to out, "FORMAT ok" or "FORMAT
// failed: REASON". It returns the exit status, 1 if it could try none.
func ServeEncoderTrial(formats string, out io.Writer) int {
	if err := limitWorkerMemory(); err != nil {
		fmt.Fprintln(out, err)
		return 1
	}
	for _, f := range strings.Split(formats, ",") {
		if err := tryEncoder(f); err != nil {
			fmt.Fprintf(out, "%s failed: %s\n", f, strings.ReplaceAll(err.Error(), "\n", "; "))
		} else {
			fmt.Fprintf(out, "%s ok\n", f)
		}
	}
	return 0
}

// tryInTrialProcess tries formats in one trial process started as a
// worker process under ps is: the running executable, the worker's
// environment. It returns an answer for each format.
func tryInTrialProcess(formats []string, ps processSettings) map[string]error {
	answers := map[string]error{}
	fail := func(err error) map[string]error {
		for _, f := range formats {
			if _, ok := answers[f]; !ok {
				answers[f] = err
			}
		}
		return answers
	}
	exe, err := os.Executable()
	if err != nil {
		return fail(fmt.Errorf("find own executable for the encoder trial: %w", err))
	}
	ctx, cancel := context.WithTimeout(context.Background(), encoderTrialTimeout)
	defer cancel()
	list := strings.Join(formats, ",")
	cmd := exec.CommandContext(ctx, exe, EncoderTrialArg, list)
	cmd.Env = append(workerEnv(ps), trialEnv()...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runErr := cmd.Run()
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		f, answer, _ := strings.Cut(sc.Text(), " ")
		switch {
		case answer == "ok":
			answers[f] = nil
		case strings.HasPrefix(answer, "failed: "):
			answers[f] = errors.New(strings.TrimPrefix(answer, "failed: "))
		}
	}
	if ctx.Err() != nil {
		return fail(fmt.Errorf("the trial process %s %s %s did not finish in %s", exe, EncoderTrialArg, list, encoderTrialTimeout))
	}
	msg := fmt.Sprintf("the trial process %s %s %s did not answer", exe, EncoderTrialArg, list)
	if runErr != nil {
		msg += fmt.Sprintf(" (%v)", runErr)
	}
	if tail := strings.TrimSpace(stdout.String() + stderr.String()); tail != "" {
		msg += ": " + tail[max(0, len(tail)-500):]
	}
	return fail(errors.New(msg))
}
