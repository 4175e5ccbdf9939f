package daemon

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"

	"kiln/api"
	"kiln/internal/jsonscan"
)

// streamFields are the JSON names a stream line may hold; submitFields
// those of a one-job submit.
var (
	streamFields = jsonFields(reflect.TypeFor[api.StreamSubmit]())
	submitFields = jsonFields(reflect.TypeFor[api.SubmitRequest]())
)

// jsonFields lists the JSON names of a struct's fields, embedded ones
// included.
func jsonFields(t reflect.Type) []string {
	var names []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.Anonymous {
				walk(f.Type)
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			names = append(names, name)
		}
	}
	walk(t)
	return names
}

// decodeStreamLine decodes one stream line strictly. Most lines have the
// plain shape decodeSubmitPlain reads in one pass; the others take
// json.Unmarshal and a scan of their keys, which costs a fraction of a
// strict json.Decoder made for each line; a line that fails either is
// decoded again strictly, for the error that names its field.
func decodeStreamLine(line []byte, req *api.StreamSubmit) error {
	if decodeSubmitPlain(line, &req.SubmitRequest, &req.Tag) {
		return nil
	}
	return decodeObject(line, req, streamFields)
}

// decodeObject decodes one JSON object into v, whose fields are known,
// refusing unknown fields and trailing data as a strict json.Decoder does
// and with its errors, at the cost of json.Unmarshal when all is well.
func decodeObject[T any](data []byte, v *T, known []string) error {
	if err := json.Unmarshal(data, v); err == nil && onlyKnownKeys(data, known) {
		return nil
	}
	var zero T
	*v = zero
	return decodeStrictFrom(bytes.NewReader(data), v)
}

// onlyKnownKeys reports whether every key of the JSON object in data is
// one of known, matched without regard to case as encoding/json matches
// them. data must be valid JSON; a key with escapes counts as unknown, so
// that the strict decoder judges it.
func onlyKnownKeys(data []byte, known []string) bool {
	return jsonscan.Object(data, func(name []byte, at int) (int, bool) {
		if !knownKey(name, known) {
			return 0, false
		}
		return jsonscan.Value(data, at)
	})
}

func knownKey(key []byte, known []string) bool {
	for _, k := range known {
		if len(k) == len(key) && strings.EqualFold(k, string(key)) {
			return true
		}
	}
	return false
}
