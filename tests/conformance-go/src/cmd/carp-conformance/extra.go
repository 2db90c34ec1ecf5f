package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"carpexec/conformance/nomadagent"
	"carpexec/gen/base"
	"carpexec/gen/drivers"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// runReattach: the agent crashes (its go-plugin client is abandoned, the plugin keeps
// running) and the restarted agent reattaches from the stored record: PluginInfo, no
// SetConfig, Init, streams, RecoverTask of the known task. Returns the agent to use next.
func (s *suite) runReattach(live *agent) *agent {
	var t *startedTask
	if !s.check("reattach/task-running", func() error {
		var err error
		if t, err = s.prepareTask("reattach", "trap 'exit 0' INT\nwhile :; do sleep 0.1; done\n", ""); err != nil {
			return err
		}
		if err := s.start(live, t); err != nil {
			return err
		}
		_, err = t.taskPid(5 * time.Second)
		return err
	}) {
		return live
	}
	defer t.files.Close()
	var next *agent
	if !s.check("reattach/after-agent-crash", func() error {
		inst, err := nomadagent.Reattach(live.inst)
		if err != nil {
			return err
		}
		live.cancel() // the crashed agent's streams are gone with it
		ctx, cancel := rpcCtx()
		defer cancel()
		info, err := inst.Clients.Base.PluginInfo(ctx, &base.PluginInfoRequest{})
		if err != nil {
			return fmt.Errorf("PluginInfo: %v", err)
		}
		if info.GetName() != "carp_exec" {
			return fmt.Errorf("name %q", info.GetName())
		}
		if _, err := inst.Clients.Driver.Init(ctx, &drivers.InitRequest{}); err != nil && status.Code(err) != codes.Unimplemented {
			return fmt.Errorf("Init: %v", err)
		}
		next = &agent{inst: inst, msgpackConfig: live.msgpackConfig}
		streamCtx, streamCancel := context.WithCancel(context.Background())
		next.cancel = streamCancel
		if next.fingerprints, err = openFingerprints(streamCtx, inst.Clients.Driver); err != nil {
			return err
		}
		if next.events, err = openEvents(streamCtx, inst.Clients.Driver); err != nil {
			return err
		}
		s.setCurrent(next)
		if !next.fingerprints.waitFor(5*time.Second, func(m []*drivers.FingerprintResponse) bool {
			return len(m) > 0 && m[len(m)-1].GetHealth() == drivers.FingerprintResponse_HEALTHY
		}) {
			return fmt.Errorf("no HEALTHY fingerprint after reattaching (last %v)", next.fingerprints.last())
		}
		return nil
	}) {
		return live
	}
	s.check("reattach/recover-known-task-and-stop", func() error {
		ctx, cancel := rpcCtx()
		defer cancel()
		if _, err := next.drv().RecoverTask(ctx, &drivers.RecoverTaskRequest{Handle: t.handle}); err != nil {
			return fmt.Errorf("RecoverTask: %v", err)
		}
		if err := stop(next, t.id, 5*time.Second, "SIGINT"); err != nil {
			return err
		}
		r, err := wait(next, t.id, 10*time.Second)
		if err != nil {
			return err
		}
		if r.GetExitCode() != 0 {
			return fmt.Errorf("exit %d signal %d, want 0 from the trap", r.GetExitCode(), r.GetSignal())
		}
		return destroy(next, t.id, false)
	})
	return next
}

// runConcurrency: several tasks started, waited, stopped and destroyed at once.
func (s *suite) runConcurrency(live *agent) {
	const n = 20
	s.check(fmt.Sprintf("concurrency/%d-tasks", n), func() error {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				t, err := s.prepareTask(fmt.Sprintf("many%d", i), "exec sleep 1000\n", "")
				if err != nil {
					errs <- err
					return
				}
				defer t.files.Close()
				if err := s.start(live, t); err != nil {
					errs <- err
					return
				}
				pid, err := t.taskPid(10 * time.Second)
				if err != nil {
					errs <- err
					return
				}
				if err := stop(live, t.id, 2*time.Second, "SIGTERM"); err != nil {
					errs <- err
					return
				}
				r, err := wait(live, t.id, 20*time.Second)
				if err != nil {
					errs <- err
					return
				}
				if r.GetSignal() != 15 {
					errs <- fmt.Errorf("task %d: signal %d, want 15", i, r.GetSignal())
					return
				}
				if err := destroy(live, t.id, false); err != nil {
					errs <- err
					return
				}
				if !waitGone(pid, 5*time.Second) {
					errs <- fmt.Errorf("task %d pid %d alive after destroy", i, pid)
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		var msgs []string
		for err := range errs {
			msgs = append(msgs, err.Error())
		}
		if len(msgs) > 0 {
			return fmt.Errorf("%d of %d failed: %s", len(msgs), n, strings.Join(msgs, "; "))
		}
		return nil
	})
}

// runUsers: the task `user` drops privileges; unknown users and denied uids are refused.
func (s *suite) runUsers(live *agent) {
	s.check("user/runs-as-nobody", func() error {
		t, err := s.prepareTask("nobody", "id -u\n", "")
		if err != nil {
			return err
		}
		defer t.files.Close()
		t.cfg.User = "nobody"
		if err := s.start(live, t); err != nil {
			return err
		}
		defer destroy(live, t.id, true)
		r, err := wait(live, t.id, 10*time.Second)
		if err != nil {
			return err
		}
		if r.GetExitCode() != 0 {
			return fmt.Errorf("exit %d (stderr %q)", r.GetExitCode(), t.files.Stderr.String())
		}
		if !t.files.Stdout.WaitFor("\n", 3*time.Second) {
			return fmt.Errorf("no output")
		}
		uid, err := strconv.Atoi(strings.TrimSpace(t.files.Stdout.String()))
		if err != nil || uid == 0 {
			return fmt.Errorf("the task ran as uid %q, want nobody's", strings.TrimSpace(t.files.Stdout.String()))
		}
		return nil
	})
	s.check("user/unknown-user-refused", func() error {
		t, err := s.prepareTask("nouser", "exit 0\n", "")
		if err != nil {
			return err
		}
		defer t.files.Close()
		t.cfg.User = "carp-conformance-no-such-user"
		err = s.start(live, t)
		if err == nil {
			destroy(live, t.id, true)
			return fmt.Errorf("StartTask with an unknown user succeeded")
		}
		if !strings.Contains(err.Error(), "carp-conformance-no-such-user") {
			return fmt.Errorf("error does not name the user: %v", err)
		}
		return nil
	})
	s.check("user/denied-host-uid-refused", func() error {
		cfg, err := s.pluginConfigMsgpack("agent-denied.hcl", s.basePluginConfig()+"\n    denied_host_uids = \"0\"")
		if err != nil {
			return err
		}
		a, err := s.startAgent(cfg)
		if err != nil {
			return err
		}
		defer a.stop()
		t, err := s.prepareTask("denied", "exit 0\n", "")
		if err != nil {
			return err
		}
		defer t.files.Close()
		t.cfg.User = "root"
		err = s.start(a, t)
		if err == nil {
			destroy(a, t.id, true)
			return fmt.Errorf("StartTask as root succeeded with denied_host_uids = \"0\"")
		}
		return nil
	})
	s.check("config/disabled-driver-not-healthy-and-refuses", func() error {
		cfg, err := s.pluginConfigMsgpack("agent-disabled.hcl", s.basePluginConfig()+"\n    enabled = false")
		if err != nil {
			return err
		}
		a, err := s.startAgent(cfg)
		if err != nil {
			return err
		}
		defer a.stop()
		if !a.fingerprints.waitFor(5*time.Second, func(m []*drivers.FingerprintResponse) bool { return len(m) > 0 }) {
			return fmt.Errorf("no fingerprint")
		}
		if h := a.fingerprints.last().GetHealth(); h == drivers.FingerprintResponse_HEALTHY {
			return fmt.Errorf("a disabled driver fingerprints HEALTHY: Nomad would place tasks on it")
		}
		t, err := s.prepareTask("disabled", "exit 0\n", "")
		if err != nil {
			return err
		}
		defer t.files.Close()
		if err := s.start(a, t); err == nil {
			destroy(a, t.id, true)
			return fmt.Errorf("StartTask on a disabled driver succeeded")
		}
		return nil
	})
}
