// rtval runs one of pydocker's runtime conformance tests against $RUNTIME and prints TAP:
//
//	rtval list          the test names
//	rtval NAME          run one test (from the directory holding rootfs.tar and runtimetest)
package main

import (
	"fmt"
	"os"
	"sort"

	h "pydocker.local/rtsuite/harness"
)

var tests = map[string]func(t *h.T){}

func register(name string, f func(t *h.T)) { tests[name] = f }

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: rtval list | rtval TEST")
		os.Exit(2)
	}
	if os.Args[1] == "list" {
		names := make([]string, 0, len(tests))
		for k := range tests {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			fmt.Println(k)
		}
		return
	}
	f, found := tests[os.Args[1]]
	if !found {
		fmt.Fprintf(os.Stderr, "rtval: no test %q\n", os.Args[1])
		os.Exit(2)
	}
	t := h.NewT()
	f(t)
	t.Done()
}
