package renderjob

import "testing"

func TestEncoderPackageFollowsTheDebianRelease(t *testing.T) {
	t.Parallel()
	bookworm := parseOSRelease("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n")
	trixie := parseOSRelease("VERSION_ID=\"13\"\nVERSION_CODENAME=trixie\nID=debian\n")
	sid := parseOSRelease("PRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\nVERSION_CODENAME=trixie\nID=debian\n")
	ubuntu := parseOSRelease("ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"24.04\"\n")
	cases := []struct {
		r      debianRelease
		format string
		want   string
	}{
		{bookworm, "avif", "libheif1"},
		{trixie, "avif", "libheif-plugin-aomenc"},
		{sid, "avif", "libheif-plugin-aomenc"},
		{bookworm, "webp", "libvips42"},
		{trixie, "jpeg", "libvips42t64"},
		{ubuntu, "avif", ""},
		{debianRelease{major: 14}, "avif", ""},
	}
	for _, c := range cases {
		if got := encoderPackage(c.format, c.r).name; got != c.want {
			t.Errorf("encoderPackage(%s, Debian %d) = %q, want %q", c.format, c.r.major, got, c.want)
		}
	}
}
