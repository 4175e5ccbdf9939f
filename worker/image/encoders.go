package image

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"kiln/worker"
	"kiln/worker/image/renderjob"
)

// Whether libvips can write a format is known only by writing it: a saver
// may be there and its encoder not. Debian 13's libheif keeps its AV1
// encoder in a plug-in package of its own (libheif-plugin-aomenc, only
// recommended), and without it heifsave is found, starts, and fails with
// "Unsupported compression" on the first picture. So each format a config
// names is tried on a tiny picture, once per process and format. The
// daemon does not link libvips: it asks a worker process, started as the
// workers are, with a probe request (probe.go); a worker process whose
// encode failed tries the format itself (package render), to tell a
// missing encoder from a failure of that one picture.

// encoderAnswers are the answers of the worker binary so far, by format.
type encoderAnswers struct {
	mu      sync.Mutex
	binary  string           // the worker binary that answered
	known   map[string]error // by format
	libvips string           // its libvips version; "" until it answered
}

// probesRun counts the probes of formats, for the test that each format is
// tried once.
var probesRun atomic.Int64

// answers returns the answer of binary for each of formats: nil where its
// libvips writes the format, else why not, and the version of that
// libvips. The formats not known yet are tried, all at once, by probe
// (probeWorker), which also runs once if none is to be tried, to find
// that the binary runs at all. A probe that fails leaves no answer: the
// next check tries again.
func (a *encoderAnswers) answers(binary string, formats []string, probe func([]string) (*ProbeAnswer, error)) (map[string]error, string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.binary != binary {
		a.binary, a.known, a.libvips = binary, map[string]error{}, ""
	}
	var untried []string
	for _, f := range formats {
		if _, ok := a.known[f]; !ok && !slices.Contains(untried, f) {
			untried = append(untried, f)
		}
	}
	if len(untried) > 0 || a.libvips == "" {
		probesRun.Add(1)
		ans, err := probe(untried)
		if err != nil {
			return nil, "", err
		}
		for _, f := range untried {
			a.known[f] = nil
			if msg, ok := ans.Formats[f]; !ok {
				a.known[f] = errors.New("the worker did not answer for this format")
			} else if msg != "" {
				a.known[f] = errors.New(msg)
			}
		}
		a.libvips = ans.Libvips
	}
	out := make(map[string]error, len(formats))
	for _, f := range formats {
		out[f] = a.known[f]
	}
	return out, a.libvips, nil
}

// version returns the libvips version binary answered with, if it has.
func (a *encoderAnswers) version(binary string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.libvips, a.binary == binary && a.libvips != ""
}

// workerAnswers are this daemon's answers from its worker binary.
var workerAnswers encoderAnswers

// checkWorker reports what the workers of c could not do: a worker
// binary that is missing (the start needs it for the pool, whatever the
// pipelines) or does not run, and each variant whose format, named in the
// file, the worker's libvips cannot write. A config without pipelines
// makes no image job, and its worker is not run. A variant without a
// format keeps its source's and names none; its job says so if it comes
// to that.
func (c *Config) checkWorker(problems worker.Problems) {
	binary, err := c.workerBinary()
	if err != nil {
		problems.Report("images", err.Error())
		return
	}
	if len(c.Pipelines) == 0 {
		return
	}
	var named []string
	for _, name := range c.pipelineNames() {
		for _, v := range c.Pipelines[name].Variants {
			if slices.Contains(Formats, v.Format) { // not "", nor a format Check refuses
				named = append(named, v.Format)
			}
		}
	}
	ps := processSettingsOf(c.Images)
	answers, _, err := workerAnswers.answers(binary, named, func(formats []string) (*ProbeAnswer, error) {
		return probeWorker(binary, ps, formats)
	})
	if err != nil {
		problems.Report("images", err.Error())
		return
	}
	for _, name := range c.pipelineNames() {
		for i, v := range c.Pipelines[name].Variants {
			if err := answers[v.Format]; err != nil {
				problems.Report(fmt.Sprintf("pipelines.%s.variants[%d].format", name, i),
					fmt.Sprintf("output %q of pipeline %s is %s, but %s", v.Name, name, v.Format, renderjob.EncoderMissing(v.Format, err)))
			}
		}
	}
}

// CheckStart implements worker.StartChecker: the pipelines' workers must
// run, and the formats the pipelines name must be ones their libvips can
// write.
func (c *Config) CheckStart(_ *worker.ConfigView, problems worker.Problems) {
	c.checkWorker(problems)
}
