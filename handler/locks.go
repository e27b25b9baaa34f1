package handler

import "sync"

// Locks serializes work per key, e.g. per service, so that two
// tasks never run a Helm action on the same release at once.
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

// Lock locks key and returns the function that unlocks it.
func (k *Locks) Lock(key string) (unlock func()) {
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
