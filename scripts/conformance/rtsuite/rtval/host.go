package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-tools/cgroups"
	h "pydocker.local/rtsuite/harness"
)

// Tests that create a container and inspect it from the host.

func nsLink(pid interface{}, ns string) string {
	l, _ := os.Readlink(fmt.Sprintf("/proc/%v/ns/%s", pid, ns))
	return l
}

var nsFile = map[string]string{"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mnt", "cgroup": "cgroup"}

func created(t *h.T, b *h.Bundle) (*rspec.State, bool) {
	if !createOk(t, b) {
		return nil, false
	}
	st, r := h.State(b.ID)
	if !t.Ok(st != nil && st.Pid > 0, "state of the created container", r.String()) {
		return nil, false
	}
	return st, true
}

func init() {
	register("linux_ns_nopath", func(t *h.T) {
		b := newBundle(t, loop...)
		defer b.Cleanup()
		b.G.AddOrReplaceLinuxNamespace("cgroup", "")
		st, good := created(t, b)
		if !good {
			return
		}
		for _, ns := range b.G.Spec().Linux.Namespaces {
			f := nsFile[string(ns.Type)]
			got, host := nsLink(st.Pid, f), nsLink("self", f)
			t.Ok(got != "" && got != host, fmt.Sprintf("a new %s namespace is created", ns.Type), fmt.Sprintf("container %s host %s", got, host))
		}
	})

	register("linux_ns_itype", func(t *h.T) {
		b := newBundle(t, loop...)
		defer b.Cleanup()
		for _, ns := range []string{"network", "ipc", "uts", "pid", "cgroup"} {
			b.G.RemoveLinuxNamespace(ns)
		}
		b.G.RemoveHostname()
		st, good := created(t, b)
		if !good {
			return
		}
		for _, ns := range []string{"network", "ipc", "uts", "pid", "cgroup"} {
			got, host := nsLink(st.Pid, nsFile[ns]), nsLink("self", nsFile[ns])
			t.Ok(got != "" && got == host, "the "+ns+" namespace is inherited when not listed", fmt.Sprintf("container %s host %s", got, host))
		}
	})

	register("linux_ns_path", func(t *h.T) {
		holder := exec.Command("unshare", "--net", "--ipc", "--uts", "sleep", "120")
		if err := holder.Start(); err != nil {
			t.Bail(err, "start a namespace holder with unshare")
		}
		defer func() { holder.Process.Kill(); holder.Wait() }()
		time.Sleep(300 * time.Millisecond)
		b := newBundle(t, loop...)
		defer b.Cleanup()
		for _, ns := range []string{"network", "ipc", "uts"} {
			b.G.AddOrReplaceLinuxNamespace(ns, fmt.Sprintf("/proc/%d/ns/%s", holder.Process.Pid, nsFile[ns]))
		}
		st, good := created(t, b)
		if !good {
			return
		}
		for _, ns := range []string{"network", "ipc", "uts"} {
			got, want := nsLink(st.Pid, nsFile[ns]), nsLink(holder.Process.Pid, nsFile[ns])
			t.Ok(got != "" && got == want, "the "+ns+" namespace at path is joined", fmt.Sprintf("container %s want %s", got, want))
		}
	})

	registerCgroups()
}

type cgCase struct {
	setup func(b *h.Bundle)
	check func(t *h.T, cg cgroups.Cgroup, pid int, path string)
}

func i64(v int64) *int64   { return &v }
func u64(v uint64) *uint64 { return &v }
func u16(v uint16) *uint16 { return &v }

func registerCgroups() {
	cases := map[string]cgCase{
		"pids": {func(b *h.Bundle) { b.G.SetLinuxResourcesPidsLimit(1000) }, func(t *h.T, cg cgroups.Cgroup, pid int, p string) {
			d, err := cg.GetPidsData(pid, p)
			t.Ok(err == nil && d.Limit == 1000, "pids.limit is 1000", fmt.Sprintf("%+v %v", d, err))
		}},
		"cpus": {func(b *h.Bundle) {
			b.G.SetLinuxResourcesCPUShares(512)
			b.G.SetLinuxResourcesCPUQuota(50000)
			b.G.SetLinuxResourcesCPUPeriod(100000)
			b.G.SetLinuxResourcesCPUCpus("0")
			b.G.SetLinuxResourcesCPUMems("0")
		}, func(t *h.T, cg cgroups.Cgroup, pid int, p string) {
			d, err := cg.GetCPUData(pid, p)
			if !t.NoErr(err, "read the cpu cgroup") {
				return
			}
			t.Ok(d.Shares != nil && *d.Shares == 512, "cpu.shares is 512", fmt.Sprintf("%v", d.Shares))
			t.Ok(d.Quota != nil && *d.Quota == 50000, "cpu.cfs_quota_us is 50000", fmt.Sprintf("%v", d.Quota))
			t.Ok(d.Period != nil && *d.Period == 100000, "cpu.cfs_period_us is 100000", fmt.Sprintf("%v", d.Period))
			t.Ok(d.Cpus == "0", "cpuset.cpus is 0", d.Cpus)
			t.Ok(d.Mems == "0", "cpuset.mems is 0", d.Mems)
		}},
		"memory": {func(b *h.Bundle) {
			b.G.SetLinuxResourcesMemoryLimit(64 << 20)
			b.G.SetLinuxResourcesMemoryReservation(32 << 20)
			b.G.SetLinuxResourcesMemorySwap(128 << 20)
			b.G.SetLinuxResourcesMemorySwappiness(10)
		}, func(t *h.T, cg cgroups.Cgroup, pid int, p string) {
			// the library also reads kmem files, gone in kernel 6.x: read the files directly
			dir, err := cgDir(pid, "memory", p)
			if !t.NoErr(err, "find the memory cgroup") {
				return
			}
			for file, want := range map[string]string{"memory.limit_in_bytes": fmt.Sprint(64 << 20),
				"memory.soft_limit_in_bytes": fmt.Sprint(32 << 20), "memory.memsw.limit_in_bytes": fmt.Sprint(128 << 20),
				"memory.swappiness": "10"} {
				got, err := os.ReadFile(filepath.Join(dir, file))
				if os.IsNotExist(err) && file == "memory.memsw.limit_in_bytes" {
					t.Skip(file + " not available (swap accounting off)")
					continue
				}
				t.Ok(err == nil && strings.TrimSpace(string(got)) == want, file+" is "+want, fmt.Sprintf("%q %v", got, err))
			}
		}},
		"blkio": {func(b *h.Bundle) { b.G.SetLinuxResourcesBlockIOWeight(500) }, func(t *h.T, cg cgroups.Cgroup, pid int, p string) {
			dir, err := cgDir(pid, "blkio", p)
			if !t.NoErr(err, "find the blkio cgroup") {
				return
			}
			for _, f := range []string{"blkio.weight", "blkio.bfq.weight"} {
				if got, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
					t.Ok(strings.Contains(string(got), "500"), f+" is 500", string(got))
					return
				}
			}
			t.Skip("no blkio.weight or blkio.bfq.weight file on this kernel")
		}},
		"devices": {func(b *h.Bundle) {
			b.G.AddLinuxResourcesDevice(false, "a", nil, nil, "rwm")
			b.G.AddLinuxResourcesDevice(true, "c", i64(1), i64(3), "rwm")
			b.G.AddLinuxResourcesDevice(true, "c", i64(4), i64(64), "r")
			b.G.AddLinuxResourcesDevice(true, "b", i64(7), i64(0), "rw")
		}, func(t *h.T, cg cgroups.Cgroup, pid int, p string) {
			d, err := cg.GetDevicesData(pid, p)
			if !t.NoErr(err, "read devices.list") {
				return
			}
			for _, want := range []string{"c 1:3 rwm", "c 4:64 r", "b 7:0 rw"} {
				found := false
				for _, r := range d {
					if r.Allow && r.Major != nil && r.Minor != nil && fmt.Sprintf("%s %d:%d %s", r.Type, *r.Major, *r.Minor, r.Access) == want {
						found = true
					}
				}
				t.Ok(found, "devices.list allows "+want, fmt.Sprintf("%+v", d))
			}
			for _, r := range d {
				if r.Type == "a" {
					t.Ok(false, "devices.list does not allow all devices", fmt.Sprintf("%+v", d))
				}
			}
		}},
		"network": {func(b *h.Bundle) {
			b.G.SetLinuxResourcesNetworkClassID(0x100001)
		}, func(t *h.T, cg cgroups.Cgroup, pid int, p string) {
			d, err := cg.GetNetworkData(pid, p)
			t.Ok(err == nil && d.ClassID != nil && *d.ClassID == 0x100001, "net_cls.classid is 0x100001", fmt.Sprintf("%+v %v", d, err))
		}},
		"hugetlb": {func(b *h.Bundle) { b.G.AddLinuxResourcesHugepageLimit("2MB", 4<<20) }, func(t *h.T, cg cgroups.Cgroup, pid int, p string) {
			d, err := cg.GetHugepageLimitData(pid, p)
			ok := false
			for _, l := range d {
				if l.Pagesize == "2MB" && l.Limit == 4<<20 {
					ok = true
				}
			}
			t.Ok(err == nil && ok, "hugetlb.2MB.limit_in_bytes is 4 MiB", fmt.Sprintf("%+v %v", d, err))
		}},
	}
	for name, c := range cases {
		for _, relative := range []bool{false, true} {
			name, c, relative := name, c, relative
			test := "linux_cgroups_" + name
			if relative {
				test = "linux_cgroups_relative_" + name
			}
			register(test, func(t *h.T) {
				b := newBundle(t, loop...)
				defer b.Cleanup()
				path := "/rtsuite/" + b.ID
				if relative {
					path = "rtsuite/" + b.ID
				}
				b.G.SetLinuxCgroupsPath(path)
				c.setup(b)
				st, good := created(t, b)
				if !good {
					return
				}
				cg, err := cgroups.FindCgroup()
				if !t.NoErr(err, "find the cgroup mounts (runtime-tools cgroups.FindCgroup)") {
					return
				}
				c.check(t, cg, st.Pid, path)
			})
		}
	}

	register("delete_resources", func(t *h.T) {
		b := newBundle(t, loop...)
		defer b.Cleanup()
		path := "/rtsuite/" + b.ID
		b.G.SetLinuxCgroupsPath(path)
		b.G.SetLinuxResourcesPidsLimit(100)
		st, good := created(t, b)
		if !good {
			return
		}
		dir, err := cgDir(st.Pid, "pids", path)
		t.Ok(err == nil && exists(dir), "the runtime created the container's pids cgroup", fmt.Sprintf("%s %v", dir, err))
		h.Run("kill", b.ID, "KILL")
		h.WaitStatus(b.ID, "stopped", 10*time.Second)
		r := h.Run("delete", b.ID)
		t.Ok(r.Err == nil, "delete", r.String())
		t.Ok(!exists(dir), "delete removed the container's cgroup", dir)
	})

	register("delete_only_create_resources", func(t *h.T) {
		b := newBundle(t, loop...)
		defer b.Cleanup()
		path := "/rtsuite-cgrouptest-" + b.ID
		dir := filepath.Join("/sys/fs/cgroup/pids", path)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Bail(err, "create a cgroup before the container")
		}
		defer syscall.Rmdir(dir)
		b.G.SetLinuxCgroupsPath(path)
		if _, good := created(t, b); !good {
			return
		}
		h.Run("kill", b.ID, "KILL")
		h.WaitStatus(b.ID, "stopped", 10*time.Second)
		r := h.Run("delete", b.ID)
		t.Ok(r.Err == nil, "delete", r.String())
		t.Ok(exists(dir), "delete kept the cgroup that existed before the container", dir)
	})
}

// cgDir is the directory of pid's cgroup in a v1 controller (which must contain path).
func cgDir(pid int, controller, path string) (string, error) {
	sub, err := cgroups.GetSubsystemPath(pid, controller)
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(sub, strings.TrimPrefix(path, "/")) {
		return "", fmt.Errorf("pid %d is in %s cgroup %s, not %s", pid, controller, sub, path)
	}
	return filepath.Join("/sys/fs/cgroup", controller, sub), nil
}

var _ = reflect.DeepEqual
var _ = u64
var _ = u16
