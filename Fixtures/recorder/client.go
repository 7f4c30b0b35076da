// client.go: Go net/http clients for PoolScope's fixtures, each logging the
// client's own view of every request through net/http/httptrace: GotConn
// gives the local port, whether the connection was reused, and whether it
// came from the idle pool.
//
// Scenario "default-pool" (the problem statement): http.DefaultTransport
// (MaxIdleConnsPerHost 2), 3 concurrent GETs, a pause, 3 more concurrent,
// then 5 sequential; then CloseIdleConnections.
//
// Run: go run client.go -scenario default-pool -base http://127.0.0.1:18080 -truth client-truth.json
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

type requestTruth struct {
	N          int     `json:"n"`
	Phase      string  `json:"phase"`
	LocalPort  int     `json:"local_port"`
	Reused     bool    `json:"reused"`
	WasIdle    bool    `json:"was_idle"`
	IdleTimeMs float64 `json:"idle_time_ms"`
	Status     int     `json:"status"`
}

var (
	mu       sync.Mutex
	requests []requestTruth
	counter  int
)

func get(client *http.Client, url, phase string) {
	mu.Lock()
	counter++
	n := counter
	mu.Unlock()
	t := requestTruth{N: n, Phase: phase}
	trace := &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			_, p, _ := net.SplitHostPort(info.Conn.LocalAddr().String())
			t.LocalPort, _ = strconv.Atoi(p)
			t.Reused = info.Reused
			t.WasIdle = info.WasIdle
			t.IdleTimeMs = float64(info.IdleTime.Microseconds()) / 1000
		},
	}
	req, _ := http.NewRequest("GET", url, nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "request failed:", err)
		os.Exit(1)
	}
	io.Copy(io.Discard, resp.Body) // drained, so the connection can be reused
	resp.Body.Close()
	t.Status = resp.StatusCode
	mu.Lock()
	requests = append(requests, t)
	mu.Unlock()
}

// getUndrained closes the body without reading it.
func getUndrained(client *http.Client, url string) {
	mu.Lock()
	counter++
	n := counter
	mu.Unlock()
	t := requestTruth{N: n, Phase: "undrained"}
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		_, p, _ := net.SplitHostPort(info.Conn.LocalAddr().String())
		t.LocalPort, _ = strconv.Atoi(p)
		t.Reused = info.Reused
		t.WasIdle = info.WasIdle
	}}
	req, _ := http.NewRequest("GET", url, nil)
	resp, err := client.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "request failed:", err)
		os.Exit(1)
	}
	resp.Body.Close()
	t.Status = resp.StatusCode
	mu.Lock()
	requests = append(requests, t)
	mu.Unlock()
}

// bursts runs `count` bursts of `size` concurrent GETs, pausing after each.
func bursts(client *http.Client, count, size int, url string, pause time.Duration) {
	for b := 0; b < count; b++ {
		concurrent(client, size, url, fmt.Sprintf("burst-%d", b+1))
		time.Sleep(pause)
	}
}

func concurrent(client *http.Client, count int, url, phase string) {
	var wg sync.WaitGroup
	for i := 0; i < count; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); get(client, url, phase) }()
	}
	wg.Wait()
}

func main() {
	scenario := flag.String("scenario", "default-pool", "which client behaviour to run")
	base := flag.String("base", "http://127.0.0.1:18080", "server base URL")
	truthPath := flag.String("truth", "client-truth.json", "where to write the client's view")
	flag.Parse()

	client := http.DefaultClient
	switch *scenario {
	case "client-idle-timeout":
		// IdleConnTimeout 500 ms: the client closes its idle connection itself,
		// twice (the second time on a new connection), so the timeout is seen twice.
		client = &http.Client{Transport: &http.Transport{IdleConnTimeout: 500 * time.Millisecond}}
		get(client, *base+"/?size=1000", "first")
		get(client, *base+"/?size=1000", "reused")
		time.Sleep(1500 * time.Millisecond)
		get(client, *base+"/?size=1000", "after-idle-close")
		time.Sleep(1500 * time.Millisecond)
	case "server-idle-timeout":
		// The server's IdleTimeout (500 ms) is shorter than the client's (90 s).
		get(client, *base+"/?size=1000", "first")
		time.Sleep(1500 * time.Millisecond)
		get(client, *base+"/?size=1000", "after-server-closed")
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	case "tls-h2":
		// HTTPS with SNI poolscope.test; Go negotiates HTTP/2 by ALPN. TLS 1.2,
		// because TLS 1.3 sends the server's ALPN choice encrypted.
		transport := &http.Transport{TLSClientConfig: &tls.Config{ServerName: "poolscope.test", InsecureSkipVerify: true,
			MaxVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true}
		client = &http.Client{Transport: transport}
		httpsBase := strings.Replace(*base, "http://", "https://", 1)
		for i := 0; i < 3; i++ {
			get(client, httpsBase+"/?size=800", "sequential")
		}
		transport.CloseIdleConnections()
	case "default-c20":
		// DefaultTransport (MaxIdleConnsPerHost 2) under 20 concurrent requests, three bursts.
		bursts(client, 3, 20, *base+"/slow?ms=100&size=1000", 400*time.Millisecond)
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	case "maxidle10-c10":
		// MaxIdleConnsPerHost 10 under 10 concurrent requests, three bursts: no churn.
		transport := &http.Transport{MaxIdleConnsPerHost: 10}
		client = &http.Client{Transport: transport}
		bursts(client, 3, 10, *base+"/slow?ms=100&size=1000", 400*time.Millisecond)
		transport.CloseIdleConnections()
	case "maxconns3-c10":
		// MaxConnsPerHost 3 under 10 concurrent requests: requests queue in the client.
		transport := &http.Transport{MaxConnsPerHost: 3, MaxIdleConnsPerHost: 3}
		client = &http.Client{Transport: transport}
		bursts(client, 2, 10, *base+"/slow?ms=50&size=1000", 300*time.Millisecond)
		transport.CloseIdleConnections()
	case "undrained":
		// Bodies closed without being read: Go cannot reuse the connection.
		for i := 0; i < 5; i++ {
			getUndrained(client, *base+"/?size=200000")
			time.Sleep(100 * time.Millisecond)
		}
	case "new-transport":
		// A new Transport (a new pool) for every request; the old pools' idle
		// connections stay open until the server's IdleTimeout closes them.
		for i := 0; i < 5; i++ {
			get(&http.Client{Transport: &http.Transport{}}, *base+"/?size=1000", "sequential")
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(1500 * time.Millisecond)
	case "lossy":
		// 40 requests with 20 KB answers on one kept-alive connection, across a lossy link.
		for i := 0; i < 40; i++ {
			get(client, *base+"/?size=20000", "sequential")
		}
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	case "keepalive-disabled":
		// DisableKeepAlives: every request says "Connection: close".
		client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		for i := 0; i < 3; i++ {
			get(client, *base+"/?size=700", "sequential")
		}
	case "default-pool":
		concurrent(client, 3, *base+"/slow?ms=150&size=2048", "concurrent-1")
		time.Sleep(500 * time.Millisecond)
		concurrent(client, 3, *base+"/slow?ms=150&size=2048", "concurrent-2")
		time.Sleep(500 * time.Millisecond)
		for i := 0; i < 5; i++ {
			get(client, *base+"/?size=512", "sequential")
		}
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	default:
		fmt.Fprintln(os.Stderr, "unknown scenario", *scenario)
		os.Exit(2)
	}

	out := map[string]interface{}{
		"client":   "go " + *scenario,
		"requests": requests,
	}
	data, _ := json.MarshalIndent(out, "", "  ")
	os.WriteFile(*truthPath, append(data, '\n'), 0o644)
}
