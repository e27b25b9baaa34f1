package handler

import (
	"slices"
	"sync"
)

// Locks serializes work per key, a release (namespace/name, see
// releaseKeys), so that two tasks never run a Helm action on the same
// release at once in this process.
type Locks struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	mu    sync.Mutex
	users int
}

// NewLocks returns Locks to share between the tasks that act on releases.
func NewLocks() *Locks {
	return &Locks{locks: make(map[string]*keyedLock)}
}

// Lock locks every key, in sorted order so that two callers never each
// hold a key the other waits for, and returns the function that unlocks
// them.
func (k *Locks) Lock(keys ...string) (unlock func()) {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	unlocks := make([]func(), 0, len(keys))
	for _, key := range keys {
		unlocks = append(unlocks, k.lock(key))
	}
	return func() {
		for _, u := range slices.Backward(unlocks) {
			u()
		}
	}
}

// lock locks one key and returns the function that unlocks it.
func (k *Locks) lock(key string) (unlock func()) {
	k.mu.Lock()
	l, ok := k.locks[key]
	if !ok {
		l = &keyedLock{}
		k.locks[key] = l
	}
	l.users++
	k.mu.Unlock()

	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		l.users--
		if l.users == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
