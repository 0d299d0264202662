package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	h "pydocker.local/rtsuite/harness"
)

func newBundle(t *h.T, args ...string) *h.Bundle {
	b, err := h.NewBundle()
	if err != nil {
		t.Bail(err, "prepare bundle")
	}
	if len(args) > 0 {
		b.G.SetProcessArgs(args)
	}
	return b
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func waitFile(p string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if exists(p) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return exists(p)
}

// a process that stays up until killed
var loop = []string{"sh", "-c", "while true; do sleep 0.1; done"}

func status(id string) string {
	st, _ := h.State(id)
	if st == nil {
		return "<none>"
	}
	return string(st.Status)
}

func init() {
	register("create", func(t *h.T) {
		b := newBundle(t, loop...)
		defer b.Cleanup()
		r := b.Create()
		t.Ok(r.Err == nil, "create with a valid bundle and id succeeds", r.String())
		t.Ok(status(b.ID) == "created", "the new container is in state created", "state: "+status(b.ID))
		r = b.CreateNoSave()
		t.Ok(r.Err != nil, "create with an id that is in use fails", r.String())
		t.Ok(status(b.ID) == "created", "the failed create left the existing container alone", "state: "+status(b.ID))
		r = h.Run("create", "--bundle", b.Dir)
		t.Ok(r.Err != nil, "create without an id fails", r.String())
	})

	register("start", func(t *h.T) {
		r := h.Run("start", h.NewID())
		t.Ok(r.Err != nil, "start of a container that does not exist fails", r.String())
		r = h.Run("start")
		t.Ok(r.Err != nil, "start without an id fails", r.String())
		b := newBundle(t, "sh", "-c", "touch /started")
		defer b.Cleanup()
		if !createOk(t, b) {
			return
		}
		time.Sleep(300 * time.Millisecond)
		t.Ok(!exists(filepath.Join(b.Rootfs, "started")), "process.args do not run before start")
		r = h.Run("start", b.ID)
		t.Ok(r.Err == nil, "start of a created container succeeds", r.String())
		t.Ok(waitFile(filepath.Join(b.Rootfs, "started"), 10*time.Second), "process.args run after start")
		_, err := h.WaitStatus(b.ID, "stopped", 10*time.Second)
		t.NoErr(err, "the container stops when its process exits")
		r = h.Run("start", b.ID)
		t.Ok(r.Err != nil, "start of a stopped container fails", r.String())
		t.Ok(status(b.ID) == "stopped", "the failed start had no effect", "state: "+status(b.ID))
	})

	register("start_without_process", func(t *h.T) {
		b := newBundle(t)
		defer b.Cleanup()
		b.G.Spec().Process = nil
		r := b.Create()
		t.Ok(r.Err == nil, "create of a config without process succeeds (process is only needed by start)", r.String())
		if r.Err == nil {
			r = h.Run("start", b.ID)
			t.Ok(r.Err != nil, "start of a container without process fails", r.String())
		}
	})

	register("state", func(t *h.T) {
		r := h.Run("state", h.NewID())
		t.Ok(r.Err != nil, "state of a container that does not exist fails", r.String())
		r = h.Run("state")
		t.Ok(r.Err != nil, "state without an id fails", r.String())
		b := newBundle(t, loop...)
		defer b.Cleanup()
		if !createOk(t, b) {
			return
		}
		st, r := h.State(b.ID)
		if !t.Ok(st != nil, "state of a created container succeeds and is JSON", r.String()) {
			return
		}
		t.Ok(st.Version != "", "state has ociVersion", r.Stdout)
		t.Ok(st.ID == b.ID, "state has the id", r.Stdout)
		t.Ok(st.Status == "created", "state status is created", r.Stdout)
		t.Ok(st.Pid > 0 && exists(fmt.Sprintf("/proc/%d", st.Pid)), "state pid is a live process", r.Stdout)
		t.Ok(st.Bundle == b.Dir, "state bundle is the absolute bundle path", r.Stdout)
		runOk(t, "start", "start", b.ID)
		st, r = h.State(b.ID)
		t.Ok(st != nil && st.Status == "running", "state status is running after start", r.String())
		h.Run("kill", b.ID, "KILL")
		_, err := h.WaitStatus(b.ID, "stopped", 10*time.Second)
		t.NoErr(err, "state status is stopped after the process is killed")
	})

	register("kill", func(t *h.T) {
		r := h.Run("kill", h.NewID(), "KILL")
		t.Ok(r.Err != nil, "kill of a container that does not exist fails", r.String())
		r = h.Run("kill")
		t.Ok(r.Err != nil, "kill without an id fails", r.String())
		b := newBundle(t, loop...)
		defer b.Cleanup()
		if !createOk(t, b) {
			return
		}
		r = h.Run("kill", b.ID, "KILL")
		t.Ok(r.Err == nil, "kill of a created container succeeds", r.String())
		_, err := h.WaitStatus(b.ID, "stopped", 10*time.Second)
		t.NoErr(err, "the killed created container stops")
		b2 := newBundle(t, loop...)
		defer b2.Cleanup()
		if !createOk(t, b2) {
			return
		}
		runOk(t, "start the second container", "start", b2.ID)
		r = h.Run("kill", b2.ID, "KILL")
		t.Ok(r.Err == nil, "kill of a running container succeeds", r.String())
		_, err = h.WaitStatus(b2.ID, "stopped", 10*time.Second)
		t.NoErr(err, "the killed running container stops")
	})

	register("kill_no_effect", func(t *h.T) {
		b := newBundle(t, "true")
		defer b.Cleanup()
		if !t.NoErr(b.RunToStop(), "run a container to stopped") {
			return
		}
		r := h.Run("kill", b.ID, "KILL")
		t.Ok(r.Err != nil, "kill of a stopped container fails", r.String())
		t.Ok(status(b.ID) == "stopped", "the failed kill had no effect", "state: "+status(b.ID))
	})

	register("killsig", func(t *h.T) {
		for _, sig := range []string{"TERM", "USR1", "HUP", "INT"} {
			script := fmt.Sprintf("trap 'touch /got-%s' %s; touch /ready; while true; do sleep 0.1; done", sig, sig)
			b := newBundle(t, "sh", "-c", script)
			func() {
				defer b.Cleanup()
				if !createOk(t, b) || !runOk(t, "start", "start", b.ID) {
					return
				}
				if !t.Ok(waitFile(filepath.Join(b.Rootfs, "ready"), 10*time.Second), "the container's signal trap is set") {
					return
				}
				r := h.Run("kill", b.ID, sig)
				t.Ok(r.Err == nil, "kill "+sig+" succeeds", r.String())
				t.Ok(waitFile(filepath.Join(b.Rootfs, "got-"+sig), 10*time.Second), "the container's process receives SIG"+sig)
			}()
		}
	})

	register("delete", func(t *h.T) {
		r := h.Run("delete", h.NewID())
		t.Ok(r.Err != nil, "delete of a container that does not exist fails", r.String())
		r = h.Run("delete")
		t.Ok(r.Err != nil, "delete without an id fails", r.String())
		b := newBundle(t, loop...)
		defer b.Cleanup()
		if !createOk(t, b) || !runOk(t, "start", "start", b.ID) {
			return
		}
		r = h.Run("delete", b.ID)
		t.Ok(r.Err != nil, "delete of a running container fails", r.String())
		t.Ok(status(b.ID) == "running", "the failed delete had no effect", "state: "+status(b.ID))
		h.Run("kill", b.ID, "KILL")
		if _, err := h.WaitStatus(b.ID, "stopped", 10*time.Second); !t.NoErr(err, "kill") {
			return
		}
		r = h.Run("delete", b.ID)
		t.Ok(r.Err == nil, "delete of a stopped container succeeds", r.String())
		r = h.Run("state", b.ID)
		t.Ok(r.Err != nil, "the deleted container is gone", r.String())
	})

	register("pidfile", func(t *h.T) {
		b := newBundle(t, loop...)
		defer b.Cleanup()
		pf := filepath.Join(b.Dir, "pidfile")
		if !createOk(t, b, "--pid-file", pf) {
			return
		}
		data, err := os.ReadFile(pf)
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		st, _ := h.State(b.ID)
		t.Ok(err == nil && st != nil && pid == st.Pid, "the pid file holds the container's pid", fmt.Sprintf("pidfile %q (%v), state %+v", data, err, st))
	})

	register("config_updates_without_affect", func(t *h.T) {
		b := newBundle(t, "sh", "-c", "hostname > /out")
		defer b.Cleanup()
		b.G.SetHostname("before")
		if !createOk(t, b) {
			return
		}
		b.G.SetHostname("after")
		b.G.SetProcessArgs([]string{"sh", "-c", "echo changed > /out"})
		if err := b.Save(); !t.NoErr(err, "rewrite config.json after create") {
			return
		}
		runOk(t, "start", "start", b.ID)
		h.WaitStatus(b.ID, "stopped", 10*time.Second)
		data, _ := os.ReadFile(filepath.Join(b.Rootfs, "out"))
		t.Ok(strings.TrimSpace(string(data)) == "before", "config.json changes after create do not affect the container", fmt.Sprintf("out: %q", data))
	})

	registerHooks()
}

// hook runs a host shell snippet; the state arrives on stdin.
func hook(script string) rspec.Hook {
	return rspec.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", script}}
}

func registerHooks() {
	register("hooks", func(t *h.T) {
		b := newBundle(t, "sh", "-c", "touch /process-ran")
		defer b.Cleanup()
		order := filepath.Join(b.Dir, "order")
		for _, kind := range []string{"prestart", "poststart", "poststop"} {
			hk := hook(fmt.Sprintf("cat > %s/%s.state; echo %s >> %s", b.Dir, kind, kind, order))
			switch kind {
			case "prestart":
				b.G.AddPreStartHook(hk)
			case "poststart":
				b.G.AddPostStartHook(hk)
			case "poststop":
				b.G.AddPostStopHook(hk)
			}
		}
		if !createOk(t, b) || !runOk(t, "start", "start", b.ID) {
			return
		}
		h.WaitStatus(b.ID, "stopped", 10*time.Second)
		runOk(t, "delete", "delete", b.ID)
		data, _ := os.ReadFile(order)
		t.Ok(strings.Fields(string(data)) != nil && strings.Join(strings.Fields(string(data)), ",") == "prestart,poststart,poststop",
			"prestart, poststart and poststop hooks run once each, in that order", fmt.Sprintf("order: %q", data))
		for _, kind := range []string{"prestart", "poststart", "poststop"} {
			raw, err := os.ReadFile(filepath.Join(b.Dir, kind+".state"))
			var st rspec.State
			if err == nil {
				err = json.Unmarshal(raw, &st)
			}
			t.Ok(err == nil && st.ID == b.ID && st.Bundle == b.Dir, kind+" hook gets the container state on stdin", fmt.Sprintf("%q (%v)", raw, err))
			if kind != "poststop" {
				t.Ok(st.Pid > 0, kind+" hook state has the container pid", string(raw))
			}
		}
	})

	// when each hook kind runs, relative to the runtime operations (spec lifecycle)
	register("prestart", func(t *h.T) {
		b := newBundle(t, "sh", "-c", "touch /process-ran")
		defer b.Cleanup()
		marker := filepath.Join(b.Dir, "prestart-ran")
		b.G.AddPreStartHook(hook(fmt.Sprintf("if [ -e %s/process-ran ]; then echo late; else echo early; fi > %s", b.Rootfs, marker)))
		if !createOk(t, b) || !runOk(t, "start", "start", b.ID) {
			return
		}
		h.WaitStatus(b.ID, "stopped", 10*time.Second)
		data, _ := os.ReadFile(marker)
		t.Ok(strings.TrimSpace(string(data)) == "early", "the prestart hook runs before the user process", fmt.Sprintf("%q", data))
	})

	register("poststart", func(t *h.T) {
		b := newBundle(t, loop...)
		defer b.Cleanup()
		marker := filepath.Join(b.Dir, "poststart-ran")
		b.G.AddPostStartHook(hook("cat > " + marker))
		if !createOk(t, b) {
			return
		}
		time.Sleep(300 * time.Millisecond)
		t.Ok(!exists(marker), "the poststart hook does not run at create")
		if !runOk(t, "start", "start", b.ID) {
			return
		}
		t.Ok(waitFile(marker, 5*time.Second), "the poststart hook runs after start")
	})

	register("poststop", func(t *h.T) {
		b := newBundle(t, "true")
		defer b.Cleanup()
		marker := filepath.Join(b.Dir, "poststop-ran")
		b.G.AddPostStopHook(hook("cat > " + marker))
		if !t.NoErr(b.RunToStop(), "run to stopped") {
			return
		}
		time.Sleep(300 * time.Millisecond)
		t.Ok(!exists(marker), "the poststop hook does not run before delete")
		runOk(t, "delete", "delete", b.ID)
		t.Ok(exists(marker), "the poststop hook ran by the time delete returned")
	})

	register("hooks_stdin", func(t *h.T) {
		b := newBundle(t, loop...)
		defer b.Cleanup()
		kinds := []string{"prestart", "poststart", "poststop"}
		want := map[string]string{"prestart": "created", "poststart": "running", "poststop": "stopped"}
		b.G.AddPreStartHook(hook(fmt.Sprintf("cat > %s/prestart.state", b.Dir)))
		b.G.AddPostStartHook(hook(fmt.Sprintf("cat > %s/poststart.state", b.Dir)))
		b.G.AddPostStopHook(hook(fmt.Sprintf("cat > %s/poststop.state", b.Dir)))
		if !createOk(t, b) || !runOk(t, "start", "start", b.ID) {
			return
		}
		h.Run("kill", b.ID, "KILL")
		h.WaitStatus(b.ID, "stopped", 10*time.Second)
		runOk(t, "delete", "delete", b.ID)
		for _, kind := range kinds {
			raw, err := os.ReadFile(filepath.Join(b.Dir, kind+".state"))
			var st rspec.State
			if err == nil {
				err = json.Unmarshal(raw, &st)
			}
			t.Ok(err == nil && string(st.Status) == want[kind], fmt.Sprintf("%s hook state has status %q", kind, want[kind]),
				fmt.Sprintf("%q (%v)", raw, err))
		}
	})

	register("kill_signal_forms", func(t *h.T) {
		b := newBundle(t, "sh", "-c", "trap 'touch /got-USR1' USR1; trap 'touch /got-USR2' USR2; touch /ready; while true; do sleep 0.1; done")
		defer b.Cleanup()
		if !createOk(t, b) || !runOk(t, "start", "start", b.ID) {
			return
		}
		if !t.Ok(waitFile(filepath.Join(b.Rootfs, "ready"), 10*time.Second), "the container's signal traps are set") {
			return
		}
		r := h.Run("kill", b.ID, "SIGUSR1")
		t.Ok(r.Err == nil, "kill accepts a SIG-prefixed name (SIGUSR1)", r.String())
		t.Ok(waitFile(filepath.Join(b.Rootfs, "got-USR1"), 10*time.Second), "SIGUSR1 is delivered")
		r = h.Run("kill", b.ID, "12")
		t.Ok(r.Err == nil, "kill accepts a signal number (12)", r.String())
		t.Ok(waitFile(filepath.Join(b.Rootfs, "got-USR2"), 10*time.Second), "signal 12 (SIGUSR2) is delivered")
		r = h.Run("kill", b.ID, "NOSUCHSIGNAL")
		t.Ok(r.Err != nil, "kill with an unknown signal name fails", r.String())
		r = h.Run("kill", b.ID)
		t.Ok(r.Err == nil, "kill without a signal sends SIGTERM (accepted)", r.String())
	})

	register("prestart_fail", func(t *h.T) {
		b := newBundle(t, "sh", "-c", "touch /process-ran")
		defer b.Cleanup()
		b.G.AddPreStartHook(hook("exit 1"))
		r := b.Create()
		if r.Err == nil {
			r = h.Run("start", b.ID)
		}
		t.Ok(r.Err != nil, "a failing prestart hook makes create or start fail", r.String())
		time.Sleep(500 * time.Millisecond)
		t.Ok(!exists(filepath.Join(b.Rootfs, "process-ran")), "the process did not run")
	})

	register("poststart_fail", func(t *h.T) {
		b := newBundle(t, "sh", "-c", "touch /process-ran")
		defer b.Cleanup()
		b.G.AddPostStartHook(hook("exit 1"))
		if !createOk(t, b) {
			return
		}
		r := h.Run("start", b.ID)
		t.Ok(r.Err == nil, "a failing poststart hook only warns: start succeeds", r.String())
		t.Ok(waitFile(filepath.Join(b.Rootfs, "process-ran"), 5*time.Second), "the process ran")
	})

	register("poststop_fail", func(t *h.T) {
		b := newBundle(t, "true")
		defer b.Cleanup()
		b.G.AddPostStopHook(hook("exit 1"))
		if !t.NoErr(b.RunToStop(), "run to stopped") {
			return
		}
		r := h.Run("delete", b.ID)
		t.Ok(r.Err == nil, "a failing poststop hook only warns: delete succeeds", r.String())
		t.Ok(h.Run("state", b.ID).Err != nil, "the container is gone")
	})

	// configs the runtime must refuse
	refuse := func(name, desc string, setup func(b *h.Bundle)) {
		register(name, func(t *h.T) {
			b := newBundle(t, "sh", "-c", "touch /process-ran")
			defer b.Cleanup()
			setup(b)
			r := b.Create()
			if r.Err == nil {
				r = h.Run("start", b.ID)
			}
			t.Ok(r.Err != nil, desc, r.String())
			time.Sleep(300 * time.Millisecond)
			t.Ok(!exists(filepath.Join(b.Rootfs, "process-ran")), "the process did not run")
		})
	}
	refuse("process_capabilities_fail", "an unknown capability is an error", func(b *h.Bundle) {
		c := b.G.Spec().Process.Capabilities
		c.Bounding = append(c.Bounding, "CAP_RTSUITE_UNKNOWN")
		c.Effective = append(c.Effective, "CAP_RTSUITE_UNKNOWN")
		c.Permitted = append(c.Permitted, "CAP_RTSUITE_UNKNOWN")
	})
	refuse("process_rlimits_fail", "an unknown rlimit type is an error", func(b *h.Bundle) {
		b.G.AddProcessRlimits("RLIMIT_RTSUITE_UNKNOWN", 10, 10)
	})
	refuse("linux_ns_path_type", "a namespace path of the wrong type is an error", func(b *h.Bundle) {
		// uts namespace given the path of a net namespace
		b.G.AddOrReplaceLinuxNamespace("uts", "/proc/self/ns/net")
	})
	refuse("invalid_mount_destination", "a relative mount destination is an error (spec: destination MUST be absolute)", func(b *h.Bundle) {
		b.G.AddMount(rspec.Mount{Destination: "relative/dir", Type: "tmpfs", Source: "tmpfs"})
	})
}

func createOk(t *h.T, b *h.Bundle, extra ...string) bool {
	r := b.Create(extra...)
	return t.Ok(r.Err == nil, "create "+strings.Join(extra, " "), r.String())
}

func runOk(t *h.T, desc string, args ...string) bool {
	r := h.Run(args...)
	return t.Ok(r.Err == nil, desc, r.String())
}
