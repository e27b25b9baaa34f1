package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go"

	"github.com/helm-service/helm-service/pkg/events"
)

// answer is what came back for one trigger, with arrival times.
type answer struct {
	started  time.Time
	finished time.Time
	status   string
	message  string
	// timings is the .finished's time by phase, in milliseconds.
	timings map[string]int64
}

// answerLog records the arrival of .started and .finished by triggeredid.
type answerLog struct {
	mu      sync.Mutex
	byID    map[string]*answer
	waiters map[string]chan struct{}
}

func listen(nc *nats.Conn) (*answerLog, error) {
	a := &answerLog{byID: map[string]*answer{}, waiters: map[string]chan struct{}{}}
	_, err := nc.Subscribe("sh.keptn.event.>", func(m *nats.Msg) {
		now := time.Now()
		started, finished := strings.HasSuffix(m.Subject, ".started"), strings.HasSuffix(m.Subject, ".finished")
		if !started && !finished {
			return
		}
		var e cloudevents.Event
		if json.Unmarshal(m.Data, &e) != nil {
			return
		}
		id := events.StringExtension(e, events.ExtTriggeredID)
		a.mu.Lock()
		defer a.mu.Unlock()
		ans := a.byID[id]
		if ans == nil {
			ans = &answer{}
			a.byID[id] = ans
		}
		if started {
			ans.started = now
			return
		}
		var data events.Common
		_ = json.Unmarshal(e.Data(), &data)
		ans.finished, ans.status, ans.message, ans.timings = now, data.Status, data.Message, data.Timings
		if ch, ok := a.waiters[id]; ok {
			close(ch)
			delete(a.waiters, id)
		}
	})
	if err != nil {
		return nil, err
	}
	return a, nc.Flush()
}

// await blocks until the trigger's .finished has arrived.
func (a *answerLog) await(ctx context.Context, id string) (answer, error) {
	a.mu.Lock()
	if ans, ok := a.byID[id]; ok && !ans.finished.IsZero() {
		a.mu.Unlock()
		return *ans, nil
	}
	ch, ok := a.waiters[id]
	if !ok {
		ch = make(chan struct{})
		a.waiters[id] = ch
	}
	a.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		return answer{}, fmt.Errorf("%w for trigger %s: %w", errNoAnswer, id, ctx.Err())
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return *a.byID[id], nil
}
