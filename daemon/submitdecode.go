package daemon

import (
	"encoding/json"
	"strconv"

	"kiln/api"
	"kiln/internal/jsonscan"
)

// decodeSubmitPlain decodes a submit (and, with tag set, a stream line) in
// one pass over the text, when it has the shape applications send: an
// object of the request's own field names, spelled as the API spells them,
// with strings free of escapes and whole-number counts. It reports false
// for anything else (an escape, a field name in other case, an unknown or
// repeated field, null, malformed text), and the caller then takes
// decodeObject, whose encoding/json decode gives the same result or names
// the problem. It saves that decode's passes over the payload, which are
// most of the cost of reading a submit.
//
// It sets req and tag only when it reports true.
func decodeSubmitPlain(data []byte, req *api.SubmitRequest, tag *string) bool {
	var out api.SubmitRequest
	var outTag string
	var seen uint16
	i := jsonscan.SkipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = jsonscan.SkipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		i++
	} else {
		for {
			key, end, ok := jsonscan.PlainString(data, i)
			if !ok {
				return false
			}
			i = jsonscan.SkipSpace(data, end)
			if i >= len(data) || data[i] != ':' {
				return false
			}
			i = jsonscan.SkipSpace(data, i+1)
			field := submitFieldOf(string(key), tag != nil)
			if field < 0 || seen&(1<<field) != 0 {
				return false
			}
			seen |= 1 << field
			if i, ok = decodeSubmitField(data, i, field, &out, &outTag); !ok {
				return false
			}
			i = jsonscan.SkipSpace(data, i)
			if i >= len(data) {
				return false
			}
			if data[i] == '}' {
				i++
				break
			}
			if data[i] != ',' {
				return false
			}
			i = jsonscan.SkipSpace(data, i+1)
		}
	}
	if jsonscan.SkipSpace(data, i) != len(data) {
		return false
	}
	*req = out
	if tag != nil {
		*tag = outTag
	}
	return true
}

// The fields decodeSubmitPlain reads, as bits of its seen set.
const (
	fieldType = iota
	fieldPayload
	fieldQueue
	fieldPriority
	fieldRunAt
	fieldRunIn
	fieldUniqueKey
	fieldMaxAttempts
	fieldTimeout
	fieldTag
)

// submitFieldOf is the field a key names exactly, or -1.
func submitFieldOf(key string, withTag bool) int {
	switch key {
	case "type":
		return fieldType
	case "payload":
		return fieldPayload
	case "queue":
		return fieldQueue
	case "priority":
		return fieldPriority
	case "run_at":
		return fieldRunAt
	case "run_in":
		return fieldRunIn
	case "unique_key":
		return fieldUniqueKey
	case "max_attempts":
		return fieldMaxAttempts
	case "timeout":
		return fieldTimeout
	case "tag":
		if withTag {
			return fieldTag
		}
	}
	return -1
}

// decodeSubmitField reads the value of field at data[i] and returns the
// index past it.
func decodeSubmitField(data []byte, i, field int, req *api.SubmitRequest, tag *string) (int, bool) {
	switch field {
	case fieldPayload:
		end, ok := jsonscan.Value(data, i)
		// A null payload is what encoding/json makes of it; leave it to it.
		if !ok || data[i] == 'n' {
			return 0, false
		}
		req.Payload = append(json.RawMessage(nil), data[i:end]...)
		return end, true
	case fieldPriority, fieldMaxAttempts:
		end, ok := jsonscan.Value(data, i)
		if !ok {
			return 0, false
		}
		n, ok := wholeNumber(data[i:end])
		if !ok {
			return 0, false
		}
		if field == fieldPriority {
			req.Priority = n
		} else {
			req.MaxAttempts = n
		}
		return end, true
	}
	// PlainString refuses what is not UTF-8, which encoding/json would
	// replace.
	s, end, ok := jsonscan.PlainString(data, i)
	if !ok {
		return 0, false
	}
	v := string(s)
	switch field {
	case fieldType:
		req.Type = v
	case fieldQueue:
		req.Queue = v
	case fieldRunAt:
		req.RunAt = v
	case fieldRunIn:
		req.RunIn = v
	case fieldUniqueKey:
		req.UniqueKey = v
	case fieldTimeout:
		req.Timeout = v
	case fieldTag:
		*tag = v
	}
	return end, true
}

// wholeNumber reads a JSON number that encoding/json would put in an int:
// no fraction, no exponent, within range.
func wholeNumber(tok []byte) (int, bool) {
	if len(tok) == 0 || (tok[0] != '-' && (tok[0] < '0' || tok[0] > '9')) {
		return 0, false
	}
	n, err := strconv.Atoi(string(tok))
	return n, err == nil
}
