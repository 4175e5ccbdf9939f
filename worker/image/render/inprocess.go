package render

import (
	"context"

	"kiln/worker/image/renderjob"
)

// InProcess renders in the calling process, as the image kind's Renderer: for the
// programs that weigh rendering against the workers' (bench-image) and
// for tests. The daemon never does: it renders in worker processes.
type InProcess struct{}

// Render renders req here.
func (InProcess) Render(ctx context.Context, req renderjob.RenderRequest) (*renderjob.Result, error) {
	return Render(ctx, req)
}
