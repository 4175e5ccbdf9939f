package daemon

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"

	"kiln/api"
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
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i++
	for {
		i = skipSpace(data, i)
		if i >= len(data) {
			return false
		}
		if data[i] == '}' {
			return true
		}
		if data[i] == ',' {
			i = skipSpace(data, i+1)
		}
		if i >= len(data) || data[i] != '"' {
			return false
		}
		end := bytes.IndexByte(data[i+1:], '"')
		if end < 0 {
			return false
		}
		key := data[i+1 : i+1+end]
		if bytes.IndexByte(key, '\\') >= 0 || !knownKey(key, known) {
			return false
		}
		i = skipSpace(data, i+2+end)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		i = skipValue(data, skipSpace(data, i+1))
		if i < 0 {
			return false
		}
	}
}

func knownKey(key []byte, known []string) bool {
	for _, k := range known {
		if len(k) == len(key) && strings.EqualFold(k, string(key)) {
			return true
		}
	}
	return false
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n') {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value starting at i, or
// -1 if it does not end.
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				if i = skipString(data, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	// A number, true, false or null.
	for i < len(data) && !strings.ContainsRune(",}] \t\r\n", rune(data[i])) {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at i, or -1.
func skipString(data []byte, i int) int {
	for i++; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}
