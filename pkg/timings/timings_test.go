package timings

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRecorderMilliseconds(t *testing.T) {
	type add struct {
		phase Phase
		d     time.Duration
	}
	tests := []struct {
		name string
		adds []add
		want map[string]int64
	}{
		{name: "nothing recorded", want: nil},
		{name: "one phase", adds: []add{{Render, 1500 * time.Microsecond}}, want: map[string]int64{"render": 1}},
		{name: "a phase again adds up", adds: []add{{Wait, 400 * time.Millisecond}, {Wait, 250 * time.Millisecond}}, want: map[string]int64{"wait": 650}},
		{name: "a phase under a millisecond is there as 0", adds: []add{{Route, 10 * time.Microsecond}}, want: map[string]int64{"route": 0}},
		{name: "negative counts as zero", adds: []add{{Queued, -time.Second}, {Apply, 3 * time.Millisecond}}, want: map[string]int64{"queued": 0, "apply": 3}},
		{name: "every phase", adds: []add{{Queued, 1 * time.Millisecond}, {ChartFetch, 2 * time.Millisecond}, {Render, 3 * time.Millisecond}, {Apply, 4 * time.Millisecond}, {Wait, 5 * time.Millisecond}, {Route, 6 * time.Millisecond}, {Publish, 7 * time.Millisecond}},
			want: map[string]int64{"queued": 1, "chartFetch": 2, "render": 3, "apply": 4, "wait": 5, "route": 6, "publish": 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New()
			for _, a := range tt.adds {
				r.Add(a.phase, a.d)
			}
			if diff := cmp.Diff(tt.want, r.Milliseconds()); diff != "" {
				t.Errorf("Milliseconds() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNilRecorderRecordsNothing(t *testing.T) {
	var r *Recorder
	r.Add(Apply, time.Second)
	r.Start(Wait)()
	if got := r.Milliseconds(); got != nil {
		t.Errorf("Milliseconds() of a nil recorder = %v, want nil", got)
	}
	// A context without a recorder: timing is a no-op.
	Time(context.Background(), Route)()
	if From(context.Background()) != nil {
		t.Error("From(a context without a recorder) is not nil")
	}
}

func TestTimeRecordsOnTheContextsRecorder(t *testing.T) {
	r := New()
	ctx := With(context.Background(), r)
	stop := Time(ctx, Wait)
	time.Sleep(20 * time.Millisecond)
	stop()
	d, ok := r.Spent(Wait)
	if !ok || d < 20*time.Millisecond {
		t.Errorf("Spent(wait) = %v, %v; want at least 20ms, true", d, ok)
	}
	if _, ok := r.Spent(Render); ok {
		t.Error("Spent(render) says the task had a phase it did not")
	}
}

func TestRecorderConcurrentAdds(t *testing.T) {
	r := New()
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Add(Apply, time.Millisecond)
		}()
	}
	wg.Wait()
	if diff := cmp.Diff(map[Phase]time.Duration{Apply: 50 * time.Millisecond}, r.Durations()); diff != "" {
		t.Errorf("Durations() (-want +got):\n%s", diff)
	}
}
