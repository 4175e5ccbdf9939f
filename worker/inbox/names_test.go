package inbox

import "testing"

func TestIgnoredNames(t *testing.T) {
	for name, want := range map[string]bool{
		"photo.jpg": false, "IMG_0001.JPG": false, "a~b.png": false, "partial.jpg": false,
		".photo.jpg": true, ".": true, "photo.jpg.part": true, "photo.JPG.PART": true,
		"photo.jpg~": true, "photo.jpg.tmp": true, ".photo.jpg.swp": true, "photo.swp": true,
		"photo.jpg.crdownload": true, "photo.jpg.partial": true,
	} {
		if got := ignored(name); got != want {
			t.Errorf("ignored(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestUnusableNames(t *testing.T) {
	if why := unusableName("photo.jpg"); why != "" {
		t.Errorf("photo.jpg: %s", why)
	}
	if why := unusableName("caf\xe9.jpg"); why == "" {
		t.Error("a name that is not UTF-8 is taken")
	}
	long := make([]byte, maxNameBytes+1)
	for i := range long {
		long[i] = 'a'
	}
	if why := unusableName(string(long)); why == "" {
		t.Error("a name too long for .processing is taken")
	}
	if why := unusableName(string(long[:maxNameBytes])); why != "" {
		t.Errorf("a name of %d bytes: %s", maxNameBytes, why)
	}
}

func TestUniqueKeyRoundTrip(t *testing.T) {
	key := "0123456789abcdef0123"
	for _, pipeline := range []string{"web", "a/b", "x-y"} {
		p, k, ok := parseUniqueKey(UniqueKey(pipeline, key))
		if !ok || p != pipeline || k != key {
			t.Errorf("parseUniqueKey(UniqueKey(%q)) = %q, %q, %v", pipeline, p, k, ok)
		}
	}
	for _, s := range []string{"", "event-12", "inbox/web/short", "inbox/web/0123456789ABCDEF0123"} {
		if _, _, ok := parseUniqueKey(s); ok {
			t.Errorf("parseUniqueKey(%q) is an inbox's", s)
		}
	}
}
