package eventbus

import (
	"context"
	"encoding/json"
	"testing"

	cenats "github.com/cloudevents/sdk-go/protocol/nats/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/nats-io/nats.go"
)

// BenchmarkDecode measures turning a NATS message into a validated
// CloudEvent, the work done for every message before routing.
func BenchmarkDecode(b *testing.B) {
	body, err := json.Marshal(testEvent("bench"))
	if err != nil {
		b.Fatal(err)
	}
	msg := &nats.Msg{Subject: "sh.keptn.event.deployment.triggered", Data: body}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		e, err := binding.ToEvent(ctx, cenats.NewMessage(msg))
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}
