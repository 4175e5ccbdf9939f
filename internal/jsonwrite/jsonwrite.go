// Package jsonwrite writes JSON values into a byte slice as
// encoding/json's Marshal writes them, byte for byte, without reflection:
// the hot paths (an event, the answer to a submit, a job's message) write
// their fields by hand and share these for the values that need escaping.
package jsonwrite

import (
	"time"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// String appends s quoted as json.Marshal quotes a string: '"' and '\\'
// escaped, control characters as \b \f \n \r \t or \u00XX, '<', '>' and
// '&' as \u003c \u003e \u0026 (Marshal's HTML escaping), U+2028 and U+2029
// escaped, and each byte that is not UTF-8 as \ufffd. Plain ASCII, the
// usual case, is copied in one piece.
func String(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Time appends t as time.Time's MarshalJSON writes it: RFC 3339 with
// nanoseconds, quoted. A year outside 0–9999, which MarshalJSON refuses,
// is written all the same, so that what holds it stays readable; a caller
// that must match Marshal checks the year first.
func Time(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}
