package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"kiln/api"
)

// timeoutsFrom settles the client's timeouts: a flag given on the command
// line, else its environment variable, else the flag's default.
func timeoutsFrom(fs *flag.FlagSet, response, connect time.Duration) (api.Timeouts, error) {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	t := api.Timeouts{Response: response, Connect: connect}
	for _, o := range []struct {
		flag, env string
		d         *time.Duration
	}{{"timeout", "KILN_TIMEOUT", &t.Response}, {"connect-timeout", "KILN_CONNECT_TIMEOUT", &t.Connect}} {
		if v := os.Getenv(o.env); v != "" && !given[o.flag] {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return t, fmt.Errorf("%s=%q is not a duration such as 30s (0 waits as long as it takes)", o.env, v)
			}
			*o.d = d
		}
		if *o.d < 0 {
			return t, fmt.Errorf("-%s %s: must not be negative (0 waits as long as it takes)", o.flag, *o.d)
		}
	}
	return t, nil
}

// timeoutHint says which timeout ran out and how to give kilnd longer.
func timeoutHint(te *api.TimeoutError) string {
	if te.Op == api.ConnectTimeout {
		return "hint: kilnd did not take the connection; allow longer with -connect-timeout D or $KILN_CONNECT_TIMEOUT (0 waits as long as it takes)"
	}
	return "hint: kilnd may be stopped or overloaded, and may still carry the request out;\n" +
		"      allow longer with -timeout D or $KILN_TIMEOUT (0 waits as long as it takes)"
}
