// runtimetest is pydocker's in-container checker: it runs as the container's process,
// reads the bundle config copied to /config.json and checks the live environment against
// it, printing TAP. Every check skips itself when the config does not ask for it.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/syndtr/gocapability/capability"
)

var n int
var failed bool

func ok(cond bool, desc string, diag ...string) {
	n++
	if cond {
		fmt.Printf("ok %d - %s\n", n, desc)
		return
	}
	failed = true
	fmt.Printf("not ok %d - %s\n", n, desc)
	for _, d := range diag {
		fmt.Printf("# %s\n", strings.ReplaceAll(d, "\n", "\n# "))
	}
}

func skip(desc string) {
	n++
	fmt.Printf("ok %d # SKIP %s\n", n, desc)
}

type mountInfo struct {
	point, fstype, opts, optional string
	index                         int
}

func mountinfo() []mountInfo {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var res []mountInfo
	sc := bufio.NewScanner(f)
	for i := 0; sc.Scan(); i++ {
		fields := strings.Fields(sc.Text())
		sep := 6
		for sep < len(fields) && fields[sep] != "-" {
			sep++
		}
		if sep+1 >= len(fields) {
			continue
		}
		res = append(res, mountInfo{point: unescape(fields[4]), opts: fields[5],
			optional: strings.Join(fields[6:sep], " "), fstype: fields[sep+1], index: i})
	}
	return res
}

func unescape(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// lastMount returns the topmost mount at path.
func lastMount(mi []mountInfo, path string) (mountInfo, bool) {
	var found mountInfo
	ok := false
	for _, m := range mi {
		if m.point == filepath.Clean(path) {
			found, ok = m, true
		}
	}
	return found, ok
}

func main() {
	raw, err := os.ReadFile("/config.json")
	if err != nil {
		ok(false, "read /config.json", err.Error())
		finish()
	}
	var spec rspec.Spec
	if err := json.Unmarshal(raw, &spec); err != nil {
		ok(false, "parse /config.json", err.Error())
		finish()
	}
	if spec.Process == nil {
		spec.Process = &rspec.Process{}
	}
	if spec.Linux == nil {
		spec.Linux = &rspec.Linux{}
	}
	mi := mountinfo()
	checkRoot(&spec)
	checkHostname(&spec)
	checkProcess(&spec)
	checkUser(&spec)
	checkRlimits(&spec)
	checkCaps(&spec)
	checkOOM(&spec)
	checkMounts(&spec, mi)
	checkDefaultSymlinks()
	checkDefaultDevices()
	checkDevices(&spec)
	checkMasked(&spec)
	checkReadonly(&spec, mi)
	checkSysctl(&spec)
	checkPropagation(&spec, mi)
	checkIDMaps(&spec)
	checkSeccomp(&spec)
	checkApparmor(&spec)
	finish()
}

func finish() {
	fmt.Printf("1..%d\n", n)
	if failed {
		os.Exit(1)
	}
	os.Exit(0)
}

func checkRoot(s *rspec.Spec) {
	name := "/.rtsuite-write-test"
	f, err := os.Create(name)
	if err == nil {
		f.Close()
		os.Remove(name)
	}
	if s.Root != nil && s.Root.Readonly {
		ok(err != nil && strings.Contains(err.Error(), "read-only"), "root.readonly: the root filesystem is read-only", fmt.Sprintf("create %s: %v", name, err))
	} else {
		ok(err == nil, "root.readonly false: the root filesystem is writable", fmt.Sprintf("create %s: %v", name, err))
	}
}

func checkHostname(s *rspec.Spec) {
	if s.Hostname == "" {
		skip("hostname not set")
		return
	}
	h, err := os.Hostname()
	ok(err == nil && h == s.Hostname, "hostname is "+s.Hostname, fmt.Sprintf("got %q (%v)", h, err))
}

func checkProcess(s *rspec.Spec) {
	p := s.Process
	cwd, err := os.Getwd()
	ok(err == nil && cwd == p.Cwd, "process.cwd is "+p.Cwd, fmt.Sprintf("got %q (%v)", cwd, err))
	env := map[string]bool{}
	for _, e := range os.Environ() {
		env[e] = true
	}
	for _, e := range p.Env {
		ok(env[e], "process.env has "+e, fmt.Sprintf("environment: %v", os.Environ()))
	}
	ok(strings.Join(os.Args, "\x00") == strings.Join(p.Args, "\x00"), "process.args are applied",
		fmt.Sprintf("got %q want %q", os.Args, p.Args))
	if p.NoNewPrivileges {
		ok(statusField("NoNewPrivs") == "1", "process.noNewPrivileges is set", "NoNewPrivs: "+statusField("NoNewPrivs"))
	}
}

func statusField(name string) string {
	data, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, name+":") {
			return strings.TrimSpace(strings.TrimPrefix(l, name+":"))
		}
	}
	return ""
}

func checkUser(s *rspec.Spec) {
	u := s.Process.User
	ok(uint32(os.Getuid()) == u.UID, fmt.Sprintf("process.user.uid is %d", u.UID), fmt.Sprintf("got %d", os.Getuid()))
	ok(uint32(os.Getgid()) == u.GID, fmt.Sprintf("process.user.gid is %d", u.GID), fmt.Sprintf("got %d", os.Getgid()))
	groups, err := os.Getgroups()
	have := map[uint32]bool{}
	for _, g := range groups {
		have[uint32(g)] = true
	}
	for _, g := range u.AdditionalGids {
		ok(err == nil && have[g], fmt.Sprintf("process.user.additionalGids has %d", g), fmt.Sprintf("getgroups: %v %v", groups, err))
	}
	if u.Umask != nil {
		m := syscall.Umask(0)
		syscall.Umask(m)
		ok(uint32(m) == *u.Umask, fmt.Sprintf("process.user.umask is %#o", *u.Umask), fmt.Sprintf("got %#o", m))
	}
}

var rlimits = map[string]int{
	"RLIMIT_AS": 9, "RLIMIT_CORE": 4, "RLIMIT_CPU": 0, "RLIMIT_DATA": 2, "RLIMIT_FSIZE": 1,
	"RLIMIT_LOCKS": 10, "RLIMIT_MEMLOCK": 8, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
	"RLIMIT_NOFILE": 7, "RLIMIT_NPROC": 6, "RLIMIT_RSS": 5, "RLIMIT_RTPRIO": 14,
	"RLIMIT_RTTIME": 15, "RLIMIT_SIGPENDING": 11, "RLIMIT_STACK": 3,
}

func checkRlimits(s *rspec.Spec) {
	for _, r := range s.Process.Rlimits {
		res, known := rlimits[r.Type]
		if !known {
			ok(false, "process.rlimits: unknown type "+r.Type+" was accepted by the runtime")
			continue
		}
		var lim syscall.Rlimit
		err := syscall.Getrlimit(res, &lim)
		ok(err == nil && lim.Cur == r.Soft && lim.Max == r.Hard,
			fmt.Sprintf("process.rlimits %s is %d/%d", r.Type, r.Soft, r.Hard),
			fmt.Sprintf("got %d/%d (%v)", lim.Cur, lim.Max, err))
	}
}

func capBits(names []string, last capability.Cap) (uint64, []string) {
	byName := map[string]capability.Cap{}
	for _, c := range capability.List() {
		byName["CAP_"+strings.ToUpper(c.String())] = c
	}
	var bits uint64
	var unknown []string
	for _, nm := range names {
		c, found := byName[nm]
		if !found {
			unknown = append(unknown, nm)
			continue
		}
		if c <= last {
			bits |= 1 << uint(c)
		}
	}
	return bits, unknown
}

func lastCap() capability.Cap {
	data, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
			return capability.Cap(v)
		}
	}
	return capability.CAP_LAST_CAP
}

func checkCaps(s *rspec.Spec) {
	c := s.Process.Capabilities
	if c == nil {
		skip("process.capabilities not set")
		return
	}
	last := lastCap()
	for _, set := range []struct {
		field, status string
		names         []string
	}{
		{"bounding", "CapBnd", c.Bounding}, {"effective", "CapEff", c.Effective},
		{"inheritable", "CapInh", c.Inheritable}, {"permitted", "CapPrm", c.Permitted},
		{"ambient", "CapAmb", c.Ambient},
	} {
		want, unknown := capBits(set.names, last)
		for _, u := range unknown {
			ok(false, "process.capabilities."+set.field+": unknown capability "+u+" was accepted by the runtime")
		}
		got, err := strconv.ParseUint(statusField(set.status), 16, 64)
		ok(err == nil && got == want, fmt.Sprintf("process.capabilities.%s is %v", set.field, set.names),
			fmt.Sprintf("%s got %016x want %016x", set.status, got, want))
	}
}

func checkOOM(s *rspec.Spec) {
	if s.Process.OOMScoreAdj == nil {
		skip("process.oomScoreAdj not set")
		return
	}
	data, err := os.ReadFile("/proc/self/oom_score_adj")
	got := strings.TrimSpace(string(data))
	ok(err == nil && got == strconv.Itoa(*s.Process.OOMScoreAdj), fmt.Sprintf("process.oomScoreAdj is %d", *s.Process.OOMScoreAdj),
		fmt.Sprintf("got %q (%v)", got, err))
}

func hasOpt(opts []string, o string) bool {
	for _, x := range opts {
		if x == o {
			return true
		}
	}
	return false
}

func checkMounts(s *rspec.Spec, mi []mountInfo) {
	last := -1
	inOrder := true
	for _, m := range s.Mounts {
		bind := m.Type == "bind" || hasOpt(m.Options, "bind") || hasOpt(m.Options, "rbind")
		got, found := lastMount(mi, m.Destination)
		if !found {
			ok(false, "mounts: "+m.Destination+" is a mount point")
			continue
		}
		if !bind && m.Type != "" {
			ok(got.fstype == m.Type, fmt.Sprintf("mounts: %s has type %s", m.Destination, m.Type), "got "+got.fstype)
		} else {
			ok(true, "mounts: "+m.Destination+" is a mount point")
		}
		if hasOpt(m.Options, "ro") {
			ok(hasOpt(strings.Split(got.opts, ","), "ro"), "mounts: "+m.Destination+" is read-only", "options "+got.opts)
		}
		if got.index < last {
			inOrder = false
		}
		last = got.index
	}
	ok(inOrder, "mounts are mounted in config order")
}

func checkDefaultSymlinks() {
	for link, target := range map[string]string{"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0",
		"/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2"} {
		got, err := os.Readlink(link)
		ok(err == nil && got == target, "default symlink "+link+" -> "+target, fmt.Sprintf("got %q (%v)", got, err))
	}
}

func devNums(path string) (mode uint32, major, minor uint64, st syscall.Stat_t, err error) {
	err = syscall.Stat(path, &st)
	if err != nil {
		return
	}
	return st.Mode, uint64(st.Rdev>>8) & 0xfff, uint64(st.Rdev&0xff) | uint64(st.Rdev>>12)&0xfff00, st, nil
}

func checkDefaultDevices() {
	names := []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"}
	want := map[string][2]uint64{"/dev/null": {1, 3}, "/dev/zero": {1, 5}, "/dev/full": {1, 7},
		"/dev/random": {1, 8}, "/dev/urandom": {1, 9}, "/dev/tty": {5, 0}}
	for _, d := range names {
		mode, maj, min, _, err := devNums(d)
		ok(err == nil && mode&syscall.S_IFMT == syscall.S_IFCHR && maj == want[d][0] && min == want[d][1],
			fmt.Sprintf("default device %s is c %d:%d", d, want[d][0], want[d][1]), fmt.Sprintf("got mode %o %d:%d (%v)", mode, maj, min, err))
	}
	if fi, err := os.Lstat("/dev/ptmx"); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		t, _ := os.Readlink("/dev/ptmx")
		ok(t == "pts/ptmx" || t == "/dev/pts/ptmx", "default device /dev/ptmx -> pts/ptmx", "got "+t)
	} else {
		mode, maj, min, _, err := devNums("/dev/ptmx")
		ok(err == nil && mode&syscall.S_IFMT == syscall.S_IFCHR && maj == 5 && min == 2, "default device /dev/ptmx is c 5:2",
			fmt.Sprintf("got mode %o %d:%d (%v)", mode, maj, min, err))
	}
}

func checkDevices(s *rspec.Spec) {
	for _, d := range s.Linux.Devices {
		mode, maj, min, st, err := devNums(d.Path)
		if err != nil {
			ok(false, "linux.devices: "+d.Path+" exists", err.Error())
			continue
		}
		var kind uint32
		switch d.Type {
		case "c", "u":
			kind = syscall.S_IFCHR
		case "b":
			kind = syscall.S_IFBLK
		case "p":
			kind = syscall.S_IFIFO
		}
		ok(mode&syscall.S_IFMT == kind, fmt.Sprintf("linux.devices: %s has type %s", d.Path, d.Type), fmt.Sprintf("mode %o", mode))
		if d.Type != "p" {
			ok(maj == uint64(d.Major) && min == uint64(d.Minor), fmt.Sprintf("linux.devices: %s is %d:%d", d.Path, d.Major, d.Minor),
				fmt.Sprintf("got %d:%d", maj, min))
		}
		if d.FileMode != nil {
			ok(os.FileMode(mode).Perm() == d.FileMode.Perm(), fmt.Sprintf("linux.devices: %s has mode %o", d.Path, d.FileMode.Perm()),
				fmt.Sprintf("got %o", os.FileMode(mode).Perm()))
		}
		if d.UID != nil {
			ok(st.Uid == *d.UID, fmt.Sprintf("linux.devices: %s has uid %d", d.Path, *d.UID), fmt.Sprintf("got %d", st.Uid))
		}
		if d.GID != nil {
			ok(st.Gid == *d.GID, fmt.Sprintf("linux.devices: %s has gid %d", d.Path, *d.GID), fmt.Sprintf("got %d", st.Gid))
		}
	}
}

func checkMasked(s *rspec.Spec) {
	for _, p := range s.Linux.MaskedPaths {
		fi, err := os.Stat(p)
		if err != nil {
			ok(os.IsNotExist(err), "linux.maskedPaths: "+p+" (absent) is not exposed", err.Error())
			continue
		}
		if fi.IsDir() {
			ents, err := os.ReadDir(p)
			ok(err == nil && len(ents) == 0, "linux.maskedPaths: directory "+p+" is masked", fmt.Sprintf("%d entries (%v)", len(ents), err))
		} else {
			f, err := os.Open(p)
			buf := make([]byte, 16)
			nr := 0
			if err == nil {
				nr, _ = f.Read(buf)
				f.Close()
			}
			ok(nr == 0, "linux.maskedPaths: file "+p+" is masked", fmt.Sprintf("read %d bytes (%v)", nr, err))
		}
	}
}

func checkReadonly(s *rspec.Spec, mi []mountInfo) {
	for _, p := range s.Linux.ReadonlyPaths {
		if _, err := os.Stat(p); err != nil {
			ok(os.IsNotExist(err), "linux.readonlyPaths: "+p+" (absent)", err.Error())
			continue
		}
		m, found := lastMount(mi, p)
		ok(found && hasOpt(strings.Split(m.opts, ","), "ro"), "linux.readonlyPaths: "+p+" is a read-only mount",
			fmt.Sprintf("found=%v options=%q", found, m.opts))
	}
}

func checkSysctl(s *rspec.Spec) {
	keys := make([]string, 0, len(s.Linux.Sysctl))
	for k := range s.Linux.Sysctl {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		data, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(k, ".", "/"))
		got := strings.Join(strings.Fields(string(data)), " ")
		ok(err == nil && got == s.Linux.Sysctl[k], "linux.sysctl "+k+" = "+s.Linux.Sysctl[k], fmt.Sprintf("got %q (%v)", got, err))
	}
}

func checkPropagation(s *rspec.Spec, mi []mountInfo) {
	p := s.Linux.RootfsPropagation
	if p == "" {
		skip("linux.rootfsPropagation not set")
		return
	}
	m, found := lastMount(mi, "/")
	var good bool
	switch strings.TrimPrefix(p, "r") {
	case "shared":
		good = strings.Contains(m.optional, "shared:")
	case "slave":
		good = strings.Contains(m.optional, "master:")
	case "private":
		good = !strings.Contains(m.optional, "shared:") && !strings.Contains(m.optional, "master:")
	case "unbindable":
		good = strings.Contains(m.optional, "unbindable")
	}
	ok(found && good, "linux.rootfsPropagation "+p+" applied to /", fmt.Sprintf("optional fields %q", m.optional))
}

func checkIDMaps(s *rspec.Spec) {
	for _, x := range []struct {
		file string
		maps []rspec.LinuxIDMapping
	}{{"/proc/self/uid_map", s.Linux.UIDMappings}, {"/proc/self/gid_map", s.Linux.GIDMappings}} {
		if len(x.maps) == 0 {
			continue
		}
		data, err := os.ReadFile(x.file)
		got := map[string]bool{}
		for _, l := range strings.Split(string(data), "\n") {
			if f := strings.Fields(l); len(f) == 3 {
				got[strings.Join(f, " ")] = true
			}
		}
		for _, m := range x.maps {
			line := fmt.Sprintf("%d %d %d", m.ContainerID, m.HostID, m.Size)
			ok(err == nil && got[line], x.file+" has "+line, string(data))
		}
	}
}

func checkSeccomp(s *rspec.Spec) {
	sc := s.Linux.Seccomp
	if sc == nil {
		skip("linux.seccomp not set")
		return
	}
	ok(statusField("Seccomp") == "2", "linux.seccomp: a filter is installed", "Seccomp: "+statusField("Seccomp"))
	for _, rule := range sc.Syscalls {
		if rule.Action != rspec.ActErrno || !hasOpt(rule.Names, "acct") {
			continue
		}
		want := syscall.EPERM
		if rule.ErrnoRet != nil {
			want = syscall.Errno(*rule.ErrnoRet)
		}
		// acct(NULL): without the filter EPERM (no CAP_SYS_PACCT) or success
		_, _, e := syscall.RawSyscall(syscall.SYS_ACCT, 0, 0, 0)
		ok(e == want, "linux.seccomp: acct fails with "+want.Error(), fmt.Sprintf("got errno %d", e))
	}
}

func checkApparmor(s *rspec.Spec) {
	if s.Process.ApparmorProfile == "" {
		return
	}
	data, err := os.ReadFile("/proc/self/attr/current")
	ok(err == nil && strings.HasPrefix(string(data), s.Process.ApparmorProfile), "process.apparmorProfile is "+s.Process.ApparmorProfile,
		fmt.Sprintf("got %q (%v)", data, err))
}
