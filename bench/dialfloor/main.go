// Command dialfloor measures the floor under srvhealth's TCP probing: the CPU time a bare Go program
// spends to open and close TCP connections at a fixed rate, the way probe.tcpProber does (a net.Dialer
// with keep-alive off and a context timeout, then Close), with nothing else around it. bench/run runs it
// at the same time as the CoreDNS process it measures, pinned to the same CPU, at the same rate: what
// CoreDNS spends per probe above the floor's CPU per dial is the monitor's own cost (resolution,
// scheduling, metrics); the floor itself is the kernel's and Go's net package's.
//
// It dials the addresses of -targets (one ADDR:PORT a line) or those of the kinds tcp and blackhole in a
// peers spec file (-spec), round-robin, at -rate per second for -duration. Dials are paced by the clock:
// a tick that comes late (the CPU was busy) starts every dial that is due by then, so the rate holds.
//
// Output, on stdout:
//
//	mark SEQ DIALS OK FAILED USER_S SYS_S MAXRSS_KB UNIX_NS   on every SIGUSR1: the counts and the
//	                                                          process's own CPU (getrusage) so far
//	DIALS OK FAILED USER_S SYS_S US_PER_DIAL                  once, at the end of -duration
//
// bench/run sends SIGUSR1 at the start and at the end of its measurement window, and takes the
// differences: the floor's CPU and dials over exactly the window it measures CoreDNS over.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	spec := flag.String("spec", "", "peers spec file: dial its tcp and blackhole addresses")
	targets := flag.String("targets", "", "file of ADDR:PORT lines to dial (instead of -spec)")
	rate := flag.Int("rate", 1000, "dials per second")
	duration := flag.Duration("duration", 20*time.Second, "how long to dial")
	timeout := flag.Duration("timeout", 2*time.Second, "timeout of one dial")
	noKeepAlive := flag.Bool("nokeepalive", false, "do not set TCP keep-alive options on the connection (as probe.dial)")
	linger0 := flag.Bool("linger0", false, "close with SO_LINGER 0 (RST, no TIME_WAIT)")
	flag.Parse()

	var addrs []string
	var err error
	if *targets != "" {
		addrs, err = readLines(*targets)
	} else {
		addrs, err = readSpec(*spec)
	}
	if err != nil || len(addrs) == 0 || *rate <= 0 {
		log.Fatalf("dialfloor: no addresses in %q%q or no rate: %v", *targets, *spec, err)
	}
	d := net.Dialer{}
	if *noKeepAlive {
		d.KeepAlive = -1
	}

	marks := make(chan os.Signal, 1)
	signal.Notify(marks, syscall.SIGUSR1)

	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	dialOne := func(a string) {
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
	}

	r0 := usage()
	every := max(time.Second/time.Duration(*rate), time.Millisecond)
	tick := time.NewTicker(every)
	defer tick.Stop()
	start := time.Now()
	end := start.Add(*duration)
	n, seq := 0, 0
loop:
	for {
		select {
		case now := <-tick.C:
			if now.After(end) {
				now = end
			}
			// Every dial due by now: rate * elapsed, so late ticks do not lower the rate.
			due := int(now.Sub(start).Seconds() * float64(*rate))
			for ; n < due; n++ {
				a := addrs[n%len(addrs)]
				wg.Go(func() { dialOne(a) })
			}
			if !now.Before(end) {
				break loop
			}
		case <-marks:
			seq++
			r := usage()
			fmt.Printf("mark %d %d %d %d %.6f %.6f %d %d\n", seq, n, ok.Load(), failed.Load(),
				(r.user - r0.user).Seconds(), (r.sys - r0.sys).Seconds(), r.maxRSS, time.Now().UnixNano())
		}
	}
	wg.Wait()
	signal.Stop(marks)
	r1 := usage()
	user := r1.user - r0.user
	sys := r1.sys - r0.sys
	fmt.Printf("%d %d %d %.2f %.2f %.1f\n", n, ok.Load(), failed.Load(), user.Seconds(), sys.Seconds(),
		float64((user+sys).Microseconds())/float64(max(n, 1)))
}

type cpu struct {
	user, sys time.Duration
	maxRSS    int64 // KiB
}

func usage() cpu {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return cpu{time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()), ru.Maxrss}
}

// readLines reads one address a line; blank lines and '#' comments are skipped.
func readLines(path string) ([]string, error) {
	return scan(path, func(fields []string) (string, bool) {
		if len(fields) == 1 {
			return fields[0], true
		}
		return "", false
	})
}

// readSpec reads the tcp and blackhole addresses of a peers spec file.
func readSpec(path string) ([]string, error) {
	return scan(path, func(fields []string) (string, bool) {
		if len(fields) == 2 && (fields[0] == "tcp" || fields[0] == "blackhole") {
			return fields[1], true
		}
		return "", false
	})
}

func scan(path string, pick func([]string) (string, bool)) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if a, ok := pick(strings.Fields(line)); ok {
			out = append(out, a)
		}
	}
	return out, sc.Err()
}
