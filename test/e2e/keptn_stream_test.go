package e2e

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/helm-service/helm-service/eventbus"
)

// TestNextToKeptnsStream: Keptn 1.x's shipyard-controller keeps the
// JetStream stream keptn over sh.keptn.> on the server it shares with its
// integrations. helm-service started with default settings after it
// deploys, answers, and leaves that stream's configuration as it was.
func TestNextToKeptnsStream(t *testing.T) {
	ns, err := eventbus.StartEmbedded(eventbus.EmbeddedOptions{Listen: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	keptn, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "keptn", Subjects: []string{"sh.keptn.>"}, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	before := keptn.CachedInfo().Config

	inst := startInstanceOn(t, ns.ClientURL(), nil)
	project := suite.project("keptnjs")
	_, data := inst.finished(t, inst.trigger(t, inst.nats, deploymentTrigger(project, "dev", "carts", "direct", nil)), deployTimeout)
	expectSucceeded(t, data)

	info, err := keptn.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(info.Config, before) {
		t.Errorf("Keptn's stream changed:\nbefore %+v\nafter  %+v", before, info.Config)
	}
	if info.State.Msgs < 3 {
		t.Errorf("Keptn's stream holds %d messages, want at least the trigger, .started and .finished", info.State.Msgs)
	}
	names := js.StreamNames(context.Background())
	var streams []string
	for n := range names.Name() {
		if n != "keptn" && !strings.HasPrefix(n, "KV_") {
			streams = append(streams, n)
		}
	}
	if len(streams) > 0 {
		t.Errorf("helm-service made streams %v next to Keptn's", streams)
	}
}
