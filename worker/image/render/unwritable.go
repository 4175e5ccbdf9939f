package render

import (
	"errors"
	"syscall"

	"kiln/worker/image/renderjob"
)

// permanentIfUnwritable marks a failure to write outputs because the place
// is read-only or forbidden as permanent: no retry can cure it, and
// retrying only hides it behind backoff. The message says what to change.
func permanentIfUnwritable(err error) error {
	var re *renderjob.RenderError
	if err == nil || errors.As(err, &re) {
		return err
	}
	for _, errno := range []syscall.Errno{syscall.EROFS, syscall.EACCES, syscall.EPERM} {
		if errors.Is(err, errno) {
			return &renderjob.RenderError{Msg: err.Error() + ": kilnd may not write to this pipeline's output_dir (under systemd, allow it with a ReadWritePaths= drop-in)", Permanent: true}
		}
	}
	return err
}
