package probe

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// The fake servers the tests probe are internal/fakepeer's: on 127.0.0.1, closed when the test ends.

// probeCtx bounds a probe the way the monitor does.
func probeCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func mustNew(t *testing.T, m Method, opts Options) Prober {
	t.Helper()
	p, err := New(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPeerText(t *testing.T) {
	long := strings.Repeat("x", 1000)
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"sip 404 Not Found", "sip 404 Not Found"},
		{"sip 404 Não Encontrado", "sip 404 Não Encontrado"}, // printable UTF-8 stays
		{"a\tb\r\nc\x00d\x1b[2Je\x7f", "a?b??c?d?[2Je?"},
		{"bad \xff\xfe utf-8", "bad ?? utf-8"},
		{"bidi \u202etxt.exe \u200b \u0085", "bidi ?txt.exe ? ?"}, // format and C1 controls too
		{long, long[:MaxPeerText-3] + "..."},
		{long[:MaxPeerText], long[:MaxPeerText]},
		{long[:MaxPeerText+1], long[:MaxPeerText-3] + "..."},
	} {
		if got := PeerText(tt.in); got != tt.want {
			t.Errorf("PeerText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// The cut never splits a character: 'é' is two bytes, and 125 bytes of text leave no room for half
	// of one.
	in := strings.Repeat("é", 200)
	got := PeerText(in)
	if len(got) > MaxPeerText || !utf8.ValidString(got) || !strings.HasSuffix(got, "...") {
		t.Errorf("PeerText of 200 'é' = %q (%d bytes)", got, len(got))
	}
	if want := strings.Repeat("é", (MaxPeerText-3)/2) + "..."; got != want {
		t.Errorf("PeerText of 200 'é' = %q, want %q", got, want)
	}
}

// Whatever a server sends, a Result holds at most MaxPeerText bytes of printable text in each string.
func checkPeerText(t *testing.T, what, s string) {
	t.Helper()
	if len(s) > MaxPeerText || !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		t.Errorf("%s: %d bytes, %q", what, len(s), s)
	}
}
