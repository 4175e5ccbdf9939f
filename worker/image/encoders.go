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
// may be there and its encoder not. Debian 13's libheif 1.19 keeps its AV1
// encoder in a plug-in package of its own (libheif-plugin-aomenc, only
// recommended), and without it heifsave is found, starts, and fails with
// "Unsupported compression" on the first picture. So each format a config
// names is tried on a tiny picture, once per process: libheif loads its
// plug-ins when it starts, so the answer cannot change while the process
// runs.

// encoderTrials are the answers so far, by format.
var encoderTrials sync.Map // format -> *encoderTrial

type encoderTrial struct {
	once sync.Once
	err  error
}

// encoderTrialsRun counts the pictures encoded to try a format, for the
// test that each format is tried once.
var encoderTrialsRun atomic.Int64

// canEncode returns nil if this process's libvips writes format, else
// libvips' error on a tiny picture in it.
func canEncode(format string) error {
	t, _ := encoderTrials.LoadOrStore(format, &encoderTrial{})
	trial := t.(*encoderTrial)
	trial.once.Do(func() { trial.err = tryEncoder(format) })
	return trial.err
}

func tryEncoder(format string) error {
	encoderTrialsRun.Add(1)
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
// its encoder. libheif loads its plug-ins as it starts, so a kilnd that
// runs finds a newly installed one only at a restart.
func encoderMissing(format string, err error) string {
	msg := fmt.Sprintf("this host's libvips cannot write %s (libvips, encoding a test picture: %v)", formatName(format), err)
	if pkg := encoderPackage(format, hostRelease()); pkg.name != "" {
		return msg + fmt.Sprintf(": install the Debian package %s, %s (a running kilnd loads it at a restart)", pkg.name, pkg.brings)
	}
	return msg + ": install the libvips and libheif encoders of this system (a running kilnd loads them at a restart)"
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
// this process's libvips cannot write. A variant without a format keeps
// its source's and names none; its job says so if it comes to that.
func (c *Config) checkEncoders(problems worker.Problems) {
	for _, name := range c.pipelineNames() {
		for i, v := range c.Pipelines[name].Variants {
			if !slices.Contains(Formats, v.Format) {
				continue // "" or a format Check refuses
			}
			if err := canEncode(v.Format); err != nil {
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
