package probe

import "context"

// tcpProber is up when a TCP connection to the target completes. It is the weakest check: a kernel
// accepts connections for a process that no longer reads them (the listen backlog), so a hung server
// passes. Use a protocol probe where one exists.
type tcpProber struct{}

func (tcpProber) probe(ctx context.Context, t Target) Result {
	c, err := dial(ctx, "tcp", t)
	if err != nil {
		return failed(err)
	}
	c.Close()
	return up()
}
