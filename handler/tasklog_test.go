package handler

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"

	"github.com/golang/mock/gomock"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/handler/mocks"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/tasklog"
)

// syncBuffer is a bytes.Buffer safe for the goroutines of a task.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the JSON log lines written so far.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, line)
	}
	return out
}

// TestTaskLogLinesCarryTheTriggersFields runs a successful and a failed
// deployment at debug level and checks that every line logged while the
// task ran names its Keptn context, trigger, project, stage and service,
// including lines logged through the context by code below the task.
func TestTaskLogLinesCarryTheTriggersFields(t *testing.T) {
	for _, fail := range []bool{false, true} {
		out := &syncBuffer{}
		log := slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
		ctrl := gomock.NewController(t)
		src, nss, rels := mocks.NewMockChartSource(ctrl), mocks.NewMockNamespaces(ctrl), mocks.NewMockReleases(ctrl)
		pub := mocks.NewMockPublisher(ctrl)
		(&recorder{}).expect(pub)
		src.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil)
		nss.EXPECT().Ensure(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil)
		rels.EXPECT().Get(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil, helm.ErrNotFound)
		// The Helm client logs through the logger in its context.
		rels.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(ctx context.Context, req helm.Request) (*helm.Result, error) {
			tasklog.From(ctx, log).Debug("helm says", "source", "helm")
			if fail {
				return nil, errors.New("helm upgrade failed")
			}
			return &helm.Result{Namespace: req.Namespace, Name: req.Name, Revision: 1}, nil
		})
		d := NewDispatcher("helm-service", pub, log, []Task{NewDeployment(src, nss, rels, mocks.NewMockRouter(ctrl), mocks.NewMockScaler(ctrl), settings)}, Options{})
		d.Handle(context.Background(), eventbus.Delivery{Subject: "sh.keptn.event.deployment.triggered", Event: triggerEvent(t, validTrigger()), Attempt: 1})

		lines := out.lines(t)
		if len(lines) < 3 {
			t.Fatalf("fail=%v: %d log lines, want at least deploying, helm's and the outcome: %v", fail, len(lines), lines)
		}
		sawHelm := false
		for _, line := range lines {
			for k, want := range map[string]string{
				"shkeptncontext": "keptn-context", "triggeredid": "trigger-id",
				"project": "sockshop", "stage": "staging", "service": "carts", "task": "deployment",
			} {
				if line[k] != want {
					t.Errorf("fail=%v: log line %q has %s=%v, want %q", fail, line["msg"], k, line[k], want)
				}
			}
			sawHelm = sawHelm || line["source"] == "helm"
		}
		if !sawHelm {
			t.Errorf("fail=%v: the line logged below the task is missing: %v", fail, lines)
		}
	}
}
