package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/provost-lms/provost/internal/engine"
)

func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("provost check", flag.ContinueOnError)
	var l localFlags
	l.register(fs)
	subject := fs.String("subject", "", "subject user id (required)")
	action := fs.String("action", "", "action name, e.g. studio.edit_content (required)")
	resource := fs.String("resource", "", "resource as TYPE:ID, e.g. course:course-v1:Marvel+CS101+2026 (required)")
	props := fs.String("resource-properties", "", "resource properties as a JSON object")
	ctxJSON := fs.String("context", "", "request context as a JSON object, e.g. {\"target_org\":\"DC\"}")
	explain := fs.Bool("explain", false, "print the reason and decision id")
	if !parseFlags(fs, args, stderr) {
		return exitError
	}
	typ, id, ok := strings.Cut(*resource, ":")
	var missing []string
	for name, v := range map[string]string{"--subject": *subject, "--action": *action, "--resource": *resource} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 || !ok || typ == "" || id == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "provost check: want --subject ID --action A --resource TYPE:ID")
		if len(missing) > 0 {
			fmt.Fprintf(stderr, "missing: %s\n", strings.Join(missing, ", "))
		}
		return exitError
	}
	req := engine.Request{
		Subject:  engine.Entity{Type: engine.SubjectUser, ID: *subject},
		Action:   engine.Action{Name: *action},
		Resource: engine.Entity{Type: typ, ID: id},
	}
	for flagName, src := range map[string]string{"--resource-properties": *props, "--context": *ctxJSON} {
		if src == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(src), &m); err != nil {
			fmt.Fprintf(stderr, "provost check: %s: not a JSON object: %v\n", flagName, err)
			return exitError
		}
		if flagName == "--context" {
			req.Context = m
		} else {
			req.Resource.Properties = m
		}
	}
	var d engine.Decision
	if l.server != "" {
		var err error
		if d, err = checkRemote(ctx, l.server, l.bearer(), &req); err != nil {
			fmt.Fprintf(stderr, "provost check: %v\n", err)
			return exitError
		}
	} else {
		e, closeAll, err := l.openLocal(ctx, true, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "provost check: %v\n", err)
			return exitError
		}
		defer closeAll()
		d = e.Decide(ctx, &req)
	}
	verdict := "deny"
	if d.Allow {
		verdict = "allow"
	}
	fmt.Fprintln(stdout, verdict)
	if *explain {
		fmt.Fprintf(stdout, "reason: %s\n", d.Reason)
		if d.Error != "" {
			fmt.Fprintf(stdout, "error: %s\n", d.Error)
		}
		if d.ID != "" {
			fmt.Fprintf(stdout, "decision_id: %s\n", d.ID)
		}
		if d.Revision != "" {
			fmt.Fprintf(stdout, "revision: %s\n", d.Revision)
		}
	}
	if d.Error != "" && !*explain {
		fmt.Fprintf(stderr, "provost check: evaluation error: %s\n", d.Error)
	}
	if d.Allow {
		return exitOK
	}
	return exitNo
}

// checkRemote asks a running server's AuthZEN evaluation endpoint.
func checkRemote(ctx context.Context, base, token string, req *engine.Request) (engine.Decision, error) {
	body := map[string]any{"subject": req.Subject, "action": req.Action, "resource": req.Resource,
		"context": map[string]any{"explain": true}}
	for k, v := range req.Context {
		body["context"].(map[string]any)[k] = v
	}
	b, _ := json.Marshal(body)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/access/v1/evaluation", bytes.NewReader(b))
	if err != nil {
		return engine.Decision{}, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	if token != "" {
		hreq.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(hreq)
	if err != nil {
		return engine.Decision{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return engine.Decision{}, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(raw)))
	}
	var out struct {
		Decision bool `json:"decision"`
		Context  struct {
			Reason     string `json:"reason"`
			DecisionID string `json:"decision_id"`
			Error      string `json:"error"`
		} `json:"context"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return engine.Decision{}, fmt.Errorf("bad response: %v", err)
	}
	return engine.Decision{Allow: out.Decision, Reason: out.Context.Reason, ID: out.Context.DecisionID, Error: out.Context.Error}, nil
}
