package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"carpexec/gen/drivers"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// runShutdown: agent shutdown (Driver.Shutdown, then Kill), then nothing of this run may remain.
func (s *suite) runShutdown(live *agent) {
	s.mu.Lock()
	cur := s.current
	tasks := append([]startedTask(nil), s.tasks...)
	s.mu.Unlock()
	if cur != nil {
		s.check("streams/fingerprint-and-events-stayed-open", func() error {
			if err := cur.fingerprints.ended(); err != nil {
				return fmt.Errorf("Fingerprint stream ended: %v", err)
			}
			if err := cur.events.ended(); err != nil {
				return fmt.Errorf("TaskEvents stream ended: %v", err)
			}
			return nil
		})
		// Whatever a failed check left running is destroyed, as Nomad would.
		for _, t := range tasks {
			destroy(cur, t.id, true)
		}
		s.check("shutdown/driver-shutdown", func() error {
			ctx, cancel := contextWithTimeout(2 * time.Second) // Nomad's deadline
			defer cancel()
			_, err := cur.drv().Shutdown(ctx, &drivers.ShutdownRequest{})
			if err != nil && status.Code(err) != codes.Unimplemented {
				return err
			}
			return nil
		})
		s.check("shutdown/kill-graceful", func() error {
			forced, took := cur.stop()
			if forced {
				return fmt.Errorf("go-plugin had to SIGKILL the plugin after %s", took)
			}
			return nil
		})
	}
	for _, t := range tasks {
		t.files.Close()
	}
	s.check("shutdown/no-leftover-processes", func() error {
		deadline := time.Now().Add(10 * time.Second)
		for {
			left := s.leftovers()
			if len(left) == 0 {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("still running: %s", strings.Join(left, "; "))
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	s.check("stderr/every-line-is-hclog-json", func() error { return s.checkStderr() })
}

// leftovers lists live processes of this run: the marker is in the environment of the plugins
// (and whatever they spawn) and of every task, and in every task's argv.
func (s *suite) leftovers() []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	marker := "CARP_CONFORMANCE_RUN=" + s.runID
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || !alive(pid) {
			continue
		}
		env, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.Contains(string(env), marker) || strings.Contains(string(cmdline), s.runID) {
			out = append(out, fmt.Sprintf("pid %d %q", pid, strings.ReplaceAll(string(cmdline), "\x00", " ")))
		}
	}
	return out
}

// The timestamp layout Nomad's go-plugin host parses: exactly six fraction digits.
var hclogTimestamp = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$`)

// checkStderr applies the rules a current Nomad host applies to a plugin's stderr: a JSON
// object line must have string @level, @message and @timestamp (a non-string crashes the
// agent), with a timestamp in hclog's layout.
func (s *suite) checkStderr() error {
	s.mu.Lock()
	insts := append(s.instances[:0:0], s.instances...)
	s.mu.Unlock()
	lines := 0
	for _, inst := range insts {
		for _, l := range inst.Stderr.Lines() {
			lines++
			if !strings.HasPrefix(strings.TrimSpace(l), "{") {
				return fmt.Errorf("plain text line (logged at DEBUG by Nomad): %q", l)
			}
			var m map[string]interface{}
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				return fmt.Errorf("not JSON (%v): %q", err, l)
			}
			for _, k := range []string{"@level", "@message", "@timestamp"} {
				if _, ok := m[k].(string); !ok {
					return fmt.Errorf("%s is not a string: %q", k, l)
				}
			}
			switch strings.ToLower(m["@level"].(string)) {
			case "trace", "debug", "info", "warn", "error":
			default:
				return fmt.Errorf("@level %q unknown: %q", m["@level"], l)
			}
			if !hclogTimestamp.MatchString(m["@timestamp"].(string)) {
				return fmt.Errorf("@timestamp %q is not in hclog's layout: %q", m["@timestamp"], l)
			}
		}
	}
	s.logf("%d stderr lines from %d launches checked", lines, len(insts))
	return nil
}
