// Package harness is pydocker's own harness for the runtime conformance checks in
// scripts/conformance/rtsuite. It drives an OCI runtime through its runc-like CLI
// (create/start/state/kill/delete) and reports in TAP. Config generation uses Debian's
// packaged github.com/opencontainers/runtime-tools/generate library.
package harness

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-tools/generate"
)

// ---------------------------------------------------------------- TAP

// T writes TAP version 13 to stdout.
type T struct {
	n      int
	failed bool
}

// NewT starts a TAP stream.
func NewT() *T {
	fmt.Println("TAP version 13")
	return &T{}
}

// Ok reports one test point; on failure the diagnostics are printed as comments.
func (t *T) Ok(cond bool, desc string, diag ...string) bool {
	t.n++
	if cond {
		fmt.Printf("ok %d - %s\n", t.n, oneLine(desc))
	} else {
		t.failed = true
		fmt.Printf("not ok %d - %s\n", t.n, oneLine(desc))
		for _, d := range diag {
			t.Diag(d)
		}
	}
	return cond
}

// NoErr is Ok(err == nil, ...) with the error as diagnostic.
func (t *T) NoErr(err error, desc string) bool {
	if err != nil {
		return t.Ok(false, desc, err.Error())
	}
	return t.Ok(true, desc)
}

// Skip reports a skipped test point.
func (t *T) Skip(desc string) {
	t.n++
	fmt.Printf("ok %d # SKIP %s\n", t.n, oneLine(desc))
}

// Diag prints a TAP comment.
func (t *T) Diag(s string) {
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		fmt.Printf("# %s\n", l)
	}
}

// Done prints the plan and exits (1 when a test point failed).
func (t *T) Done() {
	fmt.Printf("1..%d\n", t.n)
	if t.failed {
		os.Exit(1)
	}
	os.Exit(0)
}

// Bail reports a fatal harness error as a failed point and stops.
func (t *T) Bail(err error, desc string) {
	t.Ok(false, desc, err.Error())
	t.Done()
}

func oneLine(s string) string {
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", " | ")
}

// ---------------------------------------------------------------- runtime CLI

// Runtime returns the runtime command from $RUNTIME (default runc).
func Runtime() string {
	if r := os.Getenv("RUNTIME"); r != "" {
		return r
	}
	return "runc"
}

// Result of one runtime invocation.
type Result struct {
	Stdout, Stderr string
	Err            error
}

func (r Result) String() string {
	return fmt.Sprintf("err=%v stderr=%q stdout=%q", r.Err, strings.TrimSpace(r.Stderr), strings.TrimSpace(r.Stdout))
}

// Run runs `$RUNTIME args...` with a 30 s timeout and /dev/null as stdin.
func Run(args ...string) Result {
	var out, errb bytes.Buffer
	cmd := exec.Command(Runtime(), args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := runTimeout(cmd, 30*time.Second)
	return Result{out.String(), errb.String(), err}
}

func runTimeout(cmd *exec.Cmd, d time.Duration) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("%v timed out after %v", cmd.Args, d)
	}
}

// State queries the runtime's state of id.
func State(id string) (*rspec.State, Result) {
	r := Run("state", id)
	if r.Err != nil {
		return nil, r
	}
	var st rspec.State
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		r.Err = fmt.Errorf("state output is not JSON: %v", err)
		return nil, r
	}
	return &st, r
}

// WaitStatus polls state until the status is want or the timeout passes.
func WaitStatus(id string, want string, d time.Duration) (*rspec.State, error) {
	deadline := time.Now().Add(d)
	var last string
	for {
		st, r := State(id)
		if st != nil && string(st.Status) == want {
			return st, nil
		}
		if st != nil {
			last = string(st.Status)
		} else {
			last = r.String()
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("container %s did not reach %q within %v (last: %s)", id, want, d, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ---------------------------------------------------------------- bundles

// Bundle is a bundle directory with a busybox rootfs and runtimetest copied in.
type Bundle struct {
	Dir, Rootfs, ID string
	G               *generate.Generator
	// Extra holds unknown top-level properties merged into config.json (misc_props).
	Extra map[string]interface{}
}

// NewID returns a fresh container id.
func NewID() string {
	rand.Seed(time.Now().UnixNano() ^ int64(os.Getpid()))
	return fmt.Sprintf("rtsuite-%d-%08x", os.Getpid(), rand.Uint32())
}

func srcDir() string {
	if d := os.Getenv("RTSUITE_DIR"); d != "" {
		return d
	}
	d, _ := os.Getwd()
	return d
}

// NewBundle prepares a bundle in $TMPDIR: rootfs from $RTSUITE_DIR/rootfs.tar (the cwd by
// default), /runtimetest copied in, and a default config (runtime-tools' generate) whose
// process runs /runtimetest.
func NewBundle() (*Bundle, error) {
	dir, err := os.MkdirTemp(os.Getenv("TMPDIR"), "ocitest")
	if err != nil {
		return nil, err
	}
	b := &Bundle{Dir: dir, Rootfs: filepath.Join(dir, "rootfs"), ID: NewID()}
	if err := os.Mkdir(b.Rootfs, 0o755); err != nil {
		return nil, err
	}
	tarball := filepath.Join(srcDir(), "rootfs.tar")
	if out, err := exec.Command("tar", "-xf", tarball, "-C", b.Rootfs).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("untar %s: %v: %s", tarball, err, out)
	}
	if err := copyFile(filepath.Join(srcDir(), "runtimetest"), filepath.Join(b.Rootfs, "runtimetest"), 0o755); err != nil {
		return nil, err
	}
	g, err := generate.New("linux")
	if err != nil {
		return nil, err
	}
	b.G = &g
	g.SetRootPath("rootfs")
	g.SetProcessArgs([]string{"/runtimetest"})
	g.SetProcessTerminal(false)
	g.SetHostname("rtsuite")
	return b, nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// ConfigJSON renders the config (plus Extra).
func (b *Bundle) ConfigJSON() ([]byte, error) {
	raw, err := json.Marshal(b.G.Spec())
	if err != nil {
		return nil, err
	}
	if len(b.Extra) == 0 {
		return raw, nil
	}
	var m map[string]interface{}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	for k, v := range b.Extra {
		m[k] = v
	}
	return json.MarshalIndent(m, "", "\t")
}

// Save writes config.json into the bundle and a copy into the rootfs for runtimetest.
func (b *Bundle) Save() error {
	raw, err := b.ConfigJSON()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(b.Dir, "config.json"), raw, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(b.Rootfs, "config.json"), raw, 0o644)
}

// Create saves the config and runs `create --bundle DIR [extra...] ID`; the container's
// stdout and stderr go to files in the bundle.
func (b *Bundle) Create(extra ...string) Result {
	if err := b.Save(); err != nil {
		return Result{Err: err}
	}
	return b.CreateNoSave(extra...)
}

// CreateNoSave runs create without rewriting config.json.
func (b *Bundle) CreateNoSave(extra ...string) Result {
	stdout, err := os.Create(filepath.Join(b.Dir, "stdout"))
	if err != nil {
		return Result{Err: err}
	}
	defer stdout.Close()
	stderr, err := os.Create(filepath.Join(b.Dir, "stderr"))
	if err != nil {
		return Result{Err: err}
	}
	defer stderr.Close()
	args := append([]string{"create", "--bundle", b.Dir}, extra...)
	args = append(args, b.ID)
	cmd := exec.Command(Runtime(), args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err = runTimeout(cmd, 30*time.Second)
	r := Result{Err: err}
	if err != nil {
		data, _ := os.ReadFile(filepath.Join(b.Dir, "stderr"))
		r.Stderr = string(data)
	}
	return r
}

// Output returns what the container wrote to stdout.
func (b *Bundle) Output() string {
	data, _ := os.ReadFile(filepath.Join(b.Dir, "stdout"))
	return string(data)
}

// Cleanup force-deletes the container and removes the bundle.
func (b *Bundle) Cleanup() {
	Run("kill", b.ID, "KILL")
	Run("delete", "--force", b.ID)
	os.RemoveAll(b.Dir)
}

// RunToStop creates, starts and waits for the container to stop.
func (b *Bundle) RunToStop() error {
	if r := b.Create(); r.Err != nil {
		return fmt.Errorf("create: %s", r)
	}
	if r := Run("start", b.ID); r.Err != nil {
		return fmt.Errorf("start: %s", r)
	}
	if _, err := WaitStatus(b.ID, "stopped", 20*time.Second); err != nil {
		return err
	}
	return nil
}

// InsideValidate runs /runtimetest in the container and relays its TAP points.
func InsideValidate(t *T, setup func(b *Bundle) error) {
	b, err := NewBundle()
	if err != nil {
		t.Bail(err, "prepare bundle")
	}
	defer b.Cleanup()
	if setup != nil {
		if err := setup(b); err != nil {
			t.Ok(false, "set up bundle", err.Error())
			return
		}
	}
	if err := b.RunToStop(); err != nil {
		t.Ok(false, "run runtimetest in the container", err.Error(), "container output:\n"+b.Output())
		return
	}
	if r := Run("delete", b.ID); r.Err != nil {
		t.Ok(false, "delete the stopped container", r.String())
	}
	Relay(t, b.Output())
}

// Relay re-emits runtimetest's TAP points under this stream's numbering.
func Relay(t *T, out string) {
	sc := bufio.NewScanner(strings.NewReader(out))
	points, plan := 0, false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "ok "), strings.HasPrefix(line, "not ok "):
			points++
			ok := strings.HasPrefix(line, "ok ")
			rest := strings.TrimPrefix(strings.TrimPrefix(line, "not "), "ok ")
			// drop runtimetest's own number
			if i := strings.IndexByte(rest, ' '); i >= 0 {
				rest = rest[i+1:]
			} else {
				rest = ""
			}
			if ok && strings.HasPrefix(rest, "# SKIP") {
				t.Skip(strings.TrimSpace(strings.TrimPrefix(rest, "# SKIP")))
			} else {
				t.Ok(ok, "runtimetest: "+strings.TrimPrefix(rest, "- "))
			}
		case strings.HasPrefix(line, "1.."):
			plan = true
		case strings.HasPrefix(line, "#"):
			fmt.Println(line)
		}
	}
	t.Ok(points > 0 && plan, "runtimetest ran to completion", "output:\n"+out)
}
