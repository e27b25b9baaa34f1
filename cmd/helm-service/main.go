// Command helm-service deploys Helm charts in response to Keptn CloudEvents
// on NATS and reports each task back as .started and .finished.
//
//	helm-service            run the service (configuration from the environment)
//	helm-service trigger    send a Keptn event and follow its task
//	helm-service diff       preview what a deployment would change
//	helm-service watch      print every event on the bus
//	helm-service status     list the releases helm-service manages
//	helm-service version    print version information
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
)

// Set at build time with -ldflags "-X main.version=… -X main.commit=…".
var (
	version = "dev"
	commit  = ""
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx)
	case "trigger":
		err = trigger(ctx, args)
	case "diff":
		err = diff(ctx, args)
	case "watch":
		err = watch(ctx, args)
	case "status":
		err = status(ctx, args)
	case "version":
		printVersion()
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		err = &exitError{exitUsage, fmt.Errorf("unknown command %q\n\n%s", cmd, usage)}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helm-service:", err)
		os.Exit(exitCode(err))
	}
}

const usage = `usage:
  helm-service [serve]             run the service; configuration from the environment (see README.md)
  helm-service trigger KIND [flags] [EVENT.json]
                                   send a Keptn event (deployment, release, rollback, action, delete)
                                   and follow it to .finished (trigger -h for flags)
  helm-service diff --project P --stage S --service V [--image I] [--values FILE]
                                   preview what a deployment would change (a dry run); exits 0
                                   when nothing would, 1 when something would, 2 on an error
  helm-service watch               print every event on the bus, one line each
  helm-service status [--project P] [--stage S] [-o table|json]
                                   list the releases helm-service manages (KUBECONFIG),
                                   with strategy, revision, images and traffic split
  helm-service version             print version, commit and Go version
`

func printVersion() {
	c := commit
	if c == "" {
		if info, ok := debug.ReadBuildInfo(); ok {
			for _, s := range info.Settings {
				if s.Key == "vcs.revision" {
					c = s.Value
				}
			}
		}
	}
	fmt.Printf("helm-service %s (commit %s, %s)\n", version, c, runtime.Version())
}
