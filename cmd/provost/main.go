// Command provost is Provost's one binary: serve, check, policy test,
// import and version. It parses flags and wires the internal packages.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes shared by the subcommands.
const (
	exitOK    = 0
	exitNo    = 1 // deny, failing tests, rejected rows
	exitError = 2 // usage or runtime error
)

const usage = `Provost: authorization sidecar and plugin host for learning platforms.

Usage:
  provost serve [--addr A] [--data DIR] [--pack P] [--policy-dir DIR] [--tokens-file F] [--demo]
  provost check --subject ID --action A --resource TYPE:ID [--pack P] [--explain]
                [--data DIR --policy-dir DIR | --server URL [--token T]]
  provost policy test [--pack P] [--policy-dir DIR]
  provost import course-access-roles FILE [--pack P] [--data DIR --policy-dir DIR | --server URL]
  provost version

Run "provost <command> -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError
	}
	switch args[0] {
	case "check":
		return cmdCheck(ctx, args[1:], stdout, stderr)
	case "policy":
		if len(args) < 2 || args[1] != "test" {
			fmt.Fprintln(stderr, "provost policy: want \"provost policy test [--pack P]\"")
			return exitError
		}
		return cmdPolicyTest(ctx, args[2:], stdout, stderr)
	case "import":
		if len(args) < 2 || args[1] != "course-access-roles" {
			fmt.Fprintln(stderr, "provost import: want \"provost import course-access-roles FILE\"")
			return exitError
		}
		return cmdImport(ctx, args[2:], stdout, stderr)
	case "version", "--version", "-v":
		return cmdVersion(stdout)
	case "serve":
		return cmdServe(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "provost: unknown command %q\n\n%s", args[0], usage)
		return exitError
	}
}
