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
	ok := jsonscan.Object(data, func(name []byte, at int) (int, bool) {
		bit, text, count, payload := submitFieldOf(string(name), &out, &outTag, tag != nil)
		if bit < 0 || seen&(1<<bit) != 0 {
			return 0, false
		}
		seen |= 1 << bit
		switch {
		case payload:
			end, ok := jsonscan.Value(data, at)
			// A null payload is what encoding/json makes of it; leave it to it.
			if !ok || data[at] == 'n' {
				return 0, false
			}
			out.Payload = append(json.RawMessage(nil), data[at:end]...)
			return end, true
		case count != nil:
			end, ok := jsonscan.Value(data, at)
			if !ok {
				return 0, false
			}
			n, ok := wholeNumber(data[at:end])
			*count = n
			return end, ok
		}
		// PlainString refuses what is not UTF-8, which encoding/json would
		// replace.
		s, end, ok := jsonscan.PlainString(data, at)
		*text = string(s)
		return end, ok
	})
	if !ok {
		return false
	}
	*req = out
	if tag != nil {
		*tag = outTag
	}
	return true
}

// submitFieldOf is where the value of the member called name goes: its bit
// in the set of members seen (-1 for a name that is no field, spelled as
// the API spells it), and a string, a count, or the payload.
func submitFieldOf(name string, req *api.SubmitRequest, tag *string, withTag bool) (bit int, text *string, count *int, payload bool) {
	switch name {
	case "type":
		return 0, &req.Type, nil, false
	case "payload":
		return 1, nil, nil, true
	case "queue":
		return 2, &req.Queue, nil, false
	case "priority":
		return 3, nil, &req.Priority, false
	case "run_at":
		return 4, &req.RunAt, nil, false
	case "run_in":
		return 5, &req.RunIn, nil, false
	case "unique_key":
		return 6, &req.UniqueKey, nil, false
	case "max_attempts":
		return 7, nil, &req.MaxAttempts, false
	case "timeout":
		return 8, &req.Timeout, nil, false
	case "tag":
		if withTag {
			return 9, tag, nil, false
		}
	}
	return -1, nil, nil, false
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
