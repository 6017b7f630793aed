package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/provost-lms/provost/internal/importer"
)

func cmdImport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("provost import course-access-roles", flag.ContinueOnError)
	var l localFlags
	l.register(fs)
	// Accept FILE before or after the flags.
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if !parseFlags(fs, args, stderr) {
		return exitError
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "provost import course-access-roles: want exactly one FILE")
		return exitError
	}
	if file == "" {
		fmt.Fprintln(stderr, "provost import course-access-roles: want FILE (a student_courseaccessrole CSV export: user_id,org,course_id,role)")
		return exitError
	}
	f, err := os.Open(file)
	if err != nil {
		fmt.Fprintf(stderr, "provost import: %v\n", err)
		return exitError
	}
	defer f.Close()
	var res importer.Result
	if l.server != "" {
		res, err = importRemote(ctx, l.server, l.bearer(), f)
	} else {
		e, closeAll, oerr := l.openLocal(ctx, false, stderr)
		if oerr != nil {
			fmt.Fprintf(stderr, "provost import: %v\n", oerr)
			return exitError
		}
		defer closeAll()
		res, err = importer.CourseAccessRoles(ctx, f, e, "", "cli:"+filepath.Base(file))
	}
	for _, r := range res.Rejected {
		fmt.Fprintf(stdout, "line %d: rejected: %s\n", r.Line, r.Reason)
	}
	if res.RejectedTotal > len(res.Rejected) {
		fmt.Fprintf(stdout, "… and %d more rejected rows\n", res.RejectedTotal-len(res.Rejected))
	}
	fmt.Fprintf(stdout, "loaded %d rows, rejected %d\n", res.Loaded, res.RejectedTotal)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "provost import: %v\n", err)
		return exitError
	case res.RejectedTotal > 0:
		return exitNo
	}
	return exitOK
}

// importRemote streams the file to a running server's import endpoint.
func importRemote(ctx context.Context, base, token string, body io.Reader) (importer.Result, error) {
	var res importer.Result
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/v1/import/course-access-roles", body)
	if err != nil {
		return res, err
	}
	req.Header.Set("Content-Type", "text/csv")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode != http.StatusOK {
		return res, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(raw)))
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return res, fmt.Errorf("bad response: %v", err)
	}
	if res.RejectedTotal < len(res.Rejected) {
		res.RejectedTotal = len(res.Rejected)
	}
	return res, nil
}
