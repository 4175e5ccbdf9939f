package image

import (
	"kiln/worker"
	"kiln/worker/image/imageapi"
)

var _ worker.OutputLister = (*JobKind)(nil)

// Outputs implements worker.OutputLister: the variants of a succeeded job,
// inside its pipeline's output_dir.
func (k *JobKind) Outputs(j *worker.JobRecord) (string, []worker.OutputFile) {
	p, err := ParsePayload(j.Payload)
	if err != nil || len(j.Result) == 0 {
		return "", nil
	}
	pl, ok := k.settings().Pipelines[p.Pipeline]
	if !ok {
		return "", nil
	}
	res, err := imageapi.ParseResult(j.Result)
	if err != nil {
		return "", nil
	}
	files := make([]worker.OutputFile, len(res.Outputs))
	for i, o := range res.Outputs {
		files[i] = worker.OutputFile{Name: o.Variant, Path: o.Path, Format: o.Format, Width: o.Width, Height: o.Height, Bytes: o.Bytes}
	}
	return pl.OutputDir, files
}
