// server.go: the HTTP server PoolScope's fixtures are recorded against.
//
// It keeps its own ground truth: every accepted connection is wrapped to
// count the payload bytes read and written and the requests served, keyed by
// the client's port, and written as JSON to -truth when the server gets
// SIGTERM. Handlers: /?size=N (N body bytes), /slow?ms=M&size=N (answer after
// M ms, so concurrent requests really overlap).
//
// Run: go run server.go -addr 127.0.0.1:18080 -truth server-truth.json
package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type connTruth struct {
	ClientPort int   `json:"client_port"`
	BytesIn    int64 `json:"bytes_in"`  // TCP payload the client sent
	BytesOut   int64 `json:"bytes_out"` // TCP payload the server sent
	Requests   int   `json:"requests"`
}

type countingConn struct {
	net.Conn
	mu    sync.Mutex
	truth *connTruth
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.truth.BytesIn += int64(n)
	c.mu.Unlock()
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	c.truth.BytesOut += int64(n)
	c.mu.Unlock()
	return n, err
}

type countingListener struct {
	net.Listener
	mu    sync.Mutex
	conns map[string]*countingConn
	order []*connTruth
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	_, portText, _ := net.SplitHostPort(c.RemoteAddr().String())
	port, _ := strconv.Atoi(portText)
	t := &connTruth{ClientPort: port}
	cc := &countingConn{Conn: c, truth: t}
	l.mu.Lock()
	l.conns[c.RemoteAddr().String()] = cc
	l.order = append(l.order, t)
	l.mu.Unlock()
	return cc, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:18080", "listen address")
	truthPath := flag.String("truth", "server-truth.json", "where to write the server's view")
	idle := flag.Duration("idle-timeout", 0, "server IdleTimeout (0: Go's default)")
	useTLS := flag.Bool("tls", false, "serve HTTPS (HTTP/2 by ALPN) with a certificate made at start for poolscope.test")
	flag.Parse()

	inner, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ln := &countingListener{Listener: inner, conns: map[string]*countingConn{}}

	mux := http.NewServeMux()
	serve := func(w http.ResponseWriter, r *http.Request) {
		serveCount(ln, r)
		if ms, _ := strconv.Atoi(r.URL.Query().Get("ms")); ms > 0 {
			time.Sleep(time.Duration(ms) * time.Millisecond)
		}
		size := 1024
		if s, err := strconv.Atoi(r.URL.Query().Get("size")); err == nil && s >= 0 {
			size = s
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Write([]byte(strings.Repeat("x", size)))
	}
	mux.HandleFunc("/", serve)
	// /chunked: a body written in pieces, so Go sends it chunked.
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		serveCount(ln, r)
		for i := 0; i < 3; i++ {
			w.Write([]byte(strings.Repeat("c", 100+i)))
			w.(http.Flusher).Flush()
		}
	})
	// /upload: reads the whole body (Go answers Expect: 100-continue first).
	mux.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		serveCount(ln, r)
		n, _ := io.Copy(io.Discard, r.Body)
		w.Write([]byte(strconv.FormatInt(n, 10)))
	})
	// /ws: a WebSocket upgrade (RFC 6455), then one text frame and the close.
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		serveCount(ln, r)
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
		buf.Write([]byte{0x81, 5, 'h', 'e', 'l', 'l', 'o'})
		buf.Flush()
		bufio.NewReader(conn).ReadByte() // until the client closes
	})
	srv := &http.Server{Handler: mux, IdleTimeout: *idle}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	if *useTLS {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{selfSigned()}, NextProtos: []string{"h2", "http/1.1"}}
		go srv.ServeTLS(ln, "", "")
	} else {
		go srv.Serve(ln)
	}
	fmt.Println("ready")
	<-stop

	ln.mu.Lock()
	out := append([]*connTruth(nil), ln.order...)
	ln.mu.Unlock()
	data, _ := json.MarshalIndent(out, "", "  ")
	os.WriteFile(*truthPath, append(data, '\n'), 0o644)
}

// serveCount counts a request on the connection it came in on.
func serveCount(ln *countingListener, r *http.Request) {
	ln.mu.Lock()
	if cc := ln.conns[r.RemoteAddr]; cc != nil {
		cc.mu.Lock()
		cc.truth.Requests++
		cc.mu.Unlock()
	}
	ln.mu.Unlock()
}

// selfSigned makes a throwaway certificate for poolscope.test.
func selfSigned() tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	template := x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "poolscope.test"},
		DNSNames: []string{"poolscope.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, _ := x509.CreateCertificate(rand.Reader, &template, &template, &key.PublicKey, key)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
