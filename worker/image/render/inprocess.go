package render

import (
	"context"

	"kiln/worker/image"
)

// InProcess renders in the calling process, as image.Renderer: for the
// programs that weigh rendering against the workers' (bench-image) and
// for tests. The daemon never does: it renders in worker processes.
type InProcess struct{}

var _ image.Renderer = InProcess{}

// Render implements image.Renderer.
func (InProcess) Render(ctx context.Context, req image.RenderRequest) (*image.Result, error) {
	return Render(ctx, req)
}
