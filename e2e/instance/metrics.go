package instance

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

// Scrape reads the /metrics of the kilnd whose control socket is socket.
func Scrape(socket string) (string, error) {
	c := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}}
	resp, err := c.Get("http://kilnd/metrics")
	if err != nil {
		return "", fmt.Errorf("scrape %s: %w", socket, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("scrape %s: %w", socket, err)
	}
	return string(body), nil
}

// MetricValue is the value of series (its name and labels as the scrape
// writes them) in a scrape.
func MetricValue(scrape, series string) (string, bool) {
	for _, line := range strings.Split(scrape, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v, true
		}
	}
	return "", false
}
