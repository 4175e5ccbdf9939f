package jsonscan

import "unicode/utf8"

// byteClass tables let a string body be scanned with one load and one test
// per byte, whatever makes a byte need attention.
type byteClass [256]bool

// stringStop marks the bytes that end a run of string content Value can
// step over: the closing quote, the start of an escape, and the control
// bytes a string may not hold. Bytes of 0x80 and above are content whether
// or not they form valid UTF-8, because encoding/json.Valid accepts both.
var stringStop = newByteClass(func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 })

// plainStop also stops at every byte of 0x80 and above, so that PlainString
// can check the UTF-8 it hands out: encoding/json decodes invalid UTF-8 to
// U+FFFD, and a sub-slice holding it would not be the decoded string.
var plainStop = newByteClass(func(c byte) bool { return stringStop[c] || c >= utf8.RuneSelf })

var hexDigit = newByteClass(func(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
})

func newByteClass(in func(c byte) bool) byteClass {
	var class byteClass
	for c := range len(class) {
		class[c] = in(byte(c))
	}
	return class
}

// runEnd returns the index of the first byte at or after i that class
// marks, or len(b). It tests eight bytes per branch because the run is
// usually most of a string and strings are most of a payload.
func runEnd(b []byte, i int, class *byteClass) int {
	for ; len(b)-i >= 8; i += 8 {
		w := b[i : i+8 : i+8]
		if class[w[0]] || class[w[1]] || class[w[2]] || class[w[3]] ||
			class[w[4]] || class[w[5]] || class[w[6]] || class[w[7]] {
			break
		}
	}
	for i < len(b) && !class[b[i]] {
		i++
	}
	return i
}

// stringEnd checks the string whose opening quote is b[i] and returns the
// index past its closing quote.
func stringEnd(b []byte, i int) (int, bool) {
	i++
	for {
		i = runEnd(b, i, &stringStop)
		if i >= len(b) {
			return i, false
		}
		switch b[i] {
		case '"':
			return i + 1, true
		case '\\':
			i++
			if i >= len(b) {
				return i, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if len(b)-i < 5 || !hexDigit[b[i+1]] || !hexDigit[b[i+2]] || !hexDigit[b[i+3]] || !hexDigit[b[i+4]] {
					return i, false
				}
				i += 5
			default:
				return i, false
			}
		default: // a control byte
			return i, false
		}
	}
}

// PlainString reads the JSON string that starts at b[i] (b[i] == '"') when
// it holds no escape sequence: s is its content (a sub-slice of b, not
// copied), end the index past the closing quote. ok is false when b[i] is
// not '"', the string is unterminated, holds a control byte below 0x20, or
// holds a backslash (the caller then falls back to encoding/json, which
// decodes escapes).
//
// ok is also false when the content is not valid UTF-8: encoding/json
// decodes each invalid byte to U+FFFD, so s would not be the string the
// fallback yields. s is capped at its length, so that appending to it
// cannot overwrite the text after it.
func PlainString(b []byte, i int) (s []byte, end int, ok bool) {
	if uint(i) >= uint(len(b)) || b[i] != '"' {
		return nil, i, false
	}
	j := i + 1
	for {
		j = runEnd(b, j, &plainStop)
		if j >= len(b) {
			return nil, j, false
		}
		c := b[j]
		if c == '"' {
			return b[i+1 : j : j], j + 1, true
		}
		if c < utf8.RuneSelf { // a backslash or a control byte
			return nil, j, false
		}
		r, size := utf8.DecodeRune(b[j:])
		if r == utf8.RuneError && size == 1 {
			return nil, j, false
		}
		j += size
	}
}
