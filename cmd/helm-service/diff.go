package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"golang.org/x/term"
	"sigs.k8s.io/yaml"

	"github.com/helm-service/helm-service/pkg/config"
	"github.com/helm-service/helm-service/pkg/events"
)

// Exit codes of `diff`.
const (
	exitNoChanges = 0 // nothing would change
	exitChanges   = 1 // something would change
	exitDiffError = 2 // the command line is wrong, or the dry run failed or timed out
)

const diffUsage = `usage: helm-service diff --project P --stage S --service V [--image IMAGE] [--values FILE] [flags]

Sends a deployment.triggered with deployment.dryRun to helm-service and
prints what the deployment would change: each object created, changed (with
a unified diff of the live object against what would be applied) or deleted.
Secret values are redacted. Nothing is deployed.

Exits 0 when nothing would change, 1 when something would, 2 on an error.

flags:
`

// diff sends a dry run of a deployment and prints its preview.
func diff(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("diff", flag.ContinueOnError)
	bus, busErr := config.LoadBus()
	natsURL := fs.String("nats", natsURLOr(bus, nats.DefaultURL), "NATS server URL")
	timeout := fs.Duration("timeout", 6*time.Minute, "how long to wait for the answer")
	project := fs.String("project", "", "data.project (required)")
	stage := fs.String("stage", "", "data.stage (required)")
	service := fs.String("service", "", "data.service (required)")
	image := fs.String("image", "", "data.configurationChange.values.image")
	valuesFile := fs.String("values", "", "a YAML file of values, data.configurationChange.values (--image goes on top)")
	strategy := fs.String("strategy", "", "data.deployment.deploymentstrategy")
	source := fs.String("source", "helm-service-cli", "CloudEvents source of the sent event")
	fs.SetOutput(io.Discard)
	usage := func(err error) error {
		fs.SetOutput(os.Stderr)
		fmt.Fprint(os.Stderr, diffUsage)
		fs.PrintDefaults()
		return &exitError{exitDiffError, err}
	}
	if err := fs.Parse(args); err != nil {
		return usage(err)
	}
	if fs.NArg() > 0 {
		return usage(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if *project == "" || *stage == "" || *service == "" {
		return usage(errors.New("--project, --stage and --service are required"))
	}
	values := map[string]any{}
	if *valuesFile != "" {
		raw, err := os.ReadFile(*valuesFile)
		if err != nil {
			return usage(err)
		}
		if err := yaml.Unmarshal(raw, &values); err != nil {
			return usage(fmt.Errorf("--values %s: not a YAML map of values: %w", *valuesFile, err))
		}
		if values == nil {
			values = map[string]any{}
		}
	}
	if *image != "" {
		values["image"] = *image
	}
	deployment := map[string]any{"dryRun": true, "deploymentURIsLocal": []string{}, "deploymentURIsPublic": []string{}}
	if *strategy != "" {
		deployment["deploymentstrategy"] = *strategy
	}
	e := cloudevents.NewEvent()
	e.SetType(events.Type(events.TaskDeployment, events.PhaseTriggered))
	e.SetID(uuid.NewString())
	e.SetTime(time.Now().UTC())
	e.SetSource(*source)
	e.SetExtension(events.ExtContext, uuid.NewString())
	e.SetExtension(events.ExtSpecVersion, events.SpecVersion)
	if err := e.SetData(cloudevents.ApplicationJSON, map[string]any{
		"project": *project, "stage": *stage, "service": *service,
		"configurationChange": map[string]any{"values": values},
		"deployment":          deployment,
	}); err != nil {
		return &exitError{exitDiffError, err}
	}
	if busErr != nil {
		return &exitError{exitDiffError, busErr}
	}

	finished, err := sendAndAwait(ctx, bus, *natsURL, e, *timeout)
	if err != nil {
		return &exitError{exitDiffError, err}
	}
	var data events.DeploymentFinished
	if err := json.Unmarshal(finished.Data(), &data); err != nil {
		return &exitError{exitDiffError, fmt.Errorf("the answer is not a deployment.finished: %w", err)}
	}
	if data.Status != events.StatusSucceeded || data.Result == events.ResultFail {
		return &exitError{exitDiffError, fmt.Errorf("dry run finished %s/%s: %s", data.Status, data.Result, data.Message)}
	}
	if data.Deployment == nil || data.Deployment.Preview == nil {
		return &exitError{exitDiffError, fmt.Errorf("the answer carries no deployment.preview (is helm-service older than dry runs?): %s", data.Message)}
	}
	p := data.Deployment.Preview
	printPreview(os.Stdout, *p, term.IsTerminal(int(os.Stdout.Fd())))
	if len(p.Objects) == 0 {
		return nil
	}
	return &exitError{exitChanges, errors.New(data.Message)}
}

// sendAndAwait publishes e and returns the .finished that answers it.
func sendAndAwait(ctx context.Context, bus config.Bus, natsURL string, e cloudevents.Event, timeout time.Duration) (cloudevents.Event, error) {
	finishedType := events.Type(events.TaskDeployment, events.PhaseFinished)
	s, err := send(bus, natsURL, e, finishedType)
	if err != nil {
		return cloudevents.Event{}, err
	}
	defer s.Close()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case <-ctx.Done():
			return cloudevents.Event{}, ctx.Err()
		case <-deadline.C:
			return cloudevents.Event{}, fmt.Errorf("no %s for id %s within %s", finishedType, e.ID(), timeout)
		case m := <-s.answers:
			var answer cloudevents.Event
			if json.Unmarshal(m.Data, &answer) == nil && events.StringExtension(answer, events.ExtTriggeredID) == e.ID() {
				return answer, nil
			}
		}
	}
}

// ANSI colors of the terminal output.
const (
	colorRed    = "\033[31m"
	colorGreen  = "\033[32m"
	colorYellow = "\033[33m"
	colorCyan   = "\033[36m"
	colorReset  = "\033[0m"
)

// printPreview writes a preview, one line per object and the diffs of
// changed ones, colored when color is set.
func printPreview(w io.Writer, p events.Preview, color bool) {
	paint := func(c, s string) string {
		if !color {
			return s
		}
		return c + s + colorReset
	}
	if len(p.Objects) == 0 {
		fmt.Fprintf(w, "no changes (%d objects unchanged)\n", p.Unchanged)
	}
	for _, o := range p.Objects {
		name := o.Name
		if o.Namespace != "" {
			name = o.Namespace + "/" + o.Name
		}
		c := map[string]string{events.PreviewCreated: colorGreen, events.PreviewDeleted: colorRed}[o.Change]
		if c == "" {
			c = colorYellow
		}
		fmt.Fprintln(w, paint(c, o.Change+" "+o.Kind+" "+name))
		for _, l := range strings.SplitAfter(o.Diff, "\n") {
			switch {
			case l == "":
			case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"):
				fmt.Fprint(w, l)
			case strings.HasPrefix(l, "+"):
				fmt.Fprint(w, paint(colorGreen, strings.TrimSuffix(l, "\n"))+"\n")
			case strings.HasPrefix(l, "-"):
				fmt.Fprint(w, paint(colorRed, strings.TrimSuffix(l, "\n"))+"\n")
			case strings.HasPrefix(l, "@@"):
				fmt.Fprint(w, paint(colorCyan, strings.TrimSuffix(l, "\n"))+"\n")
			default:
				fmt.Fprint(w, l)
			}
		}
	}
	if len(p.Objects) > 0 {
		fmt.Fprintf(w, "%d objects would change, %d unchanged\n", len(p.Objects), p.Unchanged)
	}
	if p.Truncated != "" {
		fmt.Fprintln(w, p.Truncated)
	}
}
