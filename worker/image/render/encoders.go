package render

import (
	"errors"
	"strings"
	"sync"

	"kiln/worker/image/renderjob"
	"kiln/worker/image/vips"
)

// A worker tries an encoder on a tiny picture when the daemon asks
// (probe), and when an encode of a picture failed, to tell a missing
// encoder from a failure of that one picture (canEncodeHere); see
// image/encoders.go for why writing is the only way to know.

// triedHere are this process's answers by format, each tried once.
var triedHere sync.Map // format → func() error (sync.OnceValue)

// canEncodeHere returns nil if this process's libvips writes format, else
// libvips' error on a tiny picture in it.
func canEncodeHere(format string) error {
	try, _ := triedHere.LoadOrStore(format, sync.OnceValue(func() error { return tryEncoder(format) }))
	return try.(func() error)()
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

// probe answers the daemon's question about this process's libvips.
func probe(req renderjob.ProbeRequest) *renderjob.ProbeAnswer {
	ans := &renderjob.ProbeAnswer{Libvips: vips.Version(), Formats: map[string]string{}}
	for _, f := range req.Formats {
		ans.Formats[f] = ""
		if err := canEncodeHere(f); err != nil {
			ans.Formats[f] = strings.ReplaceAll(err.Error(), "\n", "; ")
		}
	}
	return ans
}
