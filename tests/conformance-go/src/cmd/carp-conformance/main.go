// carp-conformance drives the carp_exec plugin binary the way a Nomad agent does, with
// HashiCorp's go-plugin client, hcl/v2 and go-cty, and prints one PASS/FAIL line per check
// followed by "N passed, N failed". Exit status 1 if any check failed.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"carpexec/conformance/nomadagent"

	"github.com/hashicorp/hcl/v2/hcldec"
)

type suite struct {
	pluginPath  string
	examplesDir string
	root        string // scratch directory of this run
	runID       string
	verbose     bool

	mu             sync.Mutex
	passed, failed int

	pluginSpec hcldec.Spec
	taskSpec   hcldec.Spec

	current   *agent                 // the driver manager's instance now
	instances []*nomadagent.Instance // every launch, for the stderr check
	tasks     []startedTask          // for the final clean-up and leftover check
}

// check runs one named check and prints its line. A panic in a check is a failure.
func (s *suite) check(name string, fn func() error) (ok bool) {
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		return fn()
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.failed++
		fmt.Printf("FAIL %s: %s\n", name, oneLine(err.Error()))
		return false
	}
	s.passed++
	fmt.Printf("PASS %s\n", name)
	return true
}

// blocked records a check that could not run because an earlier step failed.
func (s *suite) blocked(name, because string) {
	s.check(name, func() error { return fmt.Errorf("not run: %s", because) })
}

func (s *suite) setCurrent(a *agent) {
	s.mu.Lock()
	s.current = a
	s.mu.Unlock()
}

func (s *suite) logf(format string, args ...interface{}) {
	if s.verbose {
		fmt.Fprintf(os.Stderr, "# "+format+"\n", args...)
	}
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, "\r", "")
	s = strings.ReplaceAll(s, "\n", " ⏎ ")
	if len(s) > 1500 {
		s = s[:1500] + "…"
	}
	return s
}

func main() {
	defaultPlugin := os.Getenv("CARP_EXEC_PLUGIN")
	if defaultPlugin == "" {
		defaultPlugin = "build/carp_exec"
	}
	s := &suite{}
	flag.StringVar(&s.pluginPath, "plugin", defaultPlugin, "plugin binary (env CARP_EXEC_PLUGIN)")
	flag.StringVar(&s.examplesDir, "examples", "examples", "directory searched for *.hcl examples")
	flag.BoolVar(&s.verbose, "v", false, "log progress on stderr")
	budget := flag.Duration("budget", 8*time.Minute, "abort the whole run after this long")
	keep := flag.Bool("keep", false, "keep the scratch directory")
	flag.IntVar(&s.passed, "carry-passed", 0, "checks already passed by the run script")
	flag.IntVar(&s.failed, "carry-failed", 0, "checks already failed by the run script")
	flag.Parse()

	abs, err := filepath.Abs(s.pluginPath)
	if err == nil {
		s.pluginPath = abs
	}
	if st, err := os.Stat(s.pluginPath); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		fmt.Printf("FAIL setup/plugin-binary: %s is not an executable file\n", s.pluginPath)
		fmt.Printf("%d passed, %d failed\n", s.passed, s.failed+1)
		os.Exit(1)
	}
	// Short root: unix socket paths of supervisors live under the state dir.
	s.root, err = os.MkdirTemp("/tmp", "cgo-")
	if err != nil {
		fmt.Printf("FAIL setup/scratch-dir: %v\n%d passed, %d failed\n", err, s.passed, s.failed+1)
		os.Exit(1)
	}
	os.Chmod(s.root, 0o755)
	s.runID = "cgo" + nomadagent.NewHex8()

	timer := time.AfterFunc(*budget, func() {
		s.mu.Lock()
		fmt.Printf("FAIL run/budget: the suite did not finish within %s; aborted\n", *budget)
		fmt.Printf("%d passed, %d failed\n", s.passed, s.failed+1)
		os.Exit(1)
	})

	s.run()

	timer.Stop()
	if !*keep && s.failed == 0 {
		os.RemoveAll(s.root)
	} else {
		fmt.Fprintf(os.Stderr, "# scratch directory kept: %s\n", s.root)
	}
	s.mu.Lock()
	fmt.Printf("%d passed, %d failed\n", s.passed, s.failed)
	failed := s.failed
	s.mu.Unlock()
	if failed > 0 {
		os.Exit(1)
	}
}

func (s *suite) run() {
	s.runHandshake()
	live := s.runStartup()
	if live != nil {
		s.runConfigValidation(live)
		s.runLifecycle(live)
		s.runStop(live)
		s.runSignals(live)
		s.runExec(live)
		s.runStats(live)
		s.checkStatsEndWithTask(live)
		s.runGroupNetwork(live)
		s.runUnknownIDs(live)
		s.runUsers(live)
		s.runConcurrency(live)
		live = s.runRecovery(live)
		if live != nil {
			live = s.runReattach(live)
		}
	}
	s.runFailover()
	s.runRestoreForceDestroy()
	s.runFailoverHeals()
	s.runExamples()
	s.runShutdown(live)
}
