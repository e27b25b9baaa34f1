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

	"github.com/helm-service/helm-service/pkg/config"
	"github.com/helm-service/helm-service/pkg/events"
)

// Exit codes of `trigger --wait`.
const (
	exitPass    = 0 // the task finished succeeded with result pass or warning
	exitFailed  = 1 // the task finished errored or with result fail
	exitUsage   = 2 // the command line is wrong
	exitTimeout = 3 // no .finished within --timeout
)

// exitError carries a process exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// kinds maps the trigger kinds of the CLI to the event they publish and the
// event that answers it.
var kinds = map[string]struct{ send, answer string }{
	"deployment": {events.Type(events.TaskDeployment, events.PhaseTriggered), events.TaskDeployment},
	"release":    {events.Type(events.TaskRelease, events.PhaseTriggered), events.TaskRelease},
	"rollback":   {events.Type(events.TaskRollback, events.PhaseTriggered), events.TaskRollback},
	"action":     {events.Type(events.TaskAction, events.PhaseTriggered), events.TaskAction},
	// The control plane announces a deleted service with service.delete.finished;
	// helm-service answers with its own service.delete.finished.
	"delete": {events.Type(events.TaskServiceDelete, events.PhaseFinished), events.TaskServiceDelete},
}

const triggerUsage = `usage: helm-service trigger KIND [flags] [EVENT.json]

KIND is deployment, release, rollback, action or delete. The event is built
from the flags, on top of EVENT.json when given (a CloudEvent in structured
JSON, e.g. test/testdata/deployment.triggered.json; its type then names the
kind and KIND may be left out). Every send gets a fresh id.

With --wait (the default) the command follows the task until .finished and
exits 0 on pass or warning, 1 on fail or errored, 3 when no .finished came in
time; 2 means the command line was wrong.

flags:
`

// trigger publishes a Keptn event and, with --wait, follows its task.
func trigger(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("trigger", flag.ContinueOnError)
	// The service's NATS settings: NATS_URL is --nats's default; a mistake
	// in them is reported once the command line is known to be good.
	bus, busErr := config.LoadBus()
	natsURL := fs.String("nats", natsURLOr(bus, nats.DefaultURL), "NATS server URL")
	wait := fs.Bool("wait", true, "follow the task until .finished")
	timeout := fs.Duration("timeout", 6*time.Minute, "how long --wait waits for .finished")
	project := fs.String("project", "", "data.project")
	stage := fs.String("stage", "", "data.stage")
	service := fs.String("service", "", "data.service")
	image := fs.String("image", "", "data.configurationChange.values.image (deployment)")
	strategy := fs.String("strategy", "", "data.deployment.deploymentstrategy (deployment)")
	result := fs.String("result", "", "data.result (release: pass, warning or fail)")
	value := fs.String("value", "", "data.action.value, the replica increment (action scaling)")
	action := fs.String("action", events.ActionScaling, "data.action.action: scaling, rollback or restart (action)")
	source := fs.String("source", "helm-service-cli", "CloudEvents source of the sent event")
	fs.SetOutput(io.Discard)
	usage := func(err error) error {
		fs.SetOutput(os.Stderr)
		fmt.Fprint(os.Stderr, triggerUsage)
		fs.PrintDefaults()
		return &exitError{exitUsage, err}
	}

	kind := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") && !strings.HasSuffix(args[0], ".json") {
		kind, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return usage(err)
	}
	if fs.NArg() > 1 {
		return usage(errors.New("at most one event file"))
	}

	e := cloudevents.NewEvent()
	data := map[string]any{}
	if fs.NArg() == 1 {
		raw, err := os.ReadFile(fs.Arg(0))
		if err != nil {
			return usage(err)
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			return usage(fmt.Errorf("%s is not a CloudEvent: %w", fs.Arg(0), err))
		}
		if err := json.Unmarshal(e.Data(), &data); err != nil {
			return usage(fmt.Errorf("%s: data is not a JSON object: %w", fs.Arg(0), err))
		}
		if kind == "" {
			kind = kindOf(e.Type())
		}
	}
	k, ok := kinds[kind]
	if !ok {
		return usage(fmt.Errorf("unknown kind %q: use deployment, release, rollback, action or delete", kind))
	}
	e.SetType(k.send)
	e.SetID(uuid.NewString())
	e.SetTime(time.Now().UTC())
	if e.Source() == "" || fs.NArg() == 0 {
		e.SetSource(*source)
	}
	if events.StringExtension(e, events.ExtContext) == "" {
		e.SetExtension(events.ExtContext, uuid.NewString())
	}
	e.SetExtension(events.ExtSpecVersion, events.SpecVersion)

	set := func(v string, path ...string) {
		if v == "" {
			return
		}
		m := data
		for _, p := range path[:len(path)-1] {
			next, _ := m[p].(map[string]any)
			if next == nil {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[path[len(path)-1]] = v
	}
	set(*project, "project")
	set(*stage, "stage")
	set(*service, "service")
	set(*image, "configurationChange", "values", "image")
	set(*strategy, "deployment", "deploymentstrategy")
	set(*result, "result")
	if kind == "action" {
		set(*action, "action", "action")
		set(*value, "action", "value")
	}
	if err := e.SetData(cloudevents.ApplicationJSON, data); err != nil {
		return err
	}
	if busErr != nil {
		return busErr
	}
	answerSubject := ""
	if *wait {
		answerSubject = events.Prefix + k.answer + ".>"
	}
	s, err := send(bus, *natsURL, e, answerSubject)
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Printf("sent %s id=%s shkeptncontext=%s\n", e.Type(), e.ID(), events.StringExtension(e, events.ExtContext))
	if !*wait {
		return nil
	}
	return follow(ctx, e, k.answer, s.answers, *timeout, newProgress(os.Stdout))
}

// kindOf returns the CLI kind of an event type, or "".
func kindOf(eventType string) string {
	for name, k := range kinds {
		if k.send == eventType {
			return name
		}
	}
	return ""
}

// follow reads the answers to sent until its .finished arrives.
func follow(ctx context.Context, sent cloudevents.Event, task string, answers <-chan *nats.Msg, timeout time.Duration, p *progress) error {
	start := time.Now()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	finishedType := events.Type(task, events.PhaseFinished)
	phase := "waiting for .started"
	for {
		select {
		case <-ctx.Done():
			p.done()
			return ctx.Err()
		case <-deadline.C:
			p.done()
			return &exitError{exitTimeout, fmt.Errorf("no %s for id %s within %s", finishedType, sent.ID(), timeout)}
		case <-tick.C:
			p.update(phase, time.Since(start))
		case m := <-answers:
			var answer cloudevents.Event
			if json.Unmarshal(m.Data, &answer) != nil || answer.ID() == sent.ID() {
				continue
			}
			// delete is answered by an event of the sent type itself; the
			// others name the trigger in triggeredid.
			if answer.Type() == sent.Type() {
				if answer.Source() == sent.Source() {
					continue
				}
			} else if events.StringExtension(answer, events.ExtTriggeredID) != sent.ID() {
				continue
			}
			var data events.Common
			_ = json.Unmarshal(answer.Data(), &data)
			_, answerPhase, _ := events.SplitType(answer.Type())
			phase = answerPhase + " by " + answer.Source()
			p.line(fmt.Sprintf("%s %s (%s)", answer.Type(), summary(data), time.Since(start).Round(time.Millisecond)))
			if answer.Type() != finishedType {
				continue
			}
			p.done()
			fmt.Println(string(answer.Data()))
			if data.Status != events.StatusSucceeded || data.Result == events.ResultFail {
				return &exitError{exitFailed, fmt.Errorf("%s finished %s/%s: %s", task, data.Status, data.Result, data.Message)}
			}
			return nil
		}
	}
}

func summary(d events.Common) string {
	parts := []string{}
	for _, s := range []string{d.Status, d.Result} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	s := strings.Join(parts, "/")
	if d.Message != "" {
		s += ": " + d.Message
	}
	return s
}

// progress shows a spinner with the elapsed time and phase on a terminal,
// and only plain lines otherwise.
type progress struct {
	out      *os.File
	terminal bool
	frame    int
}

func newProgress(out *os.File) *progress {
	return &progress{out: out, terminal: term.IsTerminal(int(out.Fd()))}
}

var spinner = []string{"|", "/", "-", `\`}

func (p *progress) update(phase string, elapsed time.Duration) {
	if !p.terminal {
		return
	}
	p.frame++
	fmt.Fprintf(p.out, "\r\033[K%s %s  %s", spinner[p.frame%len(spinner)], elapsed.Round(100*time.Millisecond), phase)
}

func (p *progress) line(s string) {
	if p.terminal {
		fmt.Fprint(p.out, "\r\033[K")
	}
	fmt.Fprintln(p.out, s)
}

func (p *progress) done() {
	if p.terminal {
		fmt.Fprint(p.out, "\r\033[K")
	}
}

// natsURLOr is the service's NATS_URL, or fallback when it has none (it
// starts an embedded server then).
func natsURLOr(bus config.Bus, fallback string) string {
	if bus.URL != "" {
		return bus.URL
	}
	return fallback
}

// exitCode is the process exit code for err.
func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return exitFailed
}
