package image

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"kiln/worker"
	"kiln/worker/image/vips"
)

// Whether libvips can write a format is known only by writing it: a saver
// may be there and its encoder not. Debian 13's libheif keeps its AV1
// encoder in a plug-in package of its own (libheif-plugin-aomenc, only
// recommended), and without it heifsave is found, starts, and fails with
// "Unsupported compression" on the first picture. So each format a config
// names is tried on a tiny picture, once per process and format. The
// daemon has the formats tried in a process of its own, started as a
// worker process is (encodertrial.go), so that libvips is never loaded
// into the daemon; a worker process whose encode failed tries the format
// itself, to tell a missing encoder from a failure of that one picture.

// encoderAnswers are the answers a process has had so far, by format.
type encoderAnswers struct {
	mu    sync.Mutex
	known map[string]error
}

// encoderTrialsRun counts the formats tried, for the test that each is
// tried once.
var encoderTrialsRun atomic.Int64

// answers returns the answer for each of formats: nil where it can be
// written, else why not. The formats not known yet are tried, all at
// once, by try, which returns an answer for each format it is given.
func (a *encoderAnswers) answers(formats []string, try func([]string) map[string]error) map[string]error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var untried []string
	for _, f := range formats {
		if _, ok := a.known[f]; !ok && !slices.Contains(untried, f) {
			untried = append(untried, f)
		}
	}
	if len(untried) > 0 {
		encoderTrialsRun.Add(int64(len(untried)))
		tried := try(untried)
		if a.known == nil {
			a.known = map[string]error{}
		}
		for _, f := range untried {
			a.known[f] = tried[f]
		}
	}
	out := make(map[string]error, len(formats))
	for _, f := range formats {
		out[f] = a.known[f]
	}
	return out
}

var (
	answersHere  encoderAnswers // this process's libvips (a worker process)
	answersTried encoderAnswers // a trial process's (the daemon)
)

// canEncodeHere returns nil if this process's libvips writes format, else
// libvips' error on a tiny picture in it.
func canEncodeHere(format string) error {
	return answersHere.answers([]string{format}, tryEncoders)[format]
}

// tryEncoders tries each format in this process.
func tryEncoders(formats []string) map[string]error {
	out := map[string]error{}
	for _, f := range formats {
		out[f] = tryEncoder(f)
	}
	return out
}

func tryEncoder(format string) error {
	img, err := vips.Blank(16, 16)
	if err != nil {
		return err
	}
	defer img.Close()
	enc, err := img.Encode(vips.EncodeOptions{Format: format, Compression: -1})
	if err != nil {
		return err
	}
	defer enc.Free()
	if len(enc.Bytes()) == 0 {
		return errors.New("the encoder wrote nothing")
	}
	return nil
}

// encoderMissing says that format cannot be written here, and what brings
// its encoder. A running kilnd keeps its answer, so it finds a newly
// installed encoder at a restart.
func encoderMissing(format string, err error) string {
	msg := fmt.Sprintf("this host's libvips cannot write %s (encoding a test picture: %v)", formatName(format), err)
	if pkg := encoderPackage(format, hostRelease()); pkg.name != "" {
		return msg + fmt.Sprintf(": install the Debian package %s, %s (a running kilnd finds it at a restart)", pkg.name, pkg.brings)
	}
	return msg + ": install the libvips and libheif encoders of this system (a running kilnd finds them at a restart)"
}

func formatName(format string) string {
	switch format {
	case "jpeg":
		return "JPEG"
	case "png":
		return "PNG"
	case "webp":
		return "WebP"
	case "avif":
		return "AVIF"
	}
	return format
}

// checkEncoders reports each variant whose format, named in the file,
// libvips cannot write in a worker process started under c. A variant
// without a format keeps its source's and names none; its job says so if
// it comes to that.
func (c *Config) checkEncoders(problems worker.Problems) {
	var named []string
	for _, name := range c.pipelineNames() {
		for _, v := range c.Pipelines[name].Variants {
			if slices.Contains(Formats, v.Format) { // not "", nor a format Check refuses
				named = append(named, v.Format)
			}
		}
	}
	if len(named) == 0 {
		return
	}
	ps := processSettingsOf(c.Images)
	answers := answersTried.answers(named, func(formats []string) map[string]error { return tryInTrialProcess(formats, ps) })
	for _, name := range c.pipelineNames() {
		for i, v := range c.Pipelines[name].Variants {
			if err := answers[v.Format]; err != nil {
				problems.Report(fmt.Sprintf("pipelines.%s.variants[%d].format", name, i),
					fmt.Sprintf("output %q of pipeline %s is %s, but %s", v.Name, name, v.Format, encoderMissing(v.Format, err)))
			}
		}
	}
}

// CheckStart implements worker.StartChecker: the formats the pipelines
// name must be ones libvips here can write.
func (c *Config) CheckStart(_ *worker.ConfigView, problems worker.Problems) {
	c.checkEncoders(problems)
}
