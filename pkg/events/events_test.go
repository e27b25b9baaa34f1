package events

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

func TestSplitType(t *testing.T) {
	cases := []struct {
		in          string
		task, phase string
		ok          bool
	}{
		{"sh.keptn.event.deployment.triggered", "deployment", "triggered", true},
		{"sh.keptn.event.service.delete.finished", "service.delete", "finished", true},
		{"sh.keptn.event.deployment", "", "", false},
		{"sh.keptn.event.", "", "", false},
		{"com.example.other", "", "", false},
	}
	for _, c := range cases {
		task, phase, ok := SplitType(c.in)
		if task != c.task || phase != c.phase || ok != c.ok {
			t.Errorf("SplitType(%q) = %q, %q, %v; want %q, %q, %v", c.in, task, phase, ok, c.task, c.phase, c.ok)
		}
		if ok && Type(task, phase) != c.in {
			t.Errorf("Type(%q, %q) = %q, want %q", task, phase, Type(task, phase), c.in)
		}
	}
}

func TestParseStrategy(t *testing.T) {
	for in, want := range map[string]Strategy{
		"":                   StrategyDirect,
		"direct":             StrategyDirect,
		"duplicate":          StrategyBlueGreen,
		"blue_green_service": StrategyBlueGreen,
		"user_managed":       StrategyUserManaged,
	} {
		got, err := ParseStrategy(in)
		if err != nil || got != want {
			t.Errorf("ParseStrategy(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	_, err := ParseStrategy("canary-ish")
	if err == nil || !strings.Contains(err.Error(), "deployment.deploymentstrategy") {
		t.Errorf("ParseStrategy(unknown) error = %v, want one naming deployment.deploymentstrategy", err)
	}
}

func TestValidateTarget(t *testing.T) {
	ok := Common{Project: "sockshop", Stage: "staging", Service: "carts"}
	if err := ok.ValidateTarget(); err != nil {
		t.Fatalf("valid target rejected: %v", err)
	}
	bad := Common{Project: "", Stage: "Staging", Service: "carts_db"}
	err := bad.ValidateTarget()
	if err == nil {
		t.Fatal("invalid target accepted")
	}
	for _, want := range []string{"project is missing", `stage "Staging"`, `service "carts_db"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestNewReply(t *testing.T) {
	trigger := cloudevents.NewEvent()
	trigger.SetID("trigger-1")
	trigger.SetType(Type(TaskDeployment, PhaseTriggered))
	trigger.SetSource("shipyard-controller")
	trigger.SetExtension(ExtContext, "ctx-1")
	trigger.SetExtension(ExtGitCommitID, "abc123")

	reply, err := NewReply(trigger, "helm-service", Type(TaskDeployment, PhaseStarted), Common{Project: "p", Status: StatusSucceeded})
	if err != nil {
		t.Fatal(err)
	}
	if err := reply.Validate(); err != nil {
		t.Fatalf("reply is not a valid CloudEvent: %v", err)
	}
	checks := map[string]string{
		"source":          reply.Source(),
		"type":            reply.Type(),
		"datacontenttype": reply.DataContentType(),
		ExtTriggeredID:    StringExtension(reply, ExtTriggeredID),
		ExtContext:        StringExtension(reply, ExtContext),
		ExtGitCommitID:    StringExtension(reply, ExtGitCommitID),
		ExtSpecVersion:    StringExtension(reply, ExtSpecVersion),
		"specversion":     reply.SpecVersion(),
	}
	want := map[string]string{
		"source":          "helm-service",
		"type":            "sh.keptn.event.deployment.started",
		"datacontenttype": "application/json",
		ExtTriggeredID:    "trigger-1",
		ExtContext:        "ctx-1",
		ExtGitCommitID:    "abc123",
		ExtSpecVersion:    SpecVersion,
		"specversion":     "1.0",
	}
	for k, v := range want {
		if checks[k] != v {
			t.Errorf("%s = %q, want %q", k, checks[k], v)
		}
	}
	if reply.ID() == "" || reply.ID() == trigger.ID() {
		t.Errorf("reply id %q must be fresh", reply.ID())
	}
	var data Common
	if err := json.Unmarshal(reply.Data(), &data); err != nil || data.Project != "p" {
		t.Errorf("data = %s (%v), want project p", reply.Data(), err)
	}
}

func TestValidateService(t *testing.T) {
	if err := (Common{Project: "sockshop", Service: "carts"}).ValidateService(); err != nil {
		t.Errorf("valid project and service without a stage: %v", err)
	}
	err := Common{Project: "Sock Shop"}.ValidateService()
	if err == nil || !strings.Contains(err.Error(), `project "Sock Shop" is not a valid Kubernetes name`) || !strings.Contains(err.Error(), "service is missing") {
		t.Errorf("error = %v, want both fields named", err)
	}
}

func TestTimingsOfAReceivedEventNeverFailIt(t *testing.T) {
	cases := []struct {
		raw  string
		want Timings
	}{
		{`{"render": 3, "wait": 1200}`, Timings{"render": 3, "wait": 1200}},
		{`"fast"`, nil},
		{`{"render": "3ms"}`, nil},
		{`[1, 2]`, nil},
		{`null`, nil},
	}
	for _, c := range cases {
		var got ActionTriggered
		data := `{"project": "sockshop", "stage": "staging", "service": "carts", "action": {"action": "restart"}, "timings": ` + c.raw + `}`
		if err := json.Unmarshal([]byte(data), &got); err != nil {
			t.Errorf("timings %s: %v, want the trigger read", c.raw, err)
			continue
		}
		if got.Service != "carts" || got.Action.Action != "restart" {
			t.Errorf("timings %s: trigger read as %+v", c.raw, got)
		}
		if !maps.Equal(got.Timings, c.want) || (got.Timings == nil) != (c.want == nil) {
			t.Errorf("timings %s read as %v, want %v", c.raw, got.Timings, c.want)
		}
	}
}
