// Package tap is pydocker's own minimal TAP writer with the API of github.com/mndrix/tap-go,
// which runtime-tools' upstream validation tests import and Debian does not package.
// runtime_tools.sh places it at that import path only for the debian-source route.
// YAML blocks are written as JSON (a YAML subset), so errors appear as `"error": "..."`.
package tap

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// T is a TAP stream.
type T struct {
	nextTestNumber *int
	// TODO marks the following points as TODO (see Todo).
	TODO bool
	// Writer receives the output (os.Stdout by default).
	Writer io.Writer
}

// New starts a TAP stream on stdout.
func New() *T {
	n := 1
	return &T{nextTestNumber: &n, Writer: os.Stdout}
}

func (t *T) printf(format string, a ...interface{}) {
	w := t.Writer
	if w == nil {
		w = os.Stdout
	}
	fmt.Fprintf(w, format, a...)
}

// Header prints the version line and, for testCount > 0, the plan.
func (t *T) Header(testCount int) {
	t.printf("TAP version 13\n")
	if testCount > 0 {
		t.printf("1..%d\n", testCount)
	}
}

// Ok reports one test point.
func (t *T) Ok(test bool, description string) {
	directive := ""
	if t.TODO {
		directive = " # TODO"
	}
	status := "ok"
	if !test {
		status = "not ok"
	}
	t.printf("%s %d - %s%s\n", status, *t.nextTestNumber, description, directive)
	*t.nextTestNumber++
}

// Fail reports a failed point.
func (t *T) Fail(description string) { t.Ok(false, description) }

// Pass reports a passed point.
func (t *T) Pass(description string) { t.Ok(true, description) }

// Count returns how many points were reported.
func (t *T) Count() int { return *t.nextTestNumber - 1 }

// AutoPlan prints the plan from the count.
func (t *T) AutoPlan() { t.printf("1..%d\n", t.Count()) }

// Skip reports count skipped points.
func (t *T) Skip(count int, description string) {
	for i := 0; i < count; i++ {
		t.printf("ok %d # SKIP %s\n", *t.nextTestNumber, description)
		*t.nextTestNumber++
	}
}

// Todo returns a stream whose points are marked TODO, sharing the numbering.
func (t *T) Todo() *T {
	return &T{nextTestNumber: t.nextTestNumber, TODO: true, Writer: t.Writer}
}

// Diagnostic prints a comment.
func (t *T) Diagnostic(message string) {
	t.printf("# %s\n", strings.ReplaceAll(strings.TrimRight(message, "\n"), "\n", "\n# "))
}

// Diagnosticf prints a formatted comment.
func (t *T) Diagnosticf(format string, a ...interface{}) { t.Diagnostic(fmt.Sprintf(format, a...)) }

// YAML prints a YAML block (as indented JSON) attached to the last point.
func (t *T) YAML(message interface{}) error {
	raw, err := json.MarshalIndent(message, "  ", "  ")
	if err != nil {
		return err
	}
	t.printf("  ---\n  %s\n  ...\n", raw)
	return nil
}
