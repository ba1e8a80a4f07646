package srvhealth_test

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// dockerStage is one stage of the Dockerfile: its FROM line and the instructions after it.
type dockerStage struct {
	from  string
	lines []string
}

// readDockerfile returns the Dockerfile's stages, continuation lines joined and comments left out.
func readDockerfile(t *testing.T) []dockerStage {
	t.Helper()
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var stages []dockerStage
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	for l := range strings.SplitSeq(text, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "FROM "):
			stages = append(stages, dockerStage{from: l})
		case len(stages) == 0:
			t.Fatalf("Dockerfile: %q before FROM", l)
		default:
			stages[len(stages)-1].lines = append(stages[len(stages)-1].lines, l)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and the image", len(stages))
	}
	return stages
}

// find returns the stage's first instruction matching re, or "".
func (s dockerStage) find(re string) string {
	r := regexp.MustCompile(re)
	for _, l := range s.lines {
		if r.MatchString(l) {
			return l
		}
	}
	return ""
}

// shellWords splits a shell command line into words, with single and double quotes.
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	in, quote := false, rune(0)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			w.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, w.String())
	}
	return words
}

// imageSpec is what the Dockerfile says of the image: the setcap command run on the binary in the build
// stage, the user of the final stage, and the build's settings.
type imageSpec struct {
	setcap []string // the RUN setcap words, binary path last
	user   string
	build  map[string]string // -tags, -ldflags, -trimpath, CGO_ENABLED
}

// TestDeployDockerfile checks the Dockerfile for what issue 24 item 1 found: the binary gets the file
// capability cap_net_bind_service in the build stage and keeps it into the image, the user is numeric
// (runAsNonRoot cannot check a name), and .dockerignore keeps .git out of `COPY . .`.
func TestDeployDockerfile(t *testing.T) {
	spec := dockerfileSpec(t)
	if spec.build["CGO_ENABLED"] != "0" || spec.build["-trimpath"] != "true" || spec.build["-tags"] == "" {
		t.Errorf("build settings %v", spec.build)
	}
	ignore, err := os.ReadFile(".dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^/?\.git/?$`).Match(ignore) {
		t.Errorf(".dockerignore does not leave out .git:\n%s", ignore)
	}
}

func dockerfileSpec(t *testing.T) imageSpec {
	t.Helper()
	stages := readDockerfile(t)
	build, final := stages[0], stages[len(stages)-1]
	var spec imageSpec

	goBuild := shellWords(strings.TrimPrefix(build.find(`^RUN .*go build `), "RUN "))
	spec.build = map[string]string{}
	out := ""
	for i := 0; i < len(goBuild); i++ {
		w := goBuild[i]
		switch {
		case strings.HasPrefix(w, "CGO_ENABLED="):
			spec.build["CGO_ENABLED"] = strings.TrimPrefix(w, "CGO_ENABLED=")
		case w == "-trimpath":
			spec.build[w] = "true"
		case (w == "-tags" || w == "-ldflags" || w == "-o") && i+1 < len(goBuild):
			spec.build[w] = goBuild[i+1]
			i++
		}
	}
	out = spec.build["-o"]
	if out == "" {
		t.Fatalf("Dockerfile: no RUN go build -o in the build stage")
	}

	setcap := build.find(`^RUN setcap `)
	spec.setcap = shellWords(strings.TrimPrefix(setcap, "RUN "))
	if len(spec.setcap) != 3 || spec.setcap[1] != "cap_net_bind_service=+ep" || spec.setcap[2] != out {
		t.Errorf("Dockerfile: build stage setcap %q, want `RUN setcap cap_net_bind_service=+ep %s`: without the file capability "+
			"NET_BIND_SERVICE does not reach a non-root process on containerd 1.x and CRI-O", setcap, out)
	}
	if final.find(`^COPY --from=build `+regexp.QuoteMeta(out)+` `) == "" {
		t.Errorf("Dockerfile: the image does not copy %s from the build stage", out)
	}
	spec.user = strings.TrimPrefix(final.find(`^USER `), "USER ")
	if !regexp.MustCompile(`^[1-9][0-9]*:[0-9]+$`).MatchString(spec.user) {
		t.Errorf("Dockerfile: USER %q, want a numeric non-root uid:gid (the kubelet refuses runAsNonRoot with a name)", spec.user)
	}
	return spec
}

// TestDeployImageCapability runs what the image runs, as far as this machine allows: the CI binary
// (SRVHEALTH_COREDNS_BINARY, built as the Dockerfile builds it), given the capability by the Dockerfile's
// setcap and run as the Dockerfile's numeric user with NET_BIND_SERVICE in its bounding set, none
// inheritable or ambient, and no_new_privs (allowPrivilegeEscalation: false), as containerd 1.x and CRI-O
// run a non-root container that adds it, binds port 53; without the capability it does not. With podman, the binary is built into an image from the Dockerfile's final stage (FROM scratch:
// the bases cannot be pulled here) and the image's layer carries the capability and the numeric user.
// The image itself is not run: podman cannot run containers here.
func TestDeployImageCapability(t *testing.T) {
	spec := dockerfileSpec(t)
	bin := os.Getenv("SRVHEALTH_COREDNS_BINARY")
	if bin == "" {
		t.Skip("SRVHEALTH_COREDNS_BINARY not set (.ci/run builds it as the Dockerfile does)")
	}
	setpriv, err1 := exec.LookPath("setpriv")
	_, err2 := exec.LookPath(spec.setcap[0])
	if err1 != nil || err2 != nil || os.Geteuid() != 0 {
		t.Skip("needs root, setpriv (util-linux) and setcap (libcap2-bin)")
	}

	// The binary is the one the Dockerfile builds: same tags, flags and cgo setting.
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range bi.Settings {
		got[s.Key] = s.Value
	}
	for _, k := range []string{"CGO_ENABLED", "-trimpath", "-tags", "-ldflags"} {
		if _, ok := got[k]; (ok || k != "-ldflags") && got[k] != spec.build[k] { // -trimpath leaves -ldflags out
			t.Errorf("%s built with %s=%q, the Dockerfile builds with %q", bin, k, got[k], spec.build[k])
		}
	}

	// The user the binary runs as must reach it: t.TempDir's parent is private.
	dir, err := os.MkdirTemp("", "srvhealth-image-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	copyFile := func(name string) string {
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain, capable := copyFile("plain"), copyFile("coredns")
	args := append(spec.setcap[:len(spec.setcap)-1:len(spec.setcap)-1], capable)
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if err := checkCapability(fileCapability(t, capable)); err != nil {
		t.Errorf("%s after the Dockerfile's setcap: %v", capable, err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	uid, gid, _ := strings.Cut(spec.user, ":")
	run := func(binary string) (answered bool, output string) {
		const addr = "127.0.77.53"
		corefile := filepath.Join(dir, "Corefile")
		if err := os.WriteFile(corefile, []byte(".:53 {\n    bind "+addr+"\n    whoami\n}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, setpriv, "--reuid="+uid, "--regid="+gid, "--clear-groups", "--inh-caps=-all",
			"--bounding-set=-all,+net_bind_service", "--no-new-privs", binary, "-conf", corefile)
		cmd.Dir = dir
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		m := new(dns.Msg)
		m.SetQuestion("whoami.example.", dns.TypeA)
		c := &dns.Client{Net: "tcp", Timeout: 200 * time.Millisecond}
	poll:
		for range 100 {
			select {
			case <-done:
				break poll
			default:
			}
			if r, _, err := c.Exchange(m, net.JoinHostPort(addr, "53")); err == nil && r.Rcode == dns.RcodeSuccess {
				answered = true
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		<-done
		return answered, out.String()
	}
	// The control: this kernel keeps port 53 from a non-root process without the capability, as the nodes of
	// those runtimes do (ip_unprivileged_port_start 1024).
	if start, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil && strings.TrimSpace(string(start)) != "" {
		if n, _ := strconv.Atoi(strings.TrimSpace(string(start))); n > 53 {
			if ok, out := run(plain); ok || !strings.Contains(out, "permission denied") {
				t.Errorf("without the capability, uid %s answered=%v:\n%s", uid, ok, out)
			}
		}
	}
	if ok, out := run(capable); !ok {
		t.Errorf("with the Dockerfile's capability, uid %s did not answer on port 53:\n%s", uid, out)
	}

	podmanImage(t, dir, capable, spec)
}

// podmanImage builds the Dockerfile's final stage FROM scratch with the prepared binary as the build
// stage's output, and checks the image: the layer's file keeps the capability, the user is numeric.
func podmanImage(t *testing.T, dir, binary string, spec imageSpec) {
	podman, err := exec.LookPath("podman")
	if err != nil {
		t.Log("podman not installed: the image itself not checked")
		return
	}
	stages := readDockerfile(t)
	var df strings.Builder
	df.WriteString("FROM scratch AS build\nCOPY " + filepath.Base(binary) + " " + spec.build["-o"] + "\n\nFROM scratch\n")
	for _, l := range stages[len(stages)-1].lines {
		df.WriteString(l + "\n")
	}
	ctxDir := filepath.Join(dir, "image")
	if err := os.Mkdir(ctxDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A hard link keeps the file's extended attributes, a copy would not.
	if err := os.Link(binary, filepath.Join(ctxDir, filepath.Base(binary))); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(df.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tag := "localhost/srvhealth-deploy-test:" + strconv.Itoa(os.Getpid())
	if out, err := exec.Command(podman, "build", "-q", "-t", tag, ctxDir).CombinedOutput(); err != nil {
		t.Fatalf("podman build: %v\n%s\n%s", err, out, df.String())
	}
	defer exec.Command(podman, "rmi", "-f", tag).Run()
	user, err := exec.Command(podman, "image", "inspect", "--format", "{{.Config.User}}", tag).Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(user)) != spec.user {
		t.Errorf("image user %q, want %s", user, spec.user)
	}
	archive := filepath.Join(dir, "image.tar")
	if out, err := exec.Command(podman, "save", "--format", "docker-archive", "-o", archive, tag).CombinedOutput(); err != nil {
		t.Fatalf("podman save: %v\n%s", err, out)
	}
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := strings.TrimPrefix(spec.build["-o"], "/")
	found := false
	outer := tar.NewReader(f)
	for {
		h, err := outer.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(h.Name, ".tar") {
			continue
		}
		layer := tar.NewReader(outer)
		for {
			lh, err := layer.Next()
			if err != nil {
				break
			}
			if strings.TrimPrefix(lh.Name, "./") == want {
				found = true
				if err := checkCapability([]byte(lh.PAXRecords["SCHILY.xattr.security.capability"])); err != nil {
					t.Errorf("the image's %s: %v", want, err)
				}
			}
		}
	}
	if !found {
		t.Errorf("no %s in the image's layers", want)
	}
}

// fileCapability returns the security.capability extended attribute of a file.
func fileCapability(t *testing.T, path string) []byte {
	t.Helper()
	buf := make([]byte, 64)
	n, err := syscall.Getxattr(path, "security.capability", buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

// checkCapability checks a security.capability value (struct vfs_cap_data, linux/capability.h): the
// effective flag set and CAP_NET_BIND_SERVICE (10) permitted.
func checkCapability(v []byte) error {
	const capNetBindService = 10
	if len(v) < 12 {
		return errors.New("no file capability")
	}
	magic := binary.LittleEndian.Uint32(v[0:4])
	permitted := binary.LittleEndian.Uint32(v[4:8])
	if magic&1 == 0 || permitted&(1<<capNetBindService) == 0 {
		return errors.New("file capability is not cap_net_bind_service=ep")
	}
	return nil
}
