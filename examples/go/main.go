// Submit a job with net/http, follow it with long polls (If-None-Match +
// Prefer: wait=N: the answer comes as soon as the job changes), and receive
// and verify its webhook (Standard Webhooks).  Standard library only; Go 1.19+.
//
//	HANGTIGHT_URL=http://127.0.0.1:8080 HANGTIGHT_WEBHOOK_SECRET=whsec_... go run examples/go/main.go
//
// heartbeat=0: Go's net/http gives up after five 1xx answers on one request,
// so held requests ask for no "102 Processing" heartbeats.
// HANGTIGHT_API_KEY, when set, is sent as "Authorization: Bearer".  A loopback
// callback_url needs HANGTIGHT_WEBHOOK_ALLOW_PRIVATE=1 on the api and worker
// (development).  Exits 0 when the job succeeded and its webhook verified.
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

type job struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Progress struct {
		Percent *int    `json:"percent"`
		Message *string `json:"message"`
	} `json:"progress"`
	Links struct {
		Self string `json:"self"`
	} `json:"links"`
}

type event struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// verify checks a delivery as README "Verifying a delivery" says.
func verify(secret string, h http.Header, body []byte, tolerance time.Duration) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if id == "" || err != nil || math.Abs(float64(time.Now().Unix()-sec)) > tolerance.Seconds() {
		return false
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.", id, ts)
	mac.Write(body)
	expected := mac.Sum(nil)
	for _, sig := range strings.Split(h.Get("webhook-signature"), " ") {
		if !strings.HasPrefix(sig, "v1,") {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig[3:])
		if err == nil && hmac.Equal(got, expected) { // constant time
			return true
		}
	}
	return false
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func main() {
	base := env("HANGTIGHT_URL", "http://127.0.0.1:8080")
	secret := os.Getenv("HANGTIGHT_WEBHOOK_SECRET")
	if secret == "" {
		log.Fatal("set HANGTIGHT_WEBHOOK_SECRET")
	}
	client := &http.Client{Timeout: 60 * time.Second}
	do := func(req *http.Request) (*http.Response, []byte) {
		if k := os.Getenv("HANGTIGHT_API_KEY"); k != "" {
			req.Header.Set("Authorization", "Bearer "+k)
		}
		res, err := client.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil {
			log.Fatal(err)
		}
		return res, body
	}

	// The receiver.
	hooks := make(chan event, 4)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !verify(secret, r.Header, body, 5*time.Minute) {
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		var ev event
		if json.Unmarshal(body, &ev) != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		hooks <- ev
	}))
	callback := fmt.Sprintf("http://%s:%d/hangtight", env("HANGTIGHT_CALLBACK_HOST", "127.0.0.1"),
		ln.Addr().(*net.TCPAddr).Port)

	// Submit.
	payload, _ := json.Marshal(map[string]any{"type": "sleep", "payload": map[string]int{"ms": 1500, "steps": 3},
		"callback_url": callback})
	req, _ := http.NewRequest("POST", base+"/v1/jobs", bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	res, body := do(req)
	if res.StatusCode != http.StatusAccepted {
		log.Fatalf("submit: %d %s", res.StatusCode, body) // application/problem+json
	}
	var j job
	if err := json.Unmarshal(body, &j); err != nil {
		log.Fatal(err)
	}
	etag := res.Header.Get("ETag")
	log.Printf("submitted %s", j.ID)

	// Long polls: 200 with the new document when it changed, 304 when not.
	for j.Status != "succeeded" && j.Status != "failed" && j.Status != "canceled" {
		req, _ := http.NewRequest("GET", base+j.Links.Self, nil)
		req.Header.Set("If-None-Match", etag)
		req.Header.Set("Prefer", "wait=20, heartbeat=0")
		res, body := do(req)
		switch res.StatusCode {
		case http.StatusNotModified:
			continue
		case http.StatusOK:
			etag = res.Header.Get("ETag")
			if err := json.Unmarshal(body, &j); err != nil {
				log.Fatal(err)
			}
			pct := 0
			if j.Progress.Percent != nil {
				pct = *j.Progress.Percent
			}
			log.Printf("%s %d%%", j.Status, pct)
		default:
			log.Fatalf("poll: %d %s", res.StatusCode, body)
		}
	}
	fmt.Printf("{\"id\": %q, \"status\": %q}\n", j.ID, j.Status)

	select {
	case ev := <-hooks:
		log.Printf("webhook verified: %s", ev.Type)
		if j.Status != "succeeded" || ev.Type != "job.succeeded" {
			os.Exit(1)
		}
	case <-time.After(30 * time.Second):
		log.Fatal("no valid webhook within 30 s")
	}
}
