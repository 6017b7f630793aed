package engine

import (
	"context"
	"time"
)

// Reload results.
const (
	ReloadSuccess = "success"
	ReloadFailure = "failure"
)

// ReloadResult is the outcome of the last policy reload.
type ReloadResult struct {
	Result string    `json:"result"` // ReloadSuccess or ReloadFailure; "" before any reload
	Error  string    `json:"error,omitempty"`
	At     time.Time `json:"at"`
}

// Status describes the policy in use and the data behind it.
type Status struct {
	Pack       string       `json:"pack"`
	Revision   string       `json:"revision"`
	LoadedAt   time.Time    `json:"loaded_at"`
	LastReload ReloadResult `json:"last_reload"`
	// Counts: users (written), known users, assignments, resources.
	Counts map[string]int `json:"counts"`
}

// Status returns the engine's status from memory (no disk read).
func (e *Engine) Status(ctx context.Context) Status {
	rev := e.rev.Load()
	users, resources := e.catalog.Counts()
	st := Status{
		Pack:     rev.pack.Name,
		Revision: rev.id,
		LoadedAt: rev.loadedAt,
		Counts: map[string]int{
			"users":       users,
			"assignments": e.index.Len(),
			"resources":   resources,
		},
	}
	if r := e.lastReload.Load(); r != nil {
		st.LastReload = *r
	}
	return st
}
