package daemon

import (
	"net/http"
	"sync"

	"kiln/api"
)

var answerBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// writeSubmitted answers a one-job submit as writeJSON would, the plain
// answer without encoding/json.
func writeSubmitted(w http.ResponseWriter, code int, s *api.Submitted) {
	buf := answerBuffers.Get().(*[]byte)
	defer answerBuffers.Put(buf)
	b, ok := s.AppendPlainJSON((*buf)[:0])
	if !ok {
		writeJSON(w, code, s)
		return
	}
	b = append(b, '\n') // as json.Encoder ends what it writes
	*buf = b
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
