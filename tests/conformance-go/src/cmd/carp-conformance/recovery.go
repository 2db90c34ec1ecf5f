package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"carpexec/gen/drivers"

	"google.golang.org/protobuf/proto"
)

// runRecovery kills the plugin gracefully, then with SIGKILL, and each time relaunches it and
// recovers the tasks from the in-memory handles as Nomad's task runners do.
func (s *suite) runRecovery(live *agent) *agent {
	for _, mode := range []string{"graceful", "sigkill"} {
		live = s.recoveryRound(live, mode)
		if live == nil {
			return nil
		}
	}
	return live
}

func (s *suite) recoveryRound(live *agent, mode string) *agent {
	p := "recovery/" + mode + "/"
	var running, exiting, lost *startedTask
	if !s.check(p+"start-tasks", func() error {
		var err error
		running, err = s.prepareTask("rrun", "trap 'echo got-usr1' USR1\ntrap 'echo got-int; exit 0' INT\necho ready\nwhile :; do sleep 0.1; done\n", "")
		if err != nil {
			return err
		}
		exiting, err = s.prepareTask("rexit", "echo ready\nwhile [ ! -e \"$NOMAD_TASK_DIR/flag\" ]; do sleep 0.1; done\nexit 7\n", "")
		if err != nil {
			return err
		}
		toStart := []*startedTask{running, exiting}
		if mode == "sigkill" {
			if lost, err = s.prepareTask("rlost", "exec sleep 1000\n", ""); err != nil {
				return err
			}
			toStart = append(toStart, lost)
		}
		for _, t := range toStart {
			if err := s.start(live, t); err != nil {
				return fmt.Errorf("%s: %v", t.files.Name, err)
			}
			if _, err := t.taskPid(5 * time.Second); err != nil {
				return err
			}
		}
		if !running.files.Stdout.WaitFor("ready", 5*time.Second) {
			return fmt.Errorf("rrun never printed ready")
		}
		return nil
	}) {
		return live
	}

	// Nomad holds a WaitTask per task while the plugin dies.
	pending := make(chan error, 1)
	go func() {
		r, err := wait(live, running.id, 60*time.Second)
		if err == nil {
			pending <- fmt.Errorf("the pending WaitTask was answered with an exit (%v) while the task still runs", r)
			return
		}
		pending <- nil
	}()
	time.Sleep(200 * time.Millisecond)

	if mode == "graceful" {
		s.check(p+"kill-graceful", func() error {
			forced, took := live.stop()
			if forced {
				return fmt.Errorf("go-plugin had to SIGKILL the plugin after %s", took)
			}
			return nil
		})
	} else {
		live.inst.SigKill()
		live.cancel()
	}
	s.check(p+"pending-wait-fails-not-exits", func() error {
		select {
		case err := <-pending:
			return err
		case <-time.After(10 * time.Second):
			return fmt.Errorf("the pending WaitTask neither failed nor returned 10 s after the plugin died")
		}
	})
	s.check(p+"task-outlives-plugin", func() error {
		pid, _ := running.taskPid(time.Second)
		if !alive(pid) {
			return fmt.Errorf("task pid %d died with the plugin", pid)
		}
		return nil
	})
	s.check(p+"task-exits-while-plugin-down", func() error {
		pid, _ := exiting.taskPid(time.Second)
		if err := os.WriteFile(filepath.Join(exiting.files.Dir, "local", "flag"), nil, 0o644); err != nil {
			return err
		}
		if !waitGone(pid, 10*time.Second) {
			return fmt.Errorf("rexit pid %d did not exit", pid)
		}
		return nil
	})
	if lost != nil {
		s.check(p+"supervisor-and-task-killed-while-down", func() error {
			ds, err := driverState(lost.handle)
			if err != nil {
				return err
			}
			sup := int(ds.GetSupervisor().GetPid())
			pid, _ := lost.taskPid(time.Second)
			if sup <= 0 {
				return fmt.Errorf("driver_state has no supervisor pid")
			}
			syscall.Kill(sup, syscall.SIGKILL)
			if !waitGone(sup, 5*time.Second) {
				return fmt.Errorf("supervisor %d survived SIGKILL", sup)
			}
			syscall.Kill(pid, syscall.SIGKILL)
			if !waitGone(pid, 5*time.Second) {
				return fmt.Errorf("task %d survived SIGKILL", pid)
			}
			return nil
		})
	}

	var next *agent
	if !s.check(p+"relaunch", func() error {
		var err error
		next, err = s.startAgent(live.msgpackConfig)
		if err != nil {
			return err
		}
		s.setCurrent(next)
		// A task runner re-dispensing the driver asks for these before RecoverTask.
		ctx, cancel := rpcCtx()
		defer cancel()
		if _, err := next.drv().TaskConfigSchema(ctx, &drivers.TaskConfigSchemaRequest{}); err != nil {
			return err
		}
		_, err = next.drv().Capabilities(ctx, &drivers.CapabilitiesRequest{})
		return err
	}) {
		return nil
	}
	recoverTask := func(t *startedTask) error {
		h := proto.Clone(t.handle).(*drivers.TaskHandle)
		h.Config.MsgpackDriverConfig = nil // not persisted by the Nomad client
		ctx, cancel := rpcCtx()
		defer cancel()
		_, err := next.drv().RecoverTask(ctx, &drivers.RecoverTaskRequest{Handle: h})
		return err
	}
	s.check(p+"recover-running-task", func() error {
		if err := recoverTask(running); err != nil {
			return fmt.Errorf("RecoverTask: %v", err)
		}
		r, err := inspect(next, running.id)
		if err != nil {
			return err
		}
		if r.GetTask().GetState() != drivers.TaskState_RUNNING {
			return fmt.Errorf("state %v after recovery, want RUNNING", r.GetTask().GetState())
		}
		if err := recoverTask(running); err != nil {
			return fmt.Errorf("a second RecoverTask of a tracked task: %v", err)
		}
		return nil
	})
	s.check(p+"signal-after-recover-output-still-flows", func() error {
		ctx, cancel := rpcCtx()
		defer cancel()
		if _, err := next.drv().SignalTask(ctx, &drivers.SignalTaskRequest{TaskId: running.id, Signal: "SIGUSR1"}); err != nil {
			return err
		}
		if !running.files.Stdout.WaitFor("got-usr1", 5*time.Second) {
			return fmt.Errorf("stdout %q lacks got-usr1", running.files.Stdout.String())
		}
		return nil
	})
	s.check(p+"recover-exited-task-true-status", func() error {
		if err := recoverTask(exiting); err != nil {
			return fmt.Errorf("RecoverTask: %v", err)
		}
		r, err := wait(next, exiting.id, 10*time.Second)
		if err != nil {
			return err
		}
		if r.GetExitCode() != 7 {
			return fmt.Errorf("exit %d signal %d, want 7", r.GetExitCode(), r.GetSignal())
		}
		return destroy(next, exiting.id, false)
	})
	if lost != nil {
		s.check(p+"recover-lost-task-is-error", func() error {
			err := recoverTask(lost)
			destroy(next, lost.id, true) // what Nomad does after a failed recovery
			if err == nil {
				return fmt.Errorf("RecoverTask succeeded for a task whose supervisor and process are gone")
			}
			return nil
		})
	}
	s.check(p+"stop-after-recover", func() error {
		if err := stop(next, running.id, 5*time.Second, "SIGINT"); err != nil {
			return err
		}
		r, err := wait(next, running.id, 10*time.Second)
		if err != nil {
			return err
		}
		if r.GetExitCode() != 0 || !running.files.Stdout.WaitFor("got-int", 2*time.Second) {
			return fmt.Errorf("exit %d signal %d stdout %q", r.GetExitCode(), r.GetSignal(), running.files.Stdout.String())
		}
		return destroy(next, running.id, false)
	})
	running.files.Close()
	exiting.files.Close()
	if lost != nil {
		lost.files.Close()
	}
	return next
}
