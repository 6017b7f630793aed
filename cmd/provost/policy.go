package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/provost-lms/provost/internal/policytest"
)

func cmdPolicyTest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("provost policy test", flag.ContinueOnError)
	packName := fs.String("pack", "", "pack to test (default: every pack under rego/)")
	policyDir := fs.String("policy-dir", env("PROVOST_POLICY_DIR", "."), "directory holding model.conf, policies/ and rego/")
	if !parseFlags(fs, args, stderr) {
		return exitError
	}
	packs := []string{*packName}
	if *packName == "" {
		entries, err := os.ReadDir(*policyDir + "/rego")
		if err != nil {
			fmt.Fprintf(stderr, "provost policy test: %v\n", err)
			return exitError
		}
		packs = packs[:0]
		for _, e := range entries {
			if e.IsDir() {
				packs = append(packs, e.Name())
			}
		}
	}
	tmp, err := os.MkdirTemp("", "provost-policytest-")
	if err != nil {
		fmt.Fprintf(stderr, "provost policy test: %v\n", err)
		return exitError
	}
	defer os.RemoveAll(tmp)
	code := exitOK
	for i, p := range packs {
		dir, err := os.MkdirTemp(tmp, "")
		if err != nil {
			fmt.Fprintf(stderr, "provost policy test: %v\n", err)
			return exitError
		}
		rep, err := policytest.Run(ctx, *policyDir, p, dir)
		if err != nil {
			fmt.Fprintf(stderr, "provost policy test: %v\n", err)
			return exitError
		}
		_ = i
		fmt.Fprint(stdout, rep.String())
		if !rep.OK() {
			code = exitNo
		}
	}
	return code
}
