package helm

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/kubectl/pkg/validation"
)

func TestSharedValidatorServesOneSchemaUntilItExpires(t *testing.T) {
	now := time.Unix(1700000000, 0)
	getter := newRESTClientGetter(&rest.Config{Host: "https://127.0.0.1:1"}, "shop-dev", "", nil)
	v := newSharedValidator(getter, time.Minute, func() time.Time { return now })

	first, err := v.strict()
	if err != nil {
		t.Fatal(err)
	}
	again, err := v.strict()
	if err != nil {
		t.Fatal(err)
	}
	if first != again {
		t.Fatal("a second action within the TTL got a new schema; want the shared one")
	}
	now = now.Add(time.Minute)
	renewed, err := v.strict()
	if err != nil {
		t.Fatal(err)
	}
	if renewed == first {
		t.Fatal("the schema outlived its TTL")
	}
}

func TestActionFactorySharesOnlyTheStrictSchema(t *testing.T) {
	getter := newRESTClientGetter(&rest.Config{Host: "https://127.0.0.1:1"}, "shop-dev", "", nil)
	shared := newSharedValidator(getter, time.Minute, time.Now)
	f := newActionFactory(kubeFactory(getter), shared)

	strict, err := f.Validator(metav1.FieldValidationStrict)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := shared.strict()
	if strict != want {
		t.Fatal("the strict schema is not the shared one")
	}
	ignore, err := f.Validator(metav1.FieldValidationIgnore)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ignore.(validation.NullSchema); !ok {
		t.Fatalf("Validator(Ignore) = %T, want Helm's own NullSchema", ignore)
	}
}

// countingSchema records how many checks run at once.
type countingSchema struct {
	running, most atomic.Int32
}

func (s *countingSchema) ValidateBytes([]byte) error {
	n := s.running.Add(1)
	defer s.running.Add(-1)
	for {
		m := s.most.Load()
		if n <= m || s.most.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(time.Millisecond)
	return nil
}

func TestSerialSchemaRunsOneCheckAtATime(t *testing.T) {
	inner := &countingSchema{}
	s := &serialSchema{schema: inner}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.ValidateBytes([]byte(`{"apiVersion":"v1","kind":"ConfigMap"}`))
		}()
	}
	wg.Wait()
	if got := inner.most.Load(); got != 1 {
		t.Fatalf("%d checks ran at once, want 1", got)
	}
}

// failingSchema fails every check, as kubectl's does once it has kept a
// failure to fetch the OpenAPI document.
type failingSchema struct{}

func (failingSchema) ValidateBytes([]byte) error { return errors.New("failed to download openapi") }

func TestSharedValidatorDropsASchemaThatFailed(t *testing.T) {
	getter := newRESTClientGetter(&rest.Config{Host: "https://127.0.0.1:1"}, "shop-dev", "", nil)
	v := newSharedValidator(getter, time.Hour, time.Now)
	first, err := v.strict()
	if err != nil {
		t.Fatal(err)
	}
	first.(*serialSchema).schema = failingSchema{}
	if err := first.ValidateBytes([]byte(`{}`)); err == nil {
		t.Fatal("the failing check passed")
	}
	next, err := v.strict()
	if err != nil {
		t.Fatal(err)
	}
	if next == first {
		t.Fatal("a schema whose check failed was handed out again; want a new one")
	}
}
