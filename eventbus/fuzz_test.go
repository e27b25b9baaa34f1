package eventbus

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go"
)

// seedEvents adds the real Keptn payloads of test/testdata to the corpus.
func seedEvents(f *testing.F) {
	f.Helper()
	files, _ := filepath.Glob("../test/testdata/events/*.json")
	files = append(files, "../test/testdata/deployment.triggered.json")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{"", "null", "{}", "[]", `{"specversion":"1.0"}`, `{"specversion":"0.3","id":"x","source":"s","type":"t"}`, `{"specversion":"1.0","id":"x","source":"s","type":"t","data_base64":"!!"}`} {
		f.Add([]byte(s))
	}
}

// FuzzDecode: no input makes Decode panic, and whatever it accepts is a
// valid CloudEvent.
func FuzzDecode(f *testing.F) {
	seedEvents(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Decode(context.Background(), &nats.Msg{Subject: "sh.keptn.event.deployment.triggered", Data: data})
		if err != nil {
			if e != nil {
				t.Fatalf("error %v with an event", err)
			}
			return
		}
		if verr := e.Validate(); verr != nil || e.ID() == "" || e.Type() == "" {
			t.Fatalf("accepted an invalid event %v: %v", e, verr)
		}
	})
}
