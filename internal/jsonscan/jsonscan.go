// Package jsonscan checks JSON text in one pass without allocating, so that
// a hot path can read a small document itself instead of paying for
// encoding/json's validation pass followed by its decoding pass.
//
// It accepts exactly the text that [encoding/json.Valid] accepts: RFC 8259,
// with invalid UTF-8 inside strings allowed and nesting limited to 10000
// objects and arrays. A caller that finds something it does not handle
// itself (an escaped string, say) hands that part to encoding/json.
package jsonscan

// SkipSpace returns the index of the first byte at or after i that is not
// JSON whitespace (space, \t, \n, \r), so that a caller reading tokens
// itself steps over what the grammar allows between them.
func SkipSpace(b []byte, i int) int {
	for i < len(b) {
		// Most bytes that follow a token are not space at all; one
		// comparison settles them.
		if c := b[i]; c > ' ' || c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return i
		}
		i++
	}
	return i
}

// maxDepth is encoding/json's limit on nested objects and arrays; a deeper
// text must be refused here too, or Value and encoding/json would disagree
// about it.
const maxDepth = 10000

// containerKinds records, one bit per open object or array, whether it is
// an object. A fixed array rather than a slice keeps Value from allocating
// and bounds it by maxDepth.
type containerKinds [(maxDepth + 63) / 64]uint64

func (k *containerKinds) set(depth int, object bool) {
	w, bit := uint(depth)/64, uint64(1)<<(uint(depth)%64)
	if object {
		k[w] |= bit
	} else {
		k[w] &^= bit
	}
}

func (k *containerKinds) isObject(depth int) bool {
	return k[uint(depth)/64]&(uint64(1)<<(uint(depth)%64)) != 0
}

// Value checks the one JSON value that starts at b[i] (no leading whitespace
// skipped) and returns the index just past it. ok is false when b[i:] does
// not start with a valid JSON value (then end is meaningless).
//
// Value stops at the end of the value and does not judge what follows, so
// that a caller can use it to step over a member it does not read inside a
// larger text; checking that a whole text is one value is then
//
//	end, ok := Value(b, SkipSpace(b, 0))
//	valid := ok && SkipSpace(b, end) == len(b)
//
// A number is read as far as it goes, as encoding/json reads it: "1." and
// "1e" are refused rather than read as 1, while "01" is read as 0, leaving
// the caller to refuse the 1 that follows.
//
// It walks nested objects and arrays with a loop and a bit per level rather
// than by recursion, so that a deep text costs no more stack than a flat one
// and nothing is allocated.
func Value(b []byte, i int) (end int, ok bool) {
	var kinds containerKinds
	depth := 0
	for {
		// i is at the first byte of a value.
		if uint(i) >= uint(len(b)) {
			return i, false
		}
		switch b[i] {
		case '{', '[':
			if depth == maxDepth {
				return i, false
			}
			object := b[i] == '{'
			kinds.set(depth, object)
			depth++
			i = SkipSpace(b, i+1)
			if i < len(b) && b[i] == closer(object) {
				i++
				depth--
				break
			}
			if object {
				if i, ok = memberName(b, i); !ok {
					return i, false
				}
			}
			continue
		case '"':
			if i, ok = stringEnd(b, i); !ok {
				return i, false
			}
		case 't':
			if i, ok = literalEnd(b, i, "true"); !ok {
				return i, false
			}
		case 'f':
			if i, ok = literalEnd(b, i, "false"); !ok {
				return i, false
			}
		case 'n':
			if i, ok = literalEnd(b, i, "null"); !ok {
				return i, false
			}
		default:
			if i, ok = numberEnd(b, i); !ok {
				return i, false
			}
		}
		// A value ends just before i: close the containers it completes,
		// up to the one that goes on with another element.
		for {
			if depth == 0 {
				return i, true
			}
			i = SkipSpace(b, i)
			if i >= len(b) {
				return i, false
			}
			object := kinds.isObject(depth - 1)
			if b[i] == ',' {
				i = SkipSpace(b, i+1)
				if object {
					if i, ok = memberName(b, i); !ok {
						return i, false
					}
				}
				break
			}
			if b[i] != closer(object) {
				return i, false
			}
			i++
			depth--
		}
	}
}

// closer is the byte that closes an object or an array.
func closer(object bool) byte {
	if object {
		return '}'
	}
	return ']'
}

// memberName checks an object member's name and the colon after it,
// starting at the opening quote, and returns the index of the member's
// value.
func memberName(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return i, false
	}
	i, ok := stringEnd(b, i)
	if !ok {
		return i, false
	}
	i = SkipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return i, false
	}
	return SkipSpace(b, i+1), true
}

func literalEnd(b []byte, i int, word string) (int, bool) {
	if len(b)-i < len(word) || string(b[i:i+len(word)]) != word {
		return i, false
	}
	return i + len(word), true
}

// numberEnd checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at b[i].
// A fraction or exponent once begun must be complete ("1." and "1e" are
// refused, not read as "1"), as encoding/json reads them.
func numberEnd(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return i, false
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		i = digitsEnd(b, i+1)
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return i, false
		}
		i = digitsEnd(b, i+1)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return i, false
		}
		i = digitsEnd(b, i+1)
	}
	return i, true
}

func digitsEnd(b []byte, i int) int {
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return i
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// Object reads b as one JSON object and nothing else but space, calling
// member with each member's name and the index of its value; member
// returns the index past the value, or false to stop the read. It reports
// false for a text that is not such an object, and for a member name that
// is not a PlainString (an escape, say), which a caller that matches names
// byte for byte cannot judge.
func Object(b []byte, member func(name []byte, at int) (end int, ok bool)) bool {
	i := SkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return SkipSpace(b, i+1) == len(b)
	}
	for {
		name, end, ok := PlainString(b, i)
		if !ok {
			return false
		}
		i = SkipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		if i, ok = member(name, SkipSpace(b, i+1)); !ok {
			return false
		}
		i = SkipSpace(b, i)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case '}':
			return SkipSpace(b, i+1) == len(b)
		case ',':
			i = SkipSpace(b, i+1)
		default:
			return false
		}
	}
}
