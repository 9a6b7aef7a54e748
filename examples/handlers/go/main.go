// A persistent hangtight handler in Go, standard library only (Go 1.18+).
//
//	go build -o echo-handler examples/handlers/go/main.go
//
// Handler config (HANGTIGHT_HANDLERS):
//
//	{"handlers": {"go.echo": {"command": ["./echo-handler"], "mode": "persistent"}}}
//
// Replace handle() with your job code.  The protocol is docs/handlers.md:
// one JSON job per line on stdin, JSON answers on stdout.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// Job is one line from the worker.
type Job struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Attempt    int             `json:"attempt"`
	DeadlineMs int64           `json:"deadline_ms"`
	Payload    json.RawMessage `json:"payload"`
}

// JobError fails the job with its message; Retry false spends no more attempts.
type JobError struct {
	Message string
	Retry   bool
}

func (e *JobError) Error() string { return e.Message }

// handle is the job code: it returns the result (any JSON value) or an error.
func handle(job Job, progress func(percent int, message string)) (any, error) {
	var p map[string]any
	_ = json.Unmarshal(job.Payload, &p) // not an object: no options
	if steps, ok := p["steps"].(float64); ok {
		for s := 1; s <= int(steps); s++ {
			progress(100*s/int(steps), fmt.Sprintf("step %d", s))
		}
	}
	if msg, ok := p["fail"].(string); ok {
		retry, set := p["retry"].(bool)
		return nil, &JobError{msg, !set || retry}
	}
	return map[string]any{"echo": job.Payload, "attempt": job.Attempt, "pid": os.Getpid()}, nil
}

// ---- the line protocol: nothing to change below ----
func main() {
	enc := json.NewEncoder(os.Stdout) // one write per answer, newline included
	enc.SetEscapeHTML(false)
	os.Stdout = os.Stderr // fmt.Println in job code goes to the worker's log
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64*1024), 64*1024*1024)
	for in.Scan() {
		var job Job
		if err := json.Unmarshal(in.Bytes(), &job); err != nil {
			fmt.Fprintln(os.Stderr, "not a job line:", err)
			continue
		}
		send := func(answer map[string]any) { answer["id"] = job.ID; _ = enc.Encode(answer) }
		result, err := handle(job, func(pct int, msg string) {
			send(map[string]any{"progress": pct, "message": msg})
		})
		var jobErr *JobError
		switch {
		case errors.As(err, &jobErr):
			send(map[string]any{"error": jobErr.Message, "retry": jobErr.Retry})
		case err != nil:
			send(map[string]any{"error": err.Error(), "retry": true})
		default:
			send(map[string]any{"result": result})
		}
	}
}
