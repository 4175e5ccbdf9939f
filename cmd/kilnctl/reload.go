package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"

	"kiln/api"
)

// reloadCommand asks kilnd to apply its config file again and waits for the
// answer. The unit's ExecReload= runs it, so `systemctl reload kiln` fails
// and names the problem when kilnd refuses the new file.
type reloadCommand struct {
	json bool
}

func (c *reloadCommand) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("reload", flag.ContinueOnError)
	fs.BoolVar(&c.json, "json", false, `print {"config": FILE} or {"error": ...}`)
	return parseNoArgs(fs, args)
}

func (c *reloadCommand) Run(ctx context.Context, client *api.Client, stdout io.Writer) error {
	file, err := client.Reload(ctx)
	var refused *api.RequestError
	if errors.As(err, &refused) && refused.Status == http.StatusUnprocessableEntity {
		if c.json {
			_ = json.NewEncoder(stdout).Encode(api.Error{Error: refused.Message})
			return errReported
		}
		return fmt.Errorf("kilnd refused the new config and keeps running on the previous one:\n%s", refused.Message)
	}
	if errors.As(err, &refused) && refused.Status == http.StatusNotFound {
		// A kilnd older than this kilnctl, e.g. in the middle of an upgrade.
		return errors.New("this kilnd cannot reload over its socket (it is older than kilnctl); restart it with `systemctl restart kiln`")
	}
	if err != nil {
		return err
	}
	if c.json {
		return json.NewEncoder(stdout).Encode(struct {
			Config string `json:"config"`
		}{file})
	}
	fmt.Fprintf(stdout, "reloaded %s\n", file)
	return nil
}
