package answer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/golang/mock/gomock"
	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/pkg/answer"
	"github.com/helm-service/helm-service/pkg/answer/mocks"
	"github.com/helm-service/helm-service/pkg/ledger"
)

const (
	triggered = "sh.keptn.event.deployment.triggered"
	// ackWait is the bus's ack wait: a delivery neither settled nor
	// reported in progress within it is delivered again.
	ackWait = time.Second
)

var quiet = slog.New(slog.DiscardHandler)

// rig is a NATS JetStream server in the test process, a bus on it, a
// ledger in one of its buckets, and the answers seen on the wire.
type rig struct {
	nc   *nats.Conn
	bus  *eventbus.Bus
	book *ledger.Ledger

	mu      sync.Mutex
	answers []string // "<id> <type>" of each answer on the bus, in order
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ns, err := eventbus.StartEmbedded(eventbus.EmbeddedOptions{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	ctx := context.Background()
	bus, err := eventbus.Connect(ctx, eventbus.Options{URL: ns.ClientURL(), Mode: eventbus.ModeJetStream, AckWait: ackWait, MaxDeliver: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	kv, err := bus.KeyValue(ctx, "tasks", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	r := &rig{nc: nc, bus: bus, book: ledger.New(kv)}
	// One subscription, so that the answers are seen in the order sent.
	if _, err := nc.Subscribe("sh.keptn.event.deployment.*", func(m *nats.Msg) {
		if m.Subject == triggered {
			return
		}
		var e cloudevents.Event
		if err := json.Unmarshal(m.Data, &e); err != nil {
			t.Errorf("answer on %s is not a CloudEvent: %v", m.Subject, err)
			return
		}
		r.mu.Lock()
		r.answers = append(r.answers, e.ID()+" "+e.Type())
		r.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return r
}

// send publishes the trigger as Keptn does, on core NATS, n times: each
// is a delivery of the same trigger.
func (r *rig) send(t *testing.T, trigger cloudevents.Event, n int) {
	t.Helper()
	body, err := json.Marshal(trigger)
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := r.nc.Publish(triggered, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// serve answers each delivery with a, as request says, and returns the
// outcomes so far.
func (r *rig) serve(t *testing.T, a *answer.Answerer, request func(ctx context.Context, d eventbus.Delivery) (context.Context, answer.Request)) func() []answer.Outcome {
	t.Helper()
	var mu sync.Mutex
	var outcomes []answer.Outcome
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := r.bus.Subscribe(ctx, []string{triggered}, "helm-service", func(ctx context.Context, d eventbus.Delivery) {
		ctx, req := request(ctx, d)
		o := a.Once(ctx, lingering{d}, req)
		mu.Lock()
		outcomes = append(outcomes, o)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	return func() []answer.Outcome {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(outcomes)
	}
}

// lingering is a delivery whose Nak returns only once the server has
// had time to deliver the message again: the next delivery then arrives
// while Once is still returning.
type lingering struct{ eventbus.Delivery }

func (l lingering) Nak(delay time.Duration) error {
	err := l.Delivery.Nak(delay)
	time.Sleep(200 * time.Millisecond)
	return err
}

// settle waits for n outcomes, then for longer than the ack wait so that
// a delivery that was not settled shows up again.
func settle(t *testing.T, outcomes func() []answer.Outcome, n int) []answer.Outcome {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for len(outcomes()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("outcomes %v, want %d of them within 15s", outcomes(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(ackWait + 500*time.Millisecond)
	return outcomes()
}

func (r *rig) answered() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.answers)
}

// recorded describes the ledger's entry of key: "" when it has none.
func (r *rig) recorded(t *testing.T, key ledger.Key) string {
	t.Helper()
	e, found, err := r.book.Lookup(context.Background(), key)
	switch {
	case err != nil:
		t.Fatal(err)
	case !found:
		return ""
	case e.Finished != nil:
		return string(e.State) + " " + e.Finished.ID()
	}
	return string(e.State)
}

func trigger(id string) cloudevents.Event {
	e := cloudevents.NewEvent()
	e.SetID(id)
	e.SetSource("shipyard-controller")
	e.SetType(triggered)
	_ = e.SetData(cloudevents.ApplicationJSON, map[string]string{"project": "sockshop"})
	return e
}

// reply is an answer of phase to the trigger, told apart by id.
func reply(trigger cloudevents.Event, phase, id string) cloudevents.Event {
	e := cloudevents.NewEvent()
	e.SetID(id)
	e.SetSource("helm-service")
	e.SetType("sh.keptn.event.deployment." + phase)
	e.SetExtension("triggeredid", trigger.ID())
	return e
}

func answersTo(trigger cloudevents.Event) func(cloudevents.Event) bool {
	return func(e cloudevents.Event) bool {
		id, _ := e.Extensions()["triggeredid"].(string)
		return e.Type() == "sh.keptn.event.deployment.finished" && id == trigger.ID()
	}
}

// phase matches answers of one phase.
type phase string

func (p phase) Matches(x any) bool {
	e, ok := x.(cloudevents.Event)
	return ok && e.Type() == "sh.keptn.event.deployment."+string(p)
}

func (p phase) String() string { return "a ." + string(p) }

var errUnreachable = errors.New("nats: no responders available for request")

// outcome is what became of the deliveries of one trigger.
type outcome struct {
	Outcomes []answer.Outcome // sorted
	Answers  []string         // on the bus, in order
	Runs     int              // calls of Request.Finished
	Ledger   string           // the trigger's entry afterwards
}

func TestOnce(t *testing.T) {
	other := trigger("another")
	cases := []struct {
		name string
		// seed prepares the ledger before the trigger is delivered.
		seed func(ctx context.Context, book *ledger.Ledger, key ledger.Key) error
		// noLedger answers without a ledger.
		noLedger bool
		// noID answers under a key without an id.
		noID bool
		// listener answers with .finished only.
		listener bool
		// deliveries is how often the trigger is sent (default 1).
		deliveries int
		// work is how long each run takes.
		work time.Duration
		// fail is the error of run n, if any.
		fail func(run int) error
		// failPublish makes the first publish of that phase fail.
		failPublish phase
		// cancel ends the context of the delivery while the task runs;
		// cancelStarted while its .started is made.
		cancel, cancelStarted bool
		want                  outcome
	}{{
		name: "a new trigger is answered .started then .finished, recorded",
		want: outcome{Outcomes: []answer.Outcome{answer.Answered}, Answers: []string{"started-1 sh.keptn.event.deployment.started", "finished-1 sh.keptn.event.deployment.finished"}, Runs: 1, Ledger: "finished finished-1"},
	}, {
		name: "an answered trigger gets its recorded answer again, without running",
		seed: func(ctx context.Context, book *ledger.Ledger, key ledger.Key) error {
			if _, _, err := book.Begin(ctx, key); err != nil {
				return err
			}
			return book.Finished(ctx, key, reply(trigger("t"), "finished", "recorded"))
		},
		want: outcome{Outcomes: []answer.Outcome{answer.Replayed}, Answers: []string{"recorded sh.keptn.event.deployment.finished"}, Ledger: "finished recorded"},
	}, {
		name: "a recorded answer to another trigger is not sent: the trigger is handled as new",
		seed: func(ctx context.Context, book *ledger.Ledger, key ledger.Key) error {
			if _, _, err := book.Begin(ctx, key); err != nil {
				return err
			}
			return book.Finished(ctx, key, reply(other, "finished", "foreign"))
		},
		want: outcome{Outcomes: []answer.Outcome{answer.Answered}, Answers: []string{"started-1 sh.keptn.event.deployment.started", "finished-1 sh.keptn.event.deployment.finished"}, Runs: 1, Ledger: "finished finished-1"},
	}, {
		name: "a trigger started before and cut off runs again without a second .started",
		seed: func(ctx context.Context, book *ledger.Ledger, key ledger.Key) error {
			_, _, err := book.Begin(ctx, key)
			return err
		},
		want: outcome{Outcomes: []answer.Outcome{answer.Answered}, Answers: []string{"finished-1 sh.keptn.event.deployment.finished"}, Runs: 1, Ledger: "finished finished-1"},
	}, {
		name:     "a listener answers with .finished only",
		listener: true,
		want:     outcome{Outcomes: []answer.Outcome{answer.Answered}, Answers: []string{"finished-1 sh.keptn.event.deployment.finished"}, Runs: 1, Ledger: "finished finished-1"},
	}, {
		name: "a run handed back goes back to the bus; the next delivery answers without a second .started",
		fail: func(run int) error {
			if run == 1 {
				return fmt.Errorf("stopping: %w", answer.ErrHandBack)
			}
			return nil
		},
		want: outcome{Outcomes: []answer.Outcome{answer.Answered, answer.HandedBack}, Answers: []string{"started-1 sh.keptn.event.deployment.started", "finished-2 sh.keptn.event.deployment.finished"}, Runs: 2, Ledger: "finished finished-2"},
	}, {
		name: "a run that can make no answer is acknowledged unanswered",
		fail: func(int) error { return errors.New("build finished: data does not encode") },
		want: outcome{Outcomes: []answer.Outcome{answer.Dropped}, Answers: []string{"started-1 sh.keptn.event.deployment.started"}, Runs: 1, Ledger: "started"},
	}, {
		name:        "a .started that cannot be published is forgotten: the next delivery sends it",
		failPublish: "started",
		want:        outcome{Outcomes: []answer.Outcome{answer.Answered, answer.Unsent}, Answers: []string{"started-2 sh.keptn.event.deployment.started", "finished-1 sh.keptn.event.deployment.finished"}, Runs: 1, Ledger: "finished finished-1"},
	}, {
		name:        "a .finished that cannot be published was recorded: the next delivery sends it without running",
		failPublish: "finished",
		want:        outcome{Outcomes: []answer.Outcome{answer.Replayed, answer.Unsent}, Answers: []string{"started-1 sh.keptn.event.deployment.started", "finished-1 sh.keptn.event.deployment.finished"}, Runs: 1, Ledger: "finished finished-1"},
	}, {
		name:          "a .started that cannot be published is forgotten even once the delivery's context ended",
		failPublish:   "started",
		cancelStarted: true,
		want:          outcome{Outcomes: []answer.Outcome{answer.Answered, answer.Unsent}, Answers: []string{"started-2 sh.keptn.event.deployment.started", "finished-1 sh.keptn.event.deployment.finished"}, Runs: 1, Ledger: "finished finished-1"},
	}, {
		name:   "the answer is published after the delivery's context ended",
		cancel: true,
		want:   outcome{Outcomes: []answer.Outcome{answer.Answered}, Answers: []string{"started-1 sh.keptn.event.deployment.started", "finished-1 sh.keptn.event.deployment.finished"}, Runs: 1, Ledger: "finished finished-1"},
	}, {
		name:       "a twin delivered while the first runs waits for it and sends its answer again",
		deliveries: 2,
		work:       time.Second / 2,
		want:       outcome{Outcomes: []answer.Outcome{answer.Answered, answer.Replayed}, Answers: []string{"started-1 sh.keptn.event.deployment.started", "finished-1 sh.keptn.event.deployment.finished", "finished-1 sh.keptn.event.deployment.finished"}, Runs: 1, Ledger: "finished finished-1"},
	}, {
		name:       "without a ledger a twin of an answered delivery is acknowledged unanswered",
		noLedger:   true,
		deliveries: 2,
		work:       time.Second / 2,
		want:       outcome{Outcomes: []answer.Outcome{answer.Answered, answer.Dropped}, Answers: []string{"started-1 sh.keptn.event.deployment.started", "finished-1 sh.keptn.event.deployment.finished"}, Runs: 1},
	}, {
		name:       "a twin of a delivery handed back is handed back too; the redeliveries are answered once",
		deliveries: 2,
		work:       time.Second / 2,
		fail: func(run int) error {
			if run == 1 {
				return fmt.Errorf("stopping: %w", answer.ErrHandBack)
			}
			return nil
		},
		want: outcome{Outcomes: []answer.Outcome{answer.Answered, answer.HandedBack, answer.HandedBack, answer.Replayed}, Answers: []string{"started-1 sh.keptn.event.deployment.started", "finished-2 sh.keptn.event.deployment.finished", "finished-2 sh.keptn.event.deployment.finished"}, Runs: 2, Ledger: "finished finished-2"},
	}, {
		name:       "a trigger without an id is neither recorded nor told apart from its twins",
		noID:       true,
		deliveries: 2,
		work:       time.Second / 2,
		want:       outcome{Outcomes: []answer.Outcome{answer.Answered, answer.Answered}, Answers: []string{"finished-1 sh.keptn.event.deployment.finished", "finished-2 sh.keptn.event.deployment.finished", "started-1 sh.keptn.event.deployment.started", "started-2 sh.keptn.event.deployment.started"}, Runs: 2},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t)
			ctx := context.Background()
			tr := trigger("t")
			key := ledger.KeyOf(tr)
			if c.noID {
				key.ID = ""
			}
			if c.seed != nil {
				if err := c.seed(ctx, r.book, key); err != nil {
					t.Fatal(err)
				}
			}
			pub := mocks.NewMockPublisher(gomock.NewController(t))
			if c.failPublish != "" {
				pub.EXPECT().Publish(gomock.Any(), c.failPublish).Return(errUnreachable)
			}
			pub.EXPECT().Publish(gomock.Any(), gomock.Any()).DoAndReturn(r.bus.Publish).AnyTimes()
			opts := answer.Options{Ledger: r.book}
			if c.noLedger {
				opts.Ledger = nil
			}
			a := answer.New(pub, opts)
			var runs, starts atomic.Int32
			outcomes := r.serve(t, a, func(ctx context.Context, d eventbus.Delivery) (context.Context, answer.Request) {
				// Ends with the subscription at the latest.
				ctx, cancel := context.WithCancel(ctx)
				req := answer.Request{
					Key:     key,
					Log:     quiet,
					Answers: answersTo(*d.Event),
					Finished: func(context.Context) (cloudevents.Event, error) {
						run := int(runs.Add(1))
						time.Sleep(c.work)
						if c.fail != nil {
							if err := c.fail(run); err != nil {
								return cloudevents.Event{}, err
							}
						}
						if c.cancel {
							cancel()
						}
						return reply(*d.Event, "finished", fmt.Sprintf("finished-%d", run)), nil
					},
				}
				if !c.listener {
					req.Started = func(context.Context) (cloudevents.Event, error) {
						if c.cancelStarted && d.Attempt == 1 {
							cancel()
						}
						return reply(*d.Event, "started", fmt.Sprintf("started-%d", starts.Add(1))), nil
					}
				}
				return ctx, req
			})
			r.send(t, tr, max(c.deliveries, 1))
			got := outcome{Outcomes: settle(t, outcomes, len(c.want.Outcomes)), Answers: r.answered(), Runs: int(runs.Load())}
			slices.Sort(got.Outcomes)
			if !c.noLedger {
				got.Ledger = r.recorded(t, key)
			}
			if c.noID {
				slices.Sort(got.Answers)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("deliveries of one trigger (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOnceHeartbeats: a delivery worked on for longer than the bus's ack
// wait is reported in progress and not delivered again meanwhile; with
// heartbeats rarer than the ack wait it is, and the second delivery is
// answered from the first.
func TestOnceHeartbeats(t *testing.T) {
	cases := []struct {
		name      string
		heartbeat time.Duration
		want      []answer.Outcome
	}{
		{"heartbeats well within the ack wait", ackWait / 5, []answer.Outcome{answer.Answered}},
		{"heartbeats rarer than the ack wait", 10 * ackWait, []answer.Outcome{answer.Answered, answer.Replayed}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t)
			a := answer.New(r.bus, answer.Options{Ledger: r.book, Heartbeat: c.heartbeat})
			var runs atomic.Int32
			outcomes := r.serve(t, a, func(ctx context.Context, d eventbus.Delivery) (context.Context, answer.Request) {
				return ctx, answer.Request{
					Key:     ledger.KeyOf(*d.Event),
					Log:     quiet,
					Answers: answersTo(*d.Event),
					Finished: func(context.Context) (cloudevents.Event, error) {
						runs.Add(1)
						time.Sleep(ackWait + ackWait/2)
						return reply(*d.Event, "finished", "finished-1"), nil
					},
				}
			})
			r.send(t, trigger("t"), 1)
			got := settle(t, outcomes, len(c.want))
			slices.Sort(got)
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s", diff)
			}
			if n := runs.Load(); n != 1 {
				t.Errorf("ran %d times, want once", n)
			}
		})
	}
}
