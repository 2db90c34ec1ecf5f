package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"carpexec/gen/drivers"
	"carpexec/gen/state"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// runLifecycle: a short task from StartTask to DestroyTask.
func (s *suite) runLifecycle(live *agent) {
	script := `echo started
pwd > "$NOMAD_ALLOC_DIR/data/pwd"
echo "$FOO" > "$NOMAD_ALLOC_DIR/data/foo"
echo to-stderr >&2
read line < "$NOMAD_TASK_DIR/go"
exit 0
`
	var t *startedTask
	if !s.check("lifecycle/start", func() error {
		var err error
		t, err = s.prepareTask("life", script, `        work_dir = "${NOMAD_TASK_DIR}"`)
		if err != nil {
			return err
		}
		// The task blocks reading this FIFO until the suite lets it go.
		if err := mkfifo(filepath.Join(t.files.Dir, "local", "go")); err != nil {
			return err
		}
		if err := s.start(live, t); err != nil {
			return err
		}
		h := t.handle
		if h.GetConfig().GetId() != t.id {
			return fmt.Errorf("handle.config.id %q, want %q (Nomad persists this handle)", h.GetConfig().GetId(), t.id)
		}
		if h.GetConfig().GetAllocId() != t.cfg.AllocId || h.GetConfig().GetName() != t.cfg.Name {
			return fmt.Errorf("handle.config does not echo the TaskConfig (alloc %q name %q)", h.GetConfig().GetAllocId(), h.GetConfig().GetName())
		}
		if h.GetState() != drivers.TaskState_RUNNING {
			return fmt.Errorf("handle.state %v, want RUNNING", h.GetState())
		}
		if h.GetVersion() < 1 {
			return fmt.Errorf("handle.version %d, want >= 1", h.GetVersion())
		}
		if len(h.GetDriverState()) == 0 {
			return fmt.Errorf("handle.driver_state is empty: nothing to recover from")
		}
		return nil
	}) {
		s.blocked("lifecycle/inspect-running", "StartTask failed")
		s.blocked("lifecycle/wait-exit-0-many-waiters", "StartTask failed")
		s.blocked("lifecycle/output-env-work_dir", "StartTask failed")
		s.blocked("lifecycle/inspect-exited", "StartTask failed")
		s.blocked("lifecycle/destroy-exited", "StartTask failed")
	} else {
		s.check("lifecycle/inspect-running", func() error {
			r, err := inspect(live, t.id)
			if err != nil {
				return err
			}
			st := r.GetTask()
			if st.GetId() != t.id || st.GetName() != "life" {
				return fmt.Errorf("status id %q name %q", st.GetId(), st.GetName())
			}
			if st.GetState() != drivers.TaskState_RUNNING {
				return fmt.Errorf("state %v, want RUNNING", st.GetState())
			}
			if st.GetStartedAt() == nil || st.GetCompletedAt() == nil {
				return fmt.Errorf("started_at %v completed_at %v: Nomad needs both set", st.GetStartedAt(), st.GetCompletedAt())
			}
			if d := time.Since(st.GetStartedAt().AsTime()); d < -time.Minute || d > time.Minute {
				return fmt.Errorf("started_at %v is not now", st.GetStartedAt().AsTime())
			}
			return nil
		})
		s.check("lifecycle/wait-exit-0-many-waiters", func() error {
			const waiters = 3
			var wg sync.WaitGroup
			results := make([]*drivers.ExitResult, waiters)
			errs := make([]error, waiters)
			for i := 0; i < waiters; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					results[i], errs[i] = wait(live, t.id, 20*time.Second)
				}(i)
			}
			time.Sleep(200 * time.Millisecond) // let the waiters reach the plugin first
			if err := releaseFifo(filepath.Join(t.files.Dir, "local", "go")); err != nil {
				return err
			}
			wg.Wait()
			for i := 0; i < waiters; i++ {
				if errs[i] != nil {
					return fmt.Errorf("waiter %d: %v", i, errs[i])
				}
				if results[i].GetExitCode() != 0 || results[i].GetSignal() != 0 {
					return fmt.Errorf("waiter %d: exit %d signal %d, want 0/0", i, results[i].GetExitCode(), results[i].GetSignal())
				}
			}
			// After the exit a new waiter is answered at once.
			r, err := wait(live, t.id, 5*time.Second)
			if err != nil || r.GetExitCode() != 0 {
				return fmt.Errorf("WaitTask after the exit: %v %v", r, err)
			}
			return nil
		})
		s.check("lifecycle/output-env-work_dir", func() error {
			if !t.files.Stdout.WaitFor("started", 5*time.Second) {
				return fmt.Errorf("stdout FIFO got %q, want \"started\"", t.files.Stdout.String())
			}
			if !t.files.Stderr.WaitFor("to-stderr", 5*time.Second) {
				return fmt.Errorf("stderr FIFO got %q, want \"to-stderr\"", t.files.Stderr.String())
			}
			pwd, _ := os.ReadFile(filepath.Join(t.files.Alloc.Dir, "alloc", "data", "pwd"))
			if got, want := strings.TrimSpace(string(pwd)), filepath.Join(t.files.Dir, "local"); got != want {
				return fmt.Errorf("work dir %q, want %q (work_dir = \"${NOMAD_TASK_DIR}\")", got, want)
			}
			foo, _ := os.ReadFile(filepath.Join(t.files.Alloc.Dir, "alloc", "data", "foo"))
			if strings.TrimSpace(string(foo)) != "bar-conformance" {
				return fmt.Errorf("FOO in the task was %q, want bar-conformance", strings.TrimSpace(string(foo)))
			}
			return nil
		})
		s.check("lifecycle/inspect-exited", func() error {
			r, err := inspect(live, t.id)
			if err != nil {
				return err
			}
			st := r.GetTask()
			if st.GetState() != drivers.TaskState_EXITED {
				return fmt.Errorf("state %v, want EXITED", st.GetState())
			}
			if st.GetResult() == nil || st.GetResult().GetExitCode() != 0 {
				return fmt.Errorf("result %v, want exit 0", st.GetResult())
			}
			if st.GetStartedAt() == nil || st.GetCompletedAt() == nil {
				return fmt.Errorf("timestamps missing")
			}
			if st.GetCompletedAt().AsTime().Before(st.GetStartedAt().AsTime()) {
				return fmt.Errorf("completed_at %v before started_at %v", st.GetCompletedAt().AsTime(), st.GetStartedAt().AsTime())
			}
			return nil
		})
		s.check("lifecycle/stop-exited-task-ok", func() error {
			return stop(live, t.id, time.Second, "SIGINT")
		})
		s.check("lifecycle/destroy-exited", func() error {
			if err := destroy(live, t.id, false); err != nil {
				return fmt.Errorf("DestroyTask(force=false) of an exited task: %v", err)
			}
			if _, err := inspect(live, t.id); err == nil {
				return fmt.Errorf("InspectTask still knows the task after DestroyTask")
			}
			return nil
		})
	}
	s.check("lifecycle/exit-code", func() error {
		t, err := s.prepareTask("exit3", "exit 3\n", "")
		if err != nil {
			return err
		}
		defer t.files.Close()
		if err := s.start(live, t); err != nil {
			return err
		}
		r, err := wait(live, t.id, 20*time.Second)
		if err != nil {
			return err
		}
		if r.GetExitCode() != 3 || r.GetSignal() != 0 {
			return fmt.Errorf("exit %d signal %d, want 3/0", r.GetExitCode(), r.GetSignal())
		}
		return destroy(live, t.id, true)
	})
	s.check("lifecycle/logs-disabled-dev-null", func() error {
		t, err := s.prepareTask("nolog", "echo to-nowhere\necho to-nowhere >&2\nexit 4\n", "")
		if err != nil {
			return err
		}
		defer t.files.Close()
		t.cfg.StdoutPath, t.cfg.StderrPath = "/dev/null", "/dev/null" // logs { disabled = true }
		if err := s.start(live, t); err != nil {
			return err
		}
		r, err := wait(live, t.id, 10*time.Second)
		if err != nil {
			return err
		}
		if r.GetExitCode() != 4 {
			return fmt.Errorf("exit %d, want 4", r.GetExitCode())
		}
		return destroy(live, t.id, false)
	})
	s.check("lifecycle/duplicate-id-rejected", func() error {
		t, cleanup, err := s.startScript(live, "dup", "sleep 30\n")
		if err != nil {
			return err
		}
		defer cleanup()
		t2 := *t
		if err := s.start(live, &t2); err == nil {
			return fmt.Errorf("a second StartTask with the same id succeeded")
		}
		return nil
	})
	s.check("lifecycle/wait-cancel-then-wait-again", func() error {
		t, cleanup, err := s.startScript(live, "cancel", "sleep 30\n")
		if err != nil {
			return err
		}
		defer cleanup()
		if _, err := wait(live, t.id, 300*time.Millisecond); status.Code(err) != codes.DeadlineExceeded {
			return fmt.Errorf("WaitTask of a running task returned %v before it exited", err)
		}
		if err := stop(live, t.id, 2*time.Second, "SIGTERM"); err != nil {
			return err
		}
		r, err := wait(live, t.id, 10*time.Second)
		if err != nil {
			return err
		}
		if r.GetSignal() != 15 {
			return fmt.Errorf("signal %d, want 15 (SIGTERM)", r.GetSignal())
		}
		return nil
	})
}

// runStop: StopTask signals, escalation, process groups; DestroyTask rules.
func (s *suite) runStop(live *agent) {
	s.check("stop/sigint-kills-sleep", func() error {
		t, cleanup, err := s.startScript(live, "stopint", "exec sleep 1000\n")
		if err != nil {
			return err
		}
		defer cleanup()
		if _, err := t.taskPid(5 * time.Second); err != nil {
			return err
		}
		if err := stop(live, t.id, 2*time.Second, "SIGINT"); err != nil {
			return err
		}
		r, err := wait(live, t.id, 10*time.Second)
		if err != nil {
			return err
		}
		if r.GetSignal() != 2 {
			return fmt.Errorf("signal %d exit %d, want signal 2", r.GetSignal(), r.GetExitCode())
		}
		if r.GetExitCode() != 130 {
			return fmt.Errorf("exit code %d, want 130 (128+2, as raw_exec reports)", r.GetExitCode())
		}
		return nil
	})
	s.check("stop/default-signal-is-sigint", func() error {
		t, cleanup, err := s.startScript(live, "stopdefault", "trap 'echo got-int; exit 5' INT\necho ready\nwhile :; do sleep 0.1; done\n")
		if err != nil {
			return err
		}
		defer cleanup()
		if !t.files.Stdout.WaitFor("ready", 5*time.Second) {
			return fmt.Errorf("task never printed ready (stdout %q)", t.files.Stdout.String())
		}
		if err := stop(live, t.id, 5*time.Second, ""); err != nil {
			return err
		}
		r, err := wait(live, t.id, 10*time.Second)
		if err != nil {
			return err
		}
		if r.GetExitCode() != 5 || !t.files.Stdout.WaitFor("got-int", 2*time.Second) {
			return fmt.Errorf("exit %d signal %d stdout %q, want the INT trap (exit 5, got-int)", r.GetExitCode(), r.GetSignal(), t.files.Stdout.String())
		}
		return nil
	})
	s.check("stop/escalates-to-sigkill-and-kills-group", func() error {
		script := "trap '' INT\nsleep 1000 &\necho $! > \"$NOMAD_TASK_DIR/child\"\necho ready\nwhile :; do sleep 1; done\n"
		t, cleanup, err := s.startScript(live, "stopkill", script)
		if err != nil {
			return err
		}
		defer cleanup()
		pid, err := t.taskPid(5 * time.Second)
		if err != nil {
			return err
		}
		child, err := t.readPidFile("child", 5*time.Second)
		if err != nil {
			return err
		}
		if !t.files.Stdout.WaitFor("ready", 5*time.Second) {
			return fmt.Errorf("task never printed ready")
		}
		start := time.Now()
		if err := stop(live, t.id, time.Second, "SIGINT"); err != nil {
			return err
		}
		r, err := wait(live, t.id, 15*time.Second)
		if err != nil {
			return err
		}
		if r.GetSignal() != 9 {
			return fmt.Errorf("signal %d exit %d after %s, want signal 9", r.GetSignal(), r.GetExitCode(), time.Since(start))
		}
		if !waitGone(pid, 5*time.Second) {
			return fmt.Errorf("task pid %d still alive", pid)
		}
		if !waitGone(child, 5*time.Second) {
			return fmt.Errorf("background child pid %d of the task's group still alive", child)
		}
		return nil
	})
	s.check("stop/timeout-zero-sigkill", func() error {
		t, cleanup, err := s.startScript(live, "stopzero", "exec sleep 1000\n")
		if err != nil {
			return err
		}
		defer cleanup()
		if _, err := t.taskPid(5 * time.Second); err != nil {
			return err
		}
		if err := stop(live, t.id, 0, "SIGKILL"); err != nil {
			return err
		}
		r, err := wait(live, t.id, 10*time.Second)
		if err != nil {
			return err
		}
		if r.GetSignal() != 9 {
			return fmt.Errorf("signal %d, want 9", r.GetSignal())
		}
		return nil
	})
	s.check("destroy/running-refused-then-force-kills-all", func() error {
		script := "sleep 1000 &\necho $! > \"$NOMAD_TASK_DIR/child\"\nwhile :; do sleep 1; done\n"
		t, err := s.prepareTask("destroy", script, "")
		if err != nil {
			return err
		}
		defer t.files.Close()
		if err := s.start(live, t); err != nil {
			return err
		}
		pid, err := t.taskPid(5 * time.Second)
		if err != nil {
			return err
		}
		child, err := t.readPidFile("child", 5*time.Second)
		if err != nil {
			return err
		}
		if err := destroy(live, t.id, false); err == nil {
			return fmt.Errorf("DestroyTask(force=false) of a running task succeeded")
		}
		if r, err := inspect(live, t.id); err != nil || r.GetTask().GetState() != drivers.TaskState_RUNNING {
			return fmt.Errorf("after the refused destroy: %v %v, want RUNNING", r.GetTask().GetState(), err)
		}
		if err := destroy(live, t.id, true); err != nil {
			return fmt.Errorf("DestroyTask(force=true): %v", err)
		}
		if !waitGone(pid, 5*time.Second) || !waitGone(child, 5*time.Second) {
			return fmt.Errorf("processes alive after forced destroy: task %v child %v", alive(pid), alive(child))
		}
		if _, err := inspect(live, t.id); err == nil {
			return fmt.Errorf("InspectTask still knows the task after DestroyTask")
		}
		return nil
	})
}

// runSignals: SignalTask reaches a trapping script whose output comes back through the FIFO.
func (s *suite) runSignals(live *agent) {
	s.check("signal/sigusr1-reaches-trap-output-via-fifo", func() error {
		t, cleanup, err := s.startScript(live, "sig", "trap 'echo got-usr1; exit 3' USR1\necho ready\nwhile :; do sleep 0.1; done\n")
		if err != nil {
			return err
		}
		defer cleanup()
		if !t.files.Stdout.WaitFor("ready", 5*time.Second) {
			return fmt.Errorf("task never printed ready (stdout %q)", t.files.Stdout.String())
		}
		ctx, cancel := rpcCtx()
		defer cancel()
		if _, err := live.drv().SignalTask(ctx, &drivers.SignalTaskRequest{TaskId: t.id, Signal: "SIGUSR1"}); err != nil {
			return fmt.Errorf("SignalTask: %v", err)
		}
		r, err := wait(live, t.id, 10*time.Second)
		if err != nil {
			return err
		}
		if r.GetExitCode() != 3 {
			return fmt.Errorf("exit %d signal %d, want 3 from the trap", r.GetExitCode(), r.GetSignal())
		}
		if !t.files.Stdout.WaitFor("got-usr1", 3*time.Second) {
			return fmt.Errorf("stdout %q lacks got-usr1", t.files.Stdout.String())
		}
		return nil
	})
	s.check("signal/unknown-name-invalid-argument", func() error {
		t, cleanup, err := s.startScript(live, "sigbad", "exec sleep 1000\n")
		if err != nil {
			return err
		}
		defer cleanup()
		ctx, cancel := rpcCtx()
		defer cancel()
		_, err = live.drv().SignalTask(ctx, &drivers.SignalTaskRequest{TaskId: t.id, Signal: "SIGNOPE"})
		if err == nil {
			return fmt.Errorf("SignalTask SIGNOPE succeeded")
		}
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "SIGNOPE") {
			return fmt.Errorf("got %v, want InvalidArgument naming SIGNOPE", err)
		}
		if r, err := inspect(live, t.id); err != nil || r.GetTask().GetState() != drivers.TaskState_RUNNING {
			return fmt.Errorf("task not running after a bad signal name: %v", err)
		}
		return nil
	})
}

// driverState decodes carp_exec's own TaskHandle.driver_state.
func driverState(h *drivers.TaskHandle) (*state.DriverState, error) {
	ds := &state.DriverState{}
	if err := proto.Unmarshal(h.GetDriverState(), ds); err != nil {
		return nil, fmt.Errorf("driver_state is not a carp_exec.state.DriverState: %v", err)
	}
	return ds, nil
}
