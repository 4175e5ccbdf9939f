package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
)

// validText checks a whole text the way a caller of Value does.
func validText(b []byte) bool {
	end, ok := Value(b, SkipSpace(b, 0))
	return ok && SkipSpace(b, end) == len(b)
}

// nested returns depth levels of open, then inner, then depth levels of
// closeWith.
func nested(depth int, open, inner, closeWith string) string {
	return strings.Repeat(open, depth) + inner + strings.Repeat(closeWith, depth)
}

func TestValue_wholeText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		text  string
		valid bool
	}{
		// numbers
		{"zero", `0`, true},
		{"negative zero", `-0`, true},
		{"negative integer", `-12`, true},
		{"fraction", `1.5`, true},
		{"fraction of zero", `0.25`, true},
		{"exponent", `1e5`, true},
		{"capital exponent with plus", `1E+5`, true},
		{"negative exponent", `1e-5`, true},
		{"exponent with leading zeros", `1e007`, true},
		{"fraction and exponent", `-0.0e0`, true},
		{"integer beyond float64 range", `123456789012345678901234567890e999`, true},
		{"leading zero", `01`, false},
		{"negative leading zero", `-01`, false},
		{"leading zero before a fraction", `00.5`, false},
		{"lone minus", `-`, false},
		{"minus then space", `- 1`, false},
		{"minus then fraction", `-.5`, false},
		{"plus sign", `+1`, false},
		{"trailing dot", `1.`, false},
		{"leading dot", `.5`, false},
		{"dot then exponent", `1.e5`, false},
		{"exponent without digits", `1e`, false},
		{"exponent sign without digits", `1e+`, false},
		{"exponent with two signs", `1e+-5`, false},
		{"two dots", `1.2.3`, false},
		{"hexadecimal", `0x10`, false},
		{"NaN", `NaN`, false},
		{"Infinity", `Infinity`, false},
		{"negative Infinity", `-Infinity`, false},
		{"digit separator", `1_000`, false},

		// literals
		{"true", `true`, true},
		{"false", `false`, true},
		{"null", `null`, true},
		{"truncated true", `tru`, false},
		{"truncated null", `nul`, false},
		{"truncated false", `fals`, false},
		{"capitalised True", `True`, false},
		{"true with trailing letter", `truex`, false},
		{"null with extra l", `nulll`, false},
		{"undefined", `undefined`, false},

		// strings
		{"empty string", `""`, true},
		{"every short escape", `"\"\\\/\b\f\n\r\t"`, true},
		{"unicode escape", `"\u00e9"`, true},
		{"unicode escape with upper-case hex", `"\uABCD"`, true},
		{"lone surrogate escape", `"\ud800"`, true},
		{"raw DEL", "\"\x7f\"", true},
		{"raw UTF-8", `"héllo, 世界"`, true},
		{"raw U+2028", "\"\u2028\"", true},
		{"invalid UTF-8 is accepted as encoding/json does", "\"\xff\xfe\"", true},
		{"UTF-8 encoded surrogate is accepted as encoding/json does", "\"\xed\xa0\x80\"", true},
		{"truncated UTF-8 sequence is accepted as encoding/json does", "\"\xe4\xb8\"", true},
		{"escape x", `"\x41"`, false},
		{"escape a", `"\a"`, false},
		{"escaped single quote", `"\'"`, false},
		{"escaped zero", `"\0"`, false},
		{"upper-case U escape", `"\U00e9"`, false},
		{"short unicode escape", `"\u12"`, false},
		{"short unicode escape at end of text", `"\u123`, false},
		{"non-hex digit first in unicode escape", `"\ug123"`, false},
		{"non-hex digit third in unicode escape", `"\u12g4"`, false},
		{"non-hex digit last in unicode escape", `"\u123G"`, false},
		{"sign in unicode escape", `"\u+123"`, false},
		{"backslash at end of text", `"\`, false},
		{"raw tab in string", "\"\t\"", false},
		{"raw newline in string", "\"a\nb\"", false},
		{"NUL in string", "\"\x00\"", false},
		{"unit separator 0x1f in string", "\"\x1f\"", false},
		{"unterminated string", `"abc`, false},
		{"unterminated string after escape", `"abc\"`, false},
		{"lone quote", `"`, false},
		{"single-quoted string", `'a'`, false},

		// arrays and objects
		{"empty array", `[]`, true},
		{"empty object", `{}`, true},
		{"array of every kind", `[0,-1.5e3,"s",true,false,null,[],{}]`, true},
		{"object of every kind", `{"n":1,"s":"x","t":true,"f":false,"z":null,"a":[1],"o":{"k":{}}}`, true},
		{"duplicate names", `{"a":1,"a":2}`, true},
		{"empty name", `{"":1}`, true},
		{"escaped name", `{"\u0041\n":1}`, true},
		{"space between every token", ` { "a" : [ 1 , 2 ] , "b" : { } } `, true},
		{"every kind of whitespace", "\t\r\n [\t1\r,\n2 ]\n\r\t ", true},
		{"unterminated array", `[1`, false},
		{"unterminated array after comma", `[1,`, false},
		{"unterminated empty array", `[`, false},
		{"unterminated object", `{"a":1`, false},
		{"unterminated empty object", `{`, false},
		{"object name without value", `{"a":}`, false},
		{"object ends after colon", `{"a":`, false},
		{"object ends after name", `{"a"`, false},
		{"trailing comma in array", `[1,]`, false},
		{"trailing comma in object", `{"a":1,}`, false},
		{"leading comma in array", `[,1]`, false},
		{"leading comma in object", `{,"a":1}`, false},
		{"double comma", `[1,,2]`, false},
		{"missing comma in array", `[1 2]`, false},
		{"missing comma in object", `{"a":1 "b":2}`, false},
		{"missing colon", `{"a" 1}`, false},
		{"comma instead of colon", `{"a",1}`, false},
		{"double colon", `{"a"::1}`, false},
		{"colon in array", `[1:2]`, false},
		{"unquoted name", `{a:1}`, false},
		{"number as name", `{1:1}`, false},
		{"name without value in array style", `{"a"}`, false},
		{"array closed by brace", `[}`, false},
		{"object closed by bracket", `{]`, false},
		{"inner array closed by brace", `{"a":[1}}`, false},
		{"close without open", `]`, false},
		{"extra closing bracket", `[]]`, false},

		// whole text
		{"empty text", ``, false},
		{"only whitespace", " \t\r\n", false},
		{"space around a number", "  12  ", true},
		{"two values", `1 2`, false},
		{"two objects", `{}{}`, false},
		{"line comment", "// note\n1", false},
		{"block comment", `/* note */1`, false},
		{"byte order mark", "\xef\xbb\xbf1", false},
		{"form feed is not whitespace", "\f1", false},
		{"vertical tab is not whitespace", "\v1", false},
		{"no-break space is not whitespace", "\u00a01", false},
		{"NUL after value", "1\x00", false},

		// nesting
		{"depth 10000 arrays", nested(10000, "[", "", "]"), true},
		{"depth 10001 arrays", nested(10001, "[", "", "]"), false},
		{"depth 10000 arrays around a number", nested(10000, "[", "1", "]"), true},
		{"depth 10000 objects", nested(9999, `{"a":`, "{}", "}"), true},
		{"depth 10001 objects", nested(10000, `{"a":`, "{}", "}"), false},
		{"depth 10000 mixed", nested(5000, `[{"k":`, "0", "}]"), true},
		{"depth 10001 mixed", nested(5000, `[{"k":`, "[]", "}]"), false},
		{"depth 10000 unterminated", strings.Repeat("[", 10000), false},
		{"depth 10000 closed by the wrong bracket", nested(10000, "[", "", "}"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := []byte(tc.text)
			if got := json.Valid(b); got != tc.valid {
				t.Fatalf("json.Valid = %v, the case says %v", got, tc.valid)
			}
			if got := validText(b); got != tc.valid {
				t.Errorf("Value as a whole text = %v, want %v", got, tc.valid)
			}
		})
	}
}

func TestValue_endInsideText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		text    string
		i       int
		wantEnd int
		wantOK  bool
	}{
		{"member value followed by more members", `{"skip":[1,{"x":"y"}],"next":2}`, 8, 21, true},
		{"string member value", `{"a":"b\"c","d":0}`, 5, 11, true},
		{"number stops at a comma", `123,`, 0, 3, true},
		{"number stops at a letter", `1.5xyz`, 0, 3, true},
		{"zero stops before a second digit", `01`, 0, 1, true},
		{"literal stops at a letter", `truex`, 0, 4, true},
		{"object stops at its brace", `{} []`, 0, 2, true},
		{"trailing space is not consumed", `[1] `, 0, 3, true},
		{"leading space is not skipped", ` 1`, 0, 0, false},
		{"start at end of text", `1`, 1, 0, false},
		{"start past end of text", `1`, 2, 0, false},
		{"negative start", `1`, -1, 0, false},
		{"start at a comma", `1,2`, 1, 0, false},
		{"start at a closing bracket", `[]`, 1, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			end, ok := Value([]byte(tc.text), tc.i)
			if ok != tc.wantOK || ok && end != tc.wantEnd {
				t.Errorf("Value(%q, %d) = %d, %v; want %d, %v", tc.text, tc.i, end, ok, tc.wantEnd, tc.wantOK)
			}
		})
	}
}

func TestSkipSpace(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		text string
		i    int
		want int
	}{
		{"no space", `1`, 0, 0},
		{"every kind of whitespace", " \t\r\n1", 0, 4},
		{"from inside the text", `[ 1]`, 1, 2},
		{"only space", "  ", 0, 2},
		{"empty text", ``, 0, 0},
		{"already at end", `1`, 1, 1},
		{"form feed is not whitespace", " \f", 0, 1},
		{"no-break space is not whitespace", "\u00a0", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := SkipSpace([]byte(tc.text), tc.i); got != tc.want {
				t.Errorf("SkipSpace(%q, %d) = %d, want %d", tc.text, tc.i, got, tc.want)
			}
		})
	}
}
