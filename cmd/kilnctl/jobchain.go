package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"kiln/api"
	"kiln/kilntype"
)

// maxChainShown bounds the children whose state kilnctl job asks for: a
// kind may name many follow-ups, and each is one request.
const maxChainShown = 20

// printChain shows a job's place in its chain: its parent and its
// children, each with the state it is in now.
func printChain(ctx context.Context, client *api.Client, w io.Writer, j *api.Job) {
	if j.Parent != "" {
		fmt.Fprintf(w, "parent    %s\n", chainEntry(ctx, client, j.Parent))
	}
	for i, id := range j.Children {
		label := "children "
		if i > 0 {
			label = "         "
		}
		if i == maxChainShown {
			fmt.Fprintf(w, "%s %d more: kilnctl job -json %s lists them\n", label, len(j.Children)-i, j.ID)
			break
		}
		fmt.Fprintf(w, "%s %s\n", label, chainEntry(ctx, client, id))
	}
}

// chainEntry is one job of a chain: its ID and state, or why there is
// none.
func chainEntry(ctx context.Context, client *api.Client, id string) string {
	j, err := client.Job(ctx, id, 0)
	var reqErr *api.RequestError
	switch {
	case errors.As(err, &reqErr) && reqErr.Status == http.StatusNotFound:
		return id + " (purged)"
	case err != nil:
		return fmt.Sprintf("%s (state unknown: %v)", id, err)
	}
	if j.LastError != "" && j.State.Terminal() && j.State != kilntype.StateSucceeded {
		return fmt.Sprintf("%s (%s: %s)", id, j.State, j.LastError)
	}
	return fmt.Sprintf("%s (%s)", id, j.State)
}
