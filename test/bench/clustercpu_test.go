package main

import (
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	for _, c := range []struct {
		stat string
		name string
		cpu  time.Duration
		ok   bool
	}{
		{"4242 (kube-apiserver) S 1 4242 4242 0 -1 4194560 1 0 0 0 250 50 0 0 20 0 12 0 1 1 1", "kube-apiserver", 3 * time.Second, true},
		{"7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 1 1 1", "a (b) c", 30 * time.Millisecond, true},
		{"7 (etcd) R 1 7", "", 0, false},
		{"garbage", "", 0, false},
	} {
		name, cpu, ok := parseStat(c.stat)
		if name != c.name || cpu != c.cpu || ok != c.ok {
			t.Errorf("parseStat(%q) = %q, %v, %v; want %q, %v, %v", c.stat, name, cpu, ok, c.name, c.cpu, c.ok)
		}
	}
}

func TestCommNameIsTheKernels(t *testing.T) {
	if got := commName("kube-controller-manager"); got != "kube-controller" {
		t.Errorf("commName = %q", got)
	}
	if got := commName("etcd"); got != "etcd" {
		t.Errorf("commName = %q", got)
	}
}
