package jsonscan

import "testing"

func TestPlainString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		text    string
		i       int
		want    string
		wantEnd int
		wantOK  bool
	}{
		{"plain", `"abc"`, 0, "abc", 5, true},
		{"empty", `""`, 0, "", 2, true},
		{"followed by more text", `"ab", "cd"`, 0, "ab", 4, true},
		{"member name", `{"key":"value"}`, 1, "key", 6, true},
		{"member value", `{"key":"value"}`, 7, "value", 14, true},
		{"long enough for the eight-byte loop", `"abcdefghijklmnopqrstuvwxyz"`, 0, "abcdefghijklmnopqrstuvwxyz", 28, true},
		{"valid UTF-8", `"héllo, 世界 🙂"`, 0, "héllo, 世界 🙂", len(`"héllo, 世界 🙂"`), true},
		{"raw DEL", "\"\x7f\"", 0, "\x7f", 3, true},
		{"slash is not an escape", `"a/b"`, 0, "a/b", 5, true},
		{"escaped quote", `"a\"b"`, 0, "", 0, false},
		{"escaped letter", `"a\nb"`, 0, "", 0, false},
		{"escape far into the string", `"abcdefghijklmnop\u0041"`, 0, "", 0, false},
		{"unterminated", `"abc`, 0, "", 0, false},
		{"unterminated after eight bytes", `"abcdefghij`, 0, "", 0, false},
		{"lone quote", `"`, 0, "", 0, false},
		{"raw tab", "\"a\tb\"", 0, "", 0, false},
		{"NUL", "\"\x00\"", 0, "", 0, false},
		{"not a string", `abc`, 0, "", 0, false},
		{"number", `12`, 0, "", 0, false},
		{"leading space is not skipped", ` "a"`, 0, "", 0, false},
		{"start at end of text", `"a"`, 3, "", 0, false},
		{"negative start", `"a"`, -1, "", 0, false},
		// encoding/json decodes these bytes to U+FFFD, so the raw bytes
		// are not the string; the fallback must decode them.
		{"invalid UTF-8", "\"a\xffb\"", 0, "", 0, false},
		{"truncated UTF-8 sequence", "\"\xe4\xb8\"", 0, "", 0, false},
		{"UTF-8 encoded surrogate", "\"\xed\xa0\x80\"", 0, "", 0, false},
		{"overlong UTF-8", "\"\xc0\xaf\"", 0, "", 0, false},
		{"UTF-8 sequence cut by end of text", "\"\xe4\xb8", 0, "", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := []byte(tc.text)
			s, end, ok := PlainString(b, tc.i)
			if ok != tc.wantOK {
				t.Fatalf("PlainString(%q, %d) ok = %v, want %v", tc.text, tc.i, ok, tc.wantOK)
			}
			if !ok {
				return
			}
			if string(s) != tc.want || end != tc.wantEnd {
				t.Errorf("PlainString(%q, %d) = %q, %d; want %q, %d", tc.text, tc.i, s, end, tc.want, tc.wantEnd)
			}
			if cap(s) != len(s) {
				t.Errorf("cap(s) = %d, want len(s) = %d so that appending copies", cap(s), len(s))
			}
			if len(s) > 0 && &s[0] != &b[tc.i+1] {
				t.Errorf("s is a copy, want a sub-slice of the text")
			}
		})
	}
}
