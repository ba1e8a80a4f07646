// Package fleet lets srvhealth replicas share one view of health over hashicorp/memberlist: each kept
// target is probed by a few owners chosen by rendezvous hashing over the members alive in each member's
// own view, the owners broadcast what they find, every member adopts it into its own table, a member that
// hears nothing of a target in time probes it itself, and a member that joins pulls the fleet's state
// before it reports ready.
//
// memberlist does membership, failure detection, gossip, push/pull and encryption; this package only gives
// the bytes a meaning (codec.go) and decides who probes what (rendezvous.go). There is one member per
// process, shared by the server blocks and instances that name the same fleet, like the health package's
// registry of states: a reload that keeps the fleet keeps the member, and one that changes it rejoins.
package fleet

import (
	"bytes"
	"context"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	clog "github.com/coredns/coredns/plugin/pkg/log"

	"github.com/srvhealth/srvhealth/health"
)

var log = clog.NewWithPlugin("srvhealth")

// Config is the fleet a block names.
type Config struct {
	Bind    netip.AddrPort // where this member listens for gossip (UDP and TCP)
	Peers   []string       // HOST:PORT, or a DNS name (port: Bind's) resolved at start and whenever alone
	Key     []byte         // the memberlist key (16, 24 or 32 octets); nil: gossip in the clear (loopback only)
	Probers int            // owners per target; default DefaultProbers
}

// DefaultProbers is the number of members that probe each target.
const DefaultProbers = 2

// JoinWait bounds how long a member that joins waits for the fleet's state before it reports ready.
const JoinWait = 5 * time.Second

// pushPullEvery is how often a member exchanges every kept target's state with another at random.
const pushPullEvery = 5 * time.Second

// rejoinEvery is how often a member that finds itself alone resolves its peers and tries them again.
const rejoinEvery = 5 * time.Second

// Equal reports whether c and o are the same fleet, as one process can be a member of one only.
func (c Config) Equal(o Config) bool { return c.equal(o) }

func (c Config) equal(o Config) bool {
	return c.Bind == o.Bind && slices.Equal(c.Peers, o.Peers) && bytes.Equal(c.Key, o.Key) && c.probers() == o.probers()
}

func (c Config) probers() int {
	if c.Probers <= 0 {
		return DefaultProbers
	}
	return c.Probers
}

// Name returns the name a member of c has in its fleet: the host name and the gossip address, unique per
// pod in Kubernetes and per port on one host, and the same across a restart, so a member that comes back
// takes its own place rather than leaving a ghost to time out.
func (c Config) Name() string {
	host, _ := os.Hostname()
	return host + "@" + c.Bind.String()
}

// the process-wide member.
var (
	mu  sync.Mutex
	cur *Member
)

// Member is this process in its fleet.
type Member struct {
	cfg     Config
	name    string
	probers int
	ml      *memberlist.Memberlist
	q       *memberlist.TransmitLimitedQueue

	refs   int  // guarded by mu
	closed bool // guarded by mu

	linksMu sync.RWMutex
	links   map[*Link]struct{}

	wantsMu sync.Mutex
	wants   map[string]time.Time // key string -> when a want of it was last sent or heard

	view   atomic.Pointer[[]string] // names of the members alive in this member's view, sorted
	viewAt atomic.Int64             // when view was taken, Unix ns

	synced chan struct{} // closed once the first join pulled the fleet's state, or gave up
	quit   chan struct{}
	wg     sync.WaitGroup
}

// acquire returns the process's member for c, with l among its links, started if need be. A member of
// another configuration leaves its fleet first: one process is one member. The link is in place before the
// member joins, so the states pulled on joining reach l's Monitor.
func acquire(c Config, l *Link) (*Member, error) {
	mu.Lock()
	defer mu.Unlock()
	if cur != nil && cur.cfg.equal(c) {
		cur.refs++
		cur.linksMu.Lock()
		cur.links[l] = struct{}{}
		cur.linksMu.Unlock()
		return cur, nil
	}
	if cur != nil {
		log.Infof("fleet: configuration changed, leaving as %s", cur.name)
		cur.close()
		cur = nil
	}
	m, err := start(c, l)
	if err != nil {
		return nil, err
	}
	m.refs = 1
	cur = m
	return m, nil
}

// release lets go of m; the last user makes it leave its fleet.
func release(m *Member) {
	mu.Lock()
	defer mu.Unlock()
	m.refs--
	if m.refs > 0 || m.closed {
		return
	}
	m.close()
	if cur == m {
		cur = nil
	}
}

// start starts a member of c feeding l and joins its peers.
func start(c Config, l *Link) (*Member, error) {
	m := &Member{cfg: c, name: c.Name(), probers: c.probers(), links: map[*Link]struct{}{l: {}},
		synced: make(chan struct{}), quit: make(chan struct{})}
	mc := memberlist.DefaultLANConfig()
	mc.Name = m.name
	mc.BindAddr = c.Bind.Addr().String()
	mc.BindPort = int(c.Bind.Port())
	if c.Bind.Addr().IsLoopback() {
		mc.AdvertiseAddr, mc.AdvertisePort = mc.BindAddr, mc.BindPort
	}
	mc.TCPTimeout = 2 * time.Second
	// Gossip carries about 21 KB/s of states a member (memberlist's packet budget), some 15 new states a
	// second: enough for a few hundred kept targets, far from 10,000 (BenchmarkGossip). The full exchange
	// of states with one member at random (push/pull, over TCP, compressed) carries the rest: every
	// pushPullEvery rather than memberlist's 30 s, so a member hears of every target well within the
	// interval x (fails + 1) + timeout after which it would probe the target itself.
	mc.PushPullInterval = pushPullEvery
	if c.Key != nil {
		kr, err := memberlist.NewKeyring(nil, c.Key)
		if err != nil {
			return nil, fmt.Errorf("fleet_key: %w", err)
		}
		mc.Keyring = kr
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	}
	mc.Delegate = (*delegate)(m)
	mc.Events = (*events)(m)
	mc.Logger = stdlog.New(logWriter{}, "", 0)
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("fleet %s: %w", c.Bind, err)
	}
	m.ml = ml
	m.q = &memberlist.TransmitLimitedQueue{NumNodes: ml.NumMembers, RetransmitMult: mc.RetransmitMult}
	m.refreshView()
	log.Infof("fleet: %s listening on %s", m.name, c.Bind)
	if len(c.Peers) == 0 {
		close(m.synced) // alone by design: ready as without a fleet
	}
	m.wg.Add(1)
	go m.run()
	return m, nil
}

// close leaves the fleet and stops the member; the caller holds mu.
func (m *Member) close() {
	m.closed = true
	close(m.quit)
	m.wg.Wait()
	if err := m.ml.Leave(time.Second); err != nil {
		log.Warningf("fleet: leaving: %v", err)
	}
	_ = m.ml.Shutdown()
	membersAlive.Set(0)
	log.Infof("fleet: %s left", m.name)
}

// run joins the peers, and again whenever the member finds itself alone, until the member closes.
func (m *Member) run() {
	defer m.wg.Done()
	if len(m.cfg.Peers) > 0 {
		joined := make(chan struct{})
		go func() {
			defer close(joined)
			m.join() // push/pull with the peers it reaches, so their states are adopted before it returns
		}()
		t := time.NewTimer(JoinWait)
		select {
		case <-joined:
		case <-t.C:
			log.Warningf("fleet: no state from %v within %s; reporting ready with what this member knows", m.cfg.Peers, JoinWait)
		case <-m.quit:
		}
		t.Stop()
		close(m.synced)
		select {
		case <-joined:
		case <-m.quit:
			<-joined
			return
		}
	}
	tick := time.NewTicker(rejoinEvery)
	defer tick.Stop()
	for {
		select {
		case <-m.quit:
			return
		case <-tick.C:
		}
		m.refreshView()
		m.sweepWants(time.Now())
		if len(m.cfg.Peers) > 0 && m.ml.NumMembers() <= 1 {
			m.join()
		}
	}
}

// join resolves the peers and joins the ones it can reach.
func (m *Member) join() {
	addrs := m.resolvePeers()
	if len(addrs) == 0 {
		return
	}
	n, err := m.ml.Join(addrs)
	if n > 0 {
		log.Infof("fleet: %s joined through %d of %d peer address(es)", m.name, n, len(addrs))
	} else if err != nil {
		log.Warningf("fleet: joining %v: %v", addrs, err)
	}
	m.refreshView()
}

// resolvePeers returns the peers' addresses, a DNS name resolved to every address it has (a headless
// Service lists the pods), without this member's own.
func (m *Member) resolvePeers() []string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var out []string
	for _, p := range m.cfg.Peers {
		host, port, err := net.SplitHostPort(p)
		if err != nil {
			host, port = p, strconv.Itoa(int(m.cfg.Bind.Port()))
		}
		var ips []string
		if _, err := netip.ParseAddr(host); err == nil {
			ips = []string{host}
		} else if ips, err = m.lookup(ctx, host); err != nil {
			log.Warningf("fleet: peer %s: %v", p, err)
			continue
		}
		self := m.ml.LocalNode()
		for _, ip := range ips {
			a := net.JoinHostPort(ip, port)
			if ap, err := netip.ParseAddrPort(a); err == nil && (ap == m.cfg.Bind ||
				ap.Port() == self.Port && net.IP(ap.Addr().AsSlice()).Equal(self.Addr)) {
				continue // itself: a headless Service lists this pod too
			}
			out = append(out, a)
		}
	}
	return out
}

// lookup resolves a peer's name through the server's own plugins first (a CoreDNS pod runs with the node's
// resolv.conf, which knows nothing of the cluster's Services), and through the system's resolver when they
// give no address.
func (m *Member) lookup(ctx context.Context, host string) ([]string, error) {
	m.linksMu.RLock()
	var chain func(context.Context, string) ([]netip.Addr, error)
	for l := range m.links {
		if l.Lookup != nil {
			chain = l.Lookup
			break
		}
	}
	m.linksMu.RUnlock()
	if chain != nil {
		if as, err := chain(ctx, host); err == nil && len(as) > 0 {
			out := make([]string, len(as))
			for i, a := range as {
				out[i] = a.String()
			}
			return out, nil
		}
	}
	return net.DefaultResolver.LookupHost(ctx, host)
}

// viewEvery bounds how often the member list is read for the owners: memberlist takes a lock for it.
const viewEvery = 250 * time.Millisecond

// alive returns the names of the members alive in this member's view, sorted; a suspect member is not
// counted, so its targets move to the next owners while memberlist makes up its mind.
func (m *Member) alive() []string {
	if time.Now().UnixNano()-m.viewAt.Load() > int64(viewEvery) {
		m.refreshView()
	}
	return *m.view.Load()
}

func (m *Member) refreshView() {
	var names []string
	for _, n := range m.ml.Members() {
		if n.State == memberlist.StateAlive {
			names = append(names, n.Name)
		}
	}
	slices.Sort(names)
	m.view.Store(&names)
	m.viewAt.Store(time.Now().UnixNano())
	membersAlive.Set(float64(len(names)))
}

// owns reports whether this member is one of k's owners.
func (m *Member) owns(k health.Key) bool {
	return owns(m.alive(), m.name, health.KeyString(k), m.probers)
}

// Owners returns the owners of k in this member's view, highest first; for tests and diagnostics.
func (m *Member) Owners(k health.Key) []string {
	return owners(m.alive(), health.KeyString(k), m.probers)
}

func (m *Member) broadcast(name string, msg []byte) {
	m.q.QueueBroadcast(namedBroadcast{name: name, msg: msg})
}

// apply hands a decoded message to the Monitors of the member's links.
func (m *Member) apply(msg message) {
	m.linksMu.RLock()
	defer m.linksMu.RUnlock()
	switch msg.typ {
	case msgState:
		for l := range m.links {
			if mon := l.monitor(); mon != nil {
				mon.Adopt(msg.state)
			}
		}
	case msgWant:
		m.wantSeen(health.KeyString(msg.want), time.Now())
		if !m.owns(msg.want) {
			return
		}
		for l := range m.links {
			if mon := l.monitor(); mon != nil {
				mon.Want(msg.want, msg.domain)
			}
		}
	}
}

// wantSeen records that a want of the key named ks was sent or heard at now.
func (m *Member) wantSeen(ks string, now time.Time) {
	m.wantsMu.Lock()
	defer m.wantsMu.Unlock()
	if m.wants == nil {
		m.wants = map[string]time.Time{}
	}
	m.wants[ks] = now
}

// wantRecent reports whether a want of the key named ks was sent or heard within d of now: the owners need
// one a round to keep the key, not one from every member that keeps it.
func (m *Member) wantRecent(ks string, now time.Time, d time.Duration) bool {
	m.wantsMu.Lock()
	defer m.wantsMu.Unlock()
	t, ok := m.wants[ks]
	return ok && now.Sub(t) < d
}

// sweepWants forgets the wants older than a minute, or all of them past maxWants keys.
func (m *Member) sweepWants(now time.Time) {
	m.wantsMu.Lock()
	defer m.wantsMu.Unlock()
	for k, t := range m.wants {
		if now.Sub(t) > time.Minute || len(m.wants) > maxWants {
			delete(m.wants, k)
		}
	}
}

// maxWants bounds the wants remembered at once.
const maxWants = 1 << 17

// states returns what the member's Monitors share, the newest state of each key.
func (m *Member) states() []health.Shared {
	m.linksMu.RLock()
	defer m.linksMu.RUnlock()
	byKey := map[health.Key]health.Shared{}
	for l := range m.links {
		mon := l.monitor()
		if mon == nil {
			continue
		}
		for _, s := range mon.Shared() {
			if o, ok := byKey[s.Key]; !ok || s.Newer(&o) {
				byKey[s.Key] = s
			}
		}
	}
	out := make([]health.Shared, 0, len(byKey))
	for _, s := range byKey {
		out = append(out, s)
	}
	return out
}

// namedBroadcast is one queued message; a newer one of the same name (a key's state, or a want of it)
// replaces it in the queue.
type namedBroadcast struct {
	name string
	msg  []byte
}

func (b namedBroadcast) Invalidates(o memberlist.Broadcast) bool {
	nb, ok := o.(namedBroadcast)
	return ok && nb.name == b.name
}
func (b namedBroadcast) Message() []byte { return b.msg }
func (b namedBroadcast) Finished()       {}
func (b namedBroadcast) Name() string    { return b.name }

// delegate is memberlist's view of a Member: it only moves bytes.
type delegate Member

func (d *delegate) NodeMeta(limit int) []byte { return nil }

func (d *delegate) NotifyMsg(b []byte) {
	msg, err := decode(b, time.Now())
	if err != nil {
		messagesIn.WithLabelValues("invalid").Inc()
		return
	}
	messagesIn.WithLabelValues(typeName(msg.typ)).Inc()
	(*Member)(d).apply(msg)
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	bs := d.q.GetBroadcasts(overhead, limit)
	n := 0
	for _, b := range bs {
		if len(b) > 0 {
			messagesOut.WithLabelValues(typeName(b[0])).Inc()
			n += len(b)
		}
	}
	sentBytes.WithLabelValues("gossip").Add(float64(n))
	return bs
}

func (d *delegate) LocalState(join bool) []byte {
	b := encodeStates((*Member)(d).states())
	sentBytes.WithLabelValues("pushpull").Add(float64(len(b)))
	return b
}

func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	ss, err := decodeStates(buf, time.Now())
	if err != nil {
		messagesIn.WithLabelValues("invalid").Inc()
		return
	}
	pulledStates.Add(float64(len(ss)))
	m := (*Member)(d)
	for _, s := range ss {
		m.apply(message{typ: msgState, state: s})
	}
}

func typeName(t byte) string {
	switch t {
	case msgState:
		return "state"
	case msgWant:
		return "want"
	}
	return "invalid"
}

// events refreshes the view as memberlist learns of members.
type events Member

func (e *events) NotifyJoin(n *memberlist.Node) {
	log.Infof("fleet: member %s joined", n.Name)
	e.viewAt.Store(0)
}
func (e *events) NotifyLeave(n *memberlist.Node) {
	log.Infof("fleet: member %s left or failed", n.Name)
	e.viewAt.Store(0)
}
func (e *events) NotifyUpdate(n *memberlist.Node) { e.viewAt.Store(0) }

// logWriter sends memberlist's log lines to CoreDNS's log: its warnings and errors as warnings, its word
// that it suspects a member (failure detection at work: that member's targets move) at info, the rest (a
// line per probe and join at debug) nowhere.
type logWriter struct{}

func (logWriter) Write(p []byte) (int, error) {
	switch {
	case bytes.Contains(p, []byte("[ERR]")), bytes.Contains(p, []byte("[WARN]")):
		log.Warningf("fleet: memberlist: %s", bytes.TrimSpace(p))
	case bytes.Contains(p, []byte("Suspect")), bytes.Contains(p, []byte("Marking")):
		log.Infof("fleet: memberlist: %s", bytes.TrimSpace(p))
	}
	return len(p), nil
}

var _ io.Writer = logWriter{}

// Link is one Monitor's tie to the process's member: the health.Sharer its Monitor is built with, before
// the member exists, and started with the block's instance.
type Link struct {
	// Lookup, when set, resolves the peers' names through the server's plugins; set it before Start.
	Lookup func(ctx context.Context, host string) ([]netip.Addr, error)
	// Interval is the Monitor's probe interval: a member sends no want of a key another sent within it.
	Interval time.Duration

	cfg  Config
	name string
	mon  atomic.Pointer[health.Monitor]
	mem  atomic.Pointer[Member]
	done atomic.Bool
}

// NewLink returns a link to the fleet c, not started.
func NewLink(c Config) *Link { return &Link{cfg: c, name: c.Name()} }

// Attach sets the Monitor the link feeds; call it before Start.
func (l *Link) Attach(m *health.Monitor) { l.mon.Store(m) }

func (l *Link) monitor() *health.Monitor { return l.mon.Load() }

// Start joins the process's member (started, and its fleet joined, if need be).
func (l *Link) Start() error {
	m, err := acquire(l.cfg, l)
	if err != nil {
		return err
	}
	l.mem.Store(m)
	return nil
}

// Stop lets go of the member; the last link of a member makes it leave the fleet. Safe to call twice.
func (l *Link) Stop() {
	m := l.mem.Load()
	if m == nil || !l.done.CompareAndSwap(false, true) {
		return
	}
	m.linksMu.Lock()
	delete(m.links, l)
	m.linksMu.Unlock()
	release(m)
}

// Ready reports whether the member pulled the fleet's state on joining (or gave up after JoinWait); a
// link not started is not ready.
func (l *Link) Ready() bool {
	m := l.mem.Load()
	if m == nil {
		return false
	}
	select {
	case <-m.synced:
		return true
	default:
		return false
	}
}

// Member returns the link's member; nil before Start.
func (l *Link) Member() *Member { return l.mem.Load() }

// Name implements health.Sharer.
func (l *Link) Name() string { return l.name }

// live returns the link's member while it is in a fleet.
func (l *Link) live() *Member {
	m := l.mem.Load()
	if m == nil || l.done.Load() {
		return nil
	}
	select {
	case <-m.quit:
		return nil
	default:
		return m
	}
}

// Owns implements health.Sharer: a link out of its fleet owns every target, as a process alone does.
func (l *Link) Owns(k health.Key) bool {
	m := l.live()
	return m == nil || m.owns(k)
}

// Share implements health.Sharer.
func (l *Link) Share(s health.Shared) {
	if m := l.live(); m != nil {
		m.broadcast("s "+health.KeyString(s.Key), encodeState(s))
	}
}

// Want implements health.Sharer.
// A want heard from another member within 9/10 of an interval stands for this one's.
func (l *Link) Want(k health.Key, domain string) {
	m := l.live()
	if m == nil {
		return
	}
	ks, now := health.KeyString(k), time.Now()
	if l.Interval > 0 && m.wantRecent(ks, now, l.Interval*9/10) {
		return
	}
	m.wantSeen(ks, now)
	m.broadcast("w "+ks, encodeWant(k, domain))
}

// Fallback implements health.Sharer.
func (l *Link) Fallback(k health.Key) { fallbackProbes.Inc() }

// Probers implements health.Sharer.
func (l *Link) Probers() int { return l.cfg.probers() }
