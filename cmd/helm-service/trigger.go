package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/helm-service/helm-service/pkg/events"
)

// trigger sends a trigger event read from a file, with a fresh id, and
// prints the .started and .finished answers to it. It fails when the task
// does not finish in time or finishes errored.
func trigger(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("trigger", flag.ContinueOnError)
	natsURL := fs.String("nats", envOr("NATS_URL", nats.DefaultURL), "NATS server URL")
	timeout := fs.Duration("timeout", 6*time.Minute, "how long to wait for .finished")
	project := fs.String("project", "", "override data.project")
	stage := fs.String("stage", "", "override data.stage")
	service := fs.String("service", "", "override data.service")
	image := fs.String("image", "", "set data.configurationChange.values.image")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: helm-service trigger [flags] EVENT.json\n\nEVENT.json is a CloudEvent in structured JSON, e.g. test/testdata/deployment.triggered.json.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("trigger needs exactly one event file")
	}
	raw, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	var e cloudevents.Event
	if err := json.Unmarshal(raw, &e); err != nil {
		return fmt.Errorf("%s is not a CloudEvent: %w", fs.Arg(0), err)
	}
	task, phase, ok := events.SplitType(e.Type())
	if !ok || phase != events.PhaseTriggered {
		return fmt.Errorf("%s: type %q is not a Keptn .triggered event", fs.Arg(0), e.Type())
	}
	var data map[string]any
	if err := json.Unmarshal(e.Data(), &data); err != nil {
		return fmt.Errorf("%s: data is not a JSON object: %w", fs.Arg(0), err)
	}
	for k, v := range map[string]string{"project": *project, "stage": *stage, "service": *service} {
		if v != "" {
			data[k] = v
		}
	}
	if *image != "" {
		cc, _ := data["configurationChange"].(map[string]any)
		if cc == nil {
			cc = map[string]any{}
		}
		vals, _ := cc["values"].(map[string]any)
		if vals == nil {
			vals = map[string]any{}
		}
		vals["image"] = *image
		cc["values"] = vals
		data["configurationChange"] = cc
	}
	e.SetID(uuid.NewString())
	e.SetTime(time.Now().UTC())
	if err := e.SetData(cloudevents.ApplicationJSON, data); err != nil {
		return err
	}
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}

	nc, err := nats.Connect(*natsURL)
	if err != nil {
		return fmt.Errorf("connect to NATS at %s (is helm-service running? set --nats): %w", *natsURL, err)
	}
	defer nc.Close()
	answers := make(chan *nats.Msg, 16)
	for _, p := range []string{events.PhaseStarted, events.PhaseFinished} {
		sub, err := nc.ChanSubscribe(events.Type(task, p), answers)
		if err != nil {
			return err
		}
		defer func() { _ = sub.Unsubscribe() }()
	}
	if err := nc.Publish(e.Type(), body); err != nil {
		return err
	}
	if err := nc.Flush(); err != nil {
		return err
	}
	fmt.Printf("sent %s id=%s\n", e.Type(), e.ID())

	deadline := time.After(*timeout)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("no %s for id %s within %s", events.Type(task, events.PhaseFinished), e.ID(), *timeout)
		case m := <-answers:
			var answer cloudevents.Event
			if json.Unmarshal(m.Data, &answer) != nil || events.StringExtension(answer, events.ExtTriggeredID) != e.ID() {
				continue
			}
			fmt.Printf("received %s\n%s\n", answer.Type(), answer.Data())
			if answer.Type() != events.Type(task, events.PhaseFinished) {
				continue
			}
			var result events.Common
			_ = json.Unmarshal(answer.Data(), &result)
			if result.Status != events.StatusSucceeded {
				return fmt.Errorf("task %s finished %s: %s", task, result.Status, result.Message)
			}
			return nil
		}
	}
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}
