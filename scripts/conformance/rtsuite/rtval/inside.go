package main

import (
	"os"
	"path/filepath"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	h "pydocker.local/rtsuite/harness"
)

// Tests that run /runtimetest inside the container with a given config.
func init() {
	inside := func(name string, setup func(b *h.Bundle) error) {
		register(name, func(t *h.T) { h.InsideValidate(t, setup) })
	}
	inside("default", nil)
	inside("hostname", func(b *h.Bundle) error { b.G.SetHostname("hostname-specific"); return nil })
	inside("process", func(b *h.Bundle) error {
		b.G.SetProcessCwd("/tmp")
		b.G.AddProcessEnv("RTSUITE_ENV", "value with spaces")
		b.G.SetProcessArgs([]string{"/runtimetest", "--an-argument", "second arg"})
		return nil
	})
	inside("process_user", func(b *h.Bundle) error {
		b.G.SetProcessUID(1)
		b.G.SetProcessGID(1)
		b.G.AddProcessAdditionalGid(5)
		b.G.AddProcessAdditionalGid(6)
		b.G.SetProcessUmask(0o027)
		// the process is not root any more: it must be able to read its config and write /
		return os.Chmod(b.Rootfs, 0o777)
	})
	inside("process_capabilities", func(b *h.Bundle) error {
		b.G.ClearProcessCapabilities()
		for _, c := range []string{"CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_KILL"} {
			if err := b.G.AddProcessCapability(c); err != nil {
				return err
			}
		}
		return nil
	})
	inside("process_rlimits", func(b *h.Bundle) error {
		b.G.ClearProcessRlimits()
		// soft = hard for NOFILE: runtimetest is a Go (>= 1.19) program, whose runtime raises
		// the NOFILE soft limit to the hard one at start
		b.G.AddProcessRlimits("RLIMIT_NOFILE", 1000, 1000)
		b.G.AddProcessRlimits("RLIMIT_CORE", 4096, 2048)
		b.G.AddProcessRlimits("RLIMIT_NPROC", 5000, 4000)
		return nil
	})
	inside("process_oom_score_adj", func(b *h.Bundle) error { b.G.SetProcessOOMScoreAdj(500); return nil })
	inside("process_no_new_privileges", func(b *h.Bundle) error { b.G.SetProcessNoNewPrivileges(true); return nil })
	inside("root_readonly_true", func(b *h.Bundle) error { b.G.SetRootReadonly(true); return nil })
	inside("mounts", func(b *h.Bundle) error {
		src := filepath.Join(b.Dir, "bindsrc")
		if err := os.MkdirAll(src, 0o755); err != nil {
			return err
		}
		b.G.AddMount(rspec.Mount{Destination: "/mnt/tmpfs", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "size=1m"}})
		b.G.AddMount(rspec.Mount{Destination: "/mnt/bind", Type: "bind", Source: src, Options: []string{"rbind", "ro"}})
		b.G.AddMount(rspec.Mount{Destination: "/mnt/tmpfs/nested", Type: "tmpfs", Source: "tmpfs", Options: []string{"ro"}})
		return nil
	})
	inside("linux_devices", func(b *h.Bundle) error {
		mode := os.FileMode(0o640)
		uid, gid := uint32(1), uint32(2)
		b.G.AddDevice(rspec.LinuxDevice{Path: "/dev/rtnull", Type: "c", Major: 1, Minor: 3, FileMode: &mode, UID: &uid, GID: &gid})
		b.G.AddDevice(rspec.LinuxDevice{Path: "/dev/rtloop", Type: "b", Major: 7, Minor: 0})
		b.G.AddDevice(rspec.LinuxDevice{Path: "/dev/rtfifo", Type: "p"})
		return nil
	})
	inside("linux_masked_paths", func(b *h.Bundle) error {
		if err := os.MkdirAll(filepath.Join(b.Rootfs, "masked-dir"), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(b.Rootfs, "masked-dir", "secret"), []byte("secret"), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(b.Rootfs, "masked-file"), []byte("secret"), 0o644); err != nil {
			return err
		}
		b.G.AddLinuxMaskedPaths("/masked-dir")
		b.G.AddLinuxMaskedPaths("/masked-file")
		b.G.AddLinuxMaskedPaths("/masked-absent")
		return nil
	})
	inside("linux_readonly_paths", func(b *h.Bundle) error {
		if err := os.MkdirAll(filepath.Join(b.Rootfs, "readonly-dir"), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(b.Rootfs, "readonly-file"), []byte("x"), 0o644); err != nil {
			return err
		}
		b.G.AddLinuxReadonlyPaths("/readonly-dir")
		b.G.AddLinuxReadonlyPaths("/readonly-file")
		b.G.AddLinuxReadonlyPaths("/readonly-absent")
		return nil
	})
	inside("linux_sysctl", func(b *h.Bundle) error {
		b.G.AddLinuxSysctl("net.ipv4.ip_forward", "1")
		b.G.AddLinuxSysctl("net.core.somaxconn", "256")
		b.G.AddLinuxSysctl("kernel.shmmni", "2048")
		return nil
	})
	for _, p := range []string{"private", "rslave", "shared", "unbindable"} {
		p := p
		inside("linux_rootfs_propagation_"+p, func(b *h.Bundle) error { return b.G.SetLinuxRootPropagation(p) })
	}
	inside("linux_uid_mappings", func(b *h.Bundle) error {
		if err := b.G.AddOrReplaceLinuxNamespace("user", ""); err != nil {
			return err
		}
		b.G.AddLinuxUIDMapping(0, 0, 65536)
		b.G.AddLinuxGIDMapping(0, 0, 65536)
		// sysfs cannot be mounted in a user namespace without a network namespace of its
		// own (it has one here), mqueue needs the ipc one (it has one too)
		return nil
	})
	inside("linux_seccomp", func(b *h.Bundle) error {
		errno := uint(38) // ENOSYS
		b.G.Spec().Linux.Seccomp = &rspec.LinuxSeccomp{
			DefaultAction: rspec.ActAllow,
			Architectures: []rspec.Arch{rspec.ArchX86_64, rspec.ArchX86, rspec.ArchX32},
			Syscalls:      []rspec.LinuxSyscall{{Names: []string{"acct"}, Action: rspec.ActErrno, ErrnoRet: &errno}},
		}
		return nil
	})
	inside("misc_props", func(b *h.Bundle) error {
		b.G.AddAnnotation("org.pydocker.rtsuite.unknown", "ignored")
		b.Extra = map[string]interface{}{"org.pydocker.rtsuite.unknownProperty": map[string]interface{}{"nested": []int{1, 2}}}
		return nil
	})
}
