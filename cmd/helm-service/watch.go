package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go"

	"github.com/helm-service/helm-service/pkg/config"
	"github.com/helm-service/helm-service/pkg/events"
)

// watch prints every Keptn event on the bus, one line each, until
// interrupted.
func watch(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	// The service's NATS settings: NATS_URL is --nats's default; a mistake
	// in them is reported once the command line is known to be good.
	bus, busErr := config.LoadBus()
	natsURL := fs.String("nats", natsURLOr(bus, nats.DefaultURL), "NATS server URL")
	subject := fs.String("subject", events.Prefix+">", "NATS subject to watch")
	if err := fs.Parse(args); err != nil {
		return &exitError{exitUsage, err}
	}
	if busErr != nil {
		return busErr
	}
	nc, err := natsAuth(bus).Dial(*natsURL)
	if err != nil {
		return fmt.Errorf("connect to NATS at %s (set --nats or NATS_URL): %w", *natsURL, err)
	}
	defer nc.Close()
	msgs := make(chan *nats.Msg, 1024)
	sub, err := nc.ChanSubscribe(*subject, msgs)
	if err != nil {
		return err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "watching %s on %s\n", *subject, nc.ConnectedUrlRedacted())
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			printEvent(os.Stdout, m)
		}
	}
}

// printEvent writes one line for a message: time, type, source, ids,
// target, status/result and message; or what is wrong with it.
func printEvent(w io.Writer, m *nats.Msg) {
	var e cloudevents.Event
	if err := json.Unmarshal(m.Data, &e); err != nil {
		fmt.Fprintf(w, "%s not a CloudEvent (%d bytes): %v\n", m.Subject, len(m.Data), err)
		return
	}
	var d events.Common
	_ = json.Unmarshal(e.Data(), &d)
	target := strings.Trim(strings.Join([]string{d.Project, d.Stage, d.Service}, "/"), "/")
	line := fmt.Sprintf("%s %s source=%s id=%s", e.Time().Format("15:04:05.000"), e.Type(), e.Source(), e.ID())
	if t := events.StringExtension(e, events.ExtTriggeredID); t != "" {
		line += " triggeredid=" + t
	}
	if c := events.StringExtension(e, events.ExtContext); c != "" {
		line += " shkeptncontext=" + c
	}
	if target != "" {
		line += " " + target
	}
	if s := summary(d); s != "" {
		line += " " + s
	}
	fmt.Fprintln(w, line)
}
