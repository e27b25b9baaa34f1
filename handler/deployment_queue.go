package handler

// Superseding implements Superseding: of several deployments queued for one
// release, only the newest is worth running.
func (d *Deployment) Superseding() bool { return true }
