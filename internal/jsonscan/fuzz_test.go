package jsonscan

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzValue checks Value against encoding/json.Valid, the behaviour it
// must reproduce.
func FuzzValue(f *testing.F) {
	for _, seed := range []string{
		`{"a":[1,-2.5e+3,"x\u00e9\n",true,false,null,{}],"b":{"c":[]}}`,
		` [ 0 , -0 , 1E-7 , 0.5 ] `,
		`"\"\\\/\b\f\n\r\t\uD83D\uDE00"`,
		"\"raw \xff\xfe invalid UTF-8 and \xe4\xb8\xad\"",
		`{"a" 1}`,
		`[1,]`,
		`01`,
		`1.e5`,
		`"\u12g4"`,
		"\"tab\tin string\"",
		`tru`,
		`{"unterminated":[{"x":`,
		nested(64, `[{"k":`, "null", "}]"),
		nested(10001, "[", "", "]"),
	} {
		f.Add([]byte(seed))
	}
	f.Add(stringPayload)
	f.Add(mixedPayload)
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validText(b), json.Valid(b); got != want {
			t.Fatalf("Value as a whole text = %v, json.Valid = %v for %q", got, want, b)
		}
		// end must be exactly past one value, neither short of it nor
		// into what follows.
		if end, ok := Value(b, 0); ok {
			if end <= 0 || end > len(b) {
				t.Fatalf("Value(%q, 0) end = %d, outside the text", b, end)
			}
			if !json.Valid(b[:end]) {
				t.Fatalf("Value(%q, 0) end = %d, but %q is not a JSON value", b, end, b[:end])
			}
		}
	})
}

// FuzzPlainString checks PlainString against a plain reading of its
// contract and against what encoding/json decodes the string to.
func FuzzPlainString(f *testing.F) {
	for _, seed := range []struct {
		text string
		at   uint16
	}{
		{`"abc"`, 0},
		{`""`, 0},
		{`{"key":"value"}`, 1},
		{`{"key":"value"}`, 7},
		{`"a\"b"`, 0},
		{`"abcdefghijklmnopqrstuvwxyz`, 0},
		{"\"a\tb\"", 0},
		{"\"h\xc3\xa9llo \xe4\xb8\x96\"", 0},
		{"\"bad \xff utf8\"", 0},
		{"\"\xed\xa0\x80\"", 0},
		{`abc`, 0},
		{`"x"`, 3},
	} {
		f.Add([]byte(seed.text), seed.at)
	}
	f.Fuzz(func(t *testing.T, b []byte, at uint16) {
		i := min(int(at), len(b))
		s, end, ok := PlainString(b, i)

		// The contract: a terminated string with no backslash, no control
		// byte and valid UTF-8 is read; anything else is left to
		// encoding/json.
		plain := false
		var body []byte
		if i < len(b) && b[i] == '"' {
			if q := bytes.IndexByte(b[i+1:], '"'); q >= 0 {
				body = b[i+1 : i+1+q]
				plain = bytes.IndexByte(body, '\\') < 0 &&
					bytes.IndexFunc(body, func(r rune) bool { return r < 0x20 }) < 0 &&
					utf8.Valid(body)
			}
		}
		if ok != plain {
			t.Fatalf("PlainString(%q, %d) ok = %v, want %v", b, i, ok, plain)
		}
		if !ok {
			return
		}
		if !bytes.Equal(s, body) || end != i+len(body)+2 {
			t.Fatalf("PlainString(%q, %d) = %q, %d; want %q, %d", b, i, s, end, body, i+len(body)+2)
		}
		var decoded string
		if err := json.Unmarshal(b[i:end], &decoded); err != nil {
			t.Fatalf("PlainString(%q, %d) ok, but encoding/json refuses %q: %v", b, i, b[i:end], err)
		}
		if decoded != string(s) {
			t.Fatalf("PlainString(%q, %d) = %q, encoding/json decodes %q", b, i, s, decoded)
		}
	})
}
