package daemon

import (
	"net/url"
	"strings"
)

// kiln's config holds no password, key or token of its own: those live in
// the files that broker.password_file, webhooks.secret_file and
// http.tokens name, which -print-config does not read. What may still
// carry a secret is a URL (a password, or a token in its query) and a
// command's environment, so -print-config, whose output is made to be
// pasted into a ticket, shows those parts as masked.

// masked stands for a secret in -print-config's output.
const masked = "***"

// maskSecrets is the string at key as -print-config shows it: the value of
// an env entry (KEY=value) masked, and the password and query of a URL,
// wherever it is (a notify_url, a broker URL, a command's argument).
func maskSecrets(key, s string) string {
	if lastKeyName(key) == "env" {
		if name, _, ok := strings.Cut(s, "="); ok {
			return name + "=" + masked
		}
	}
	return maskURL(s)
}

// maskURL masks the password and the query of s when s is a URL with a
// host; anything else is returned as it is.
func maskURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return s
	}
	changed := false
	if u.User != nil {
		if _, set := u.User.Password(); set {
			u.User = url.UserPassword(u.User.Username(), "PASSWORD")
			changed = true
		}
	}
	if u.RawQuery != "" || u.ForceQuery {
		u.RawQuery, u.ForceQuery = "QUERY", false
		changed = true
	}
	if !changed {
		return s
	}
	// url.URL would escape the mask itself; placeholders keep it as it is.
	out := u.String()
	out = strings.Replace(out, ":PASSWORD@", ":"+masked+"@", 1)
	out = strings.Replace(out, "?QUERY", "?"+masked, 1)
	return out
}

// lastKeyName is the name of the value at key, less an array index: "env"
// for "commands.x.env[2]", "name" for "pipelines.web.variants[1].name".
func lastKeyName(key string) string {
	if i := strings.LastIndexByte(key, '['); i >= 0 && strings.HasSuffix(key, "]") {
		key = key[:i]
	}
	return key[strings.LastIndexByte(key, '.')+1:]
}
