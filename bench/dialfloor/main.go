// Command dialfloor measures the floor under srvhealth's TCP probing: the CPU time a bare Go program
// spends to open and close TCP connections at a fixed rate, the way probe.tcpProber does (net.Dialer with
// a context timeout, then Close), with nothing else around it. bench/run compares the CoreDNS process's
// probing CPU with it: what is above the floor is the monitor's own cost (resolution, scheduling,
// metrics); the floor itself is the kernel's and Go's net package's.
//
// It dials the addresses of the kinds tcp and blackhole in a peers spec file, round-robin, at -rate per
// second for -duration, and prints one line: "dials ok failed user_s sys_s us_per_dial".
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	spec := flag.String("spec", "", "peers spec file")
	rate := flag.Int("rate", 1000, "dials per second")
	duration := flag.Duration("duration", 20*time.Second, "how long to dial")
	timeout := flag.Duration("timeout", 2*time.Second, "timeout of one dial")
	noKeepAlive := flag.Bool("nokeepalive", false, "do not set TCP keep-alive options on the connection")
	linger0 := flag.Bool("linger0", false, "close with SO_LINGER 0 (RST, no TIME_WAIT)")
	flag.Parse()

	addrs, err := readSpec(*spec)
	if err != nil || len(addrs) == 0 {
		log.Fatalf("dialfloor: no addresses in %q: %v", *spec, err)
	}
	d := net.Dialer{}
	if *noKeepAlive {
		d.KeepAlive = -1
	}

	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	r0 := usage()
	tick := time.NewTicker(time.Second / time.Duration(*rate))
	defer tick.Stop()
	end := time.Now().Add(*duration)
	n := 0
	for now := range tick.C {
		if now.After(end) {
			break
		}
		a := addrs[n%len(addrs)]
		n++
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), *timeout)
			defer cancel()
			c, err := d.DialContext(ctx, "tcp", a)
			if err != nil {
				failed.Add(1)
				return
			}
			if *linger0 {
				c.(*net.TCPConn).SetLinger(0)
			}
			c.Close()
			ok.Add(1)
		})
	}
	wg.Wait()
	r1 := usage()
	user := r1.user - r0.user
	sys := r1.sys - r0.sys
	fmt.Printf("%d %d %d %.2f %.2f %.1f\n", n, ok.Load(), failed.Load(), user.Seconds(), sys.Seconds(),
		float64((user+sys).Microseconds())/float64(max(n, 1)))
}

type cpu struct{ user, sys time.Duration }

func usage() cpu {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return cpu{time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())}
}

func readSpec(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 2 && (fields[0] == "tcp" || fields[0] == "blackhole") {
			out = append(out, fields[1])
		}
	}
	return out, sc.Err()
}
