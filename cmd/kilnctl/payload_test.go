package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPayloadFromFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "job.json")
	os.WriteFile(file, []byte(`{"input": "/srv/a.jpg"}`+"\n"), 0o644)
	c := &submitCommand{}
	if err := c.ParseFlags([]string{"-type", "upload", "-payload", "@" + file}); err != nil {
		t.Fatal(err)
	}
	if got := string(c.request("").Payload); got != `{"input": "/srv/a.jpg"}`+"\n" {
		t.Fatalf("payload = %q", got)
	}

	c = &submitCommand{stdin: strings.NewReader(`[1, 2]`)}
	if err := c.ParseFlags([]string{"-type", "upload", "-payload", "@-"}); err != nil || c.payload != `[1, 2]` {
		t.Fatalf("@-: payload %q, %v", c.payload, err)
	}

	big := filepath.Join(dir, "big.json")
	os.WriteFile(big, []byte(`"`+strings.Repeat("x", 64<<10)+`"`), 0o644)
	notJSON := filepath.Join(dir, "text")
	os.WriteFile(notJSON, []byte("hello"), 0o644)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o644)
	for file, want := range map[string]string{
		filepath.Join(dir, "missing"): "-payload @" + filepath.Join(dir, "missing") + ": no such file or directory",
		big:                           "-payload @" + big + ": more than 64 KiB",
		notJSON:                       "-payload is not valid JSON",
		empty:                         "-payload @" + empty + ": is empty",
	} {
		c := &submitCommand{}
		if err := c.ParseFlags([]string{"-type", "upload", "-payload", "@" + file}); err == nil || err.Error() != want {
			t.Errorf("@%s: %v, want %s", file, err, want)
		}
	}
}
