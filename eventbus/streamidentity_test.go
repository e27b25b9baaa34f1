package eventbus

import (
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// TestStreamIdentityChangesWhenTheStreamIsCreatedAgain checks that a
// stream deleted and created again under its name has a new identity,
// while two buses on one stream share it.
func TestStreamIdentityChangesWhenTheStreamIsCreatedAgain(t *testing.T) {
	url := startServer(t)
	ctx := context.Background()
	first := jetStreamBus(t, url, nil)
	before, err := first.StreamIdentity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(before, "KEPTN ") {
		t.Fatalf("identity %q does not start with the stream's name", before)
	}
	if again, err := jetStreamBus(t, url, nil).StreamIdentity(ctx); err != nil || again != before {
		t.Fatalf("a second bus on the same stream: identity %q, %v; want %q", again, err, before)
	}
	js, err := jetstream.New(first.conn)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(ctx, "KEPTN"); err != nil {
		t.Fatal(err)
	}
	after, err := jetStreamBus(t, url, nil).StreamIdentity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after == before {
		t.Errorf("the stream created again has the old identity %q", before)
	}
}

func TestStreamIdentityNeedsJetStream(t *testing.T) {
	b := connectWith(t, Options{URL: startServer(t), Mode: ModeCore})
	if _, err := b.StreamIdentity(context.Background()); err == nil || !strings.Contains(err.Error(), "NATS_MODE=jetstream") {
		t.Errorf("core mode: err = %v, want one naming NATS_MODE=jetstream", err)
	}
}
