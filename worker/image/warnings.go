package image

import (
	"fmt"

	"kiln/worker"
)

// Warnings implements worker.Warner. An empty allowed_input_roots is valid
// (it allows no input but the pictures the pipelines' own inboxes take),
// yet a file that says so is most likely one written when an empty list
// meant anywhere: a host upgraded with that file would refuse every
// submitted picture, so it is said at -check-config, start and reload.
func (c *Config) Warnings(view *worker.ConfigView) []string {
	if c.Images.AllowedInputRoots == nil || len(c.Images.AllowedInputRoots) > 0 || len(c.Pipelines) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("images.allowed_input_roots is empty: every image job submitted is refused as outside it. "+
		"List the directories pictures come from, such as [%q] (what leaving the key out gives), or [\"/\"] for any path kilnd can read",
		UploadDir(view.StateDir))}
}
