package main

import (
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"carpexec/gen/drivers"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Sequences of RPCs as Nomad's client plays them, not single calls (issue 10). Each check
// names the upstream code whose behaviour it reproduces; tests/conformance-go/README.md lists
// them.

// taskStateDir is <state_dir>/tasks/<FNV-1a 64 of the task id, 16 hex> (driver/tasks/state_dir.h).
func taskStateDir(stateDir, taskID string) string {
	h := fnv.New64a()
	h.Write([]byte(taskID))
	return filepath.Join(stateDir, "tasks", fmt.Sprintf("%016x", h.Sum64()))
}

// fingerprintsIdentical: every message has the first one's health, description and attributes.
// Nomad re-registers the node when any of them changes (client/node_updater.go,
// applyNodeUpdatesFromDriver) and the server then evaluates every job on the node
// (nomad/node_endpoint.go, shouldCreateNodeEval).
func fingerprintsIdentical(msgs []*drivers.FingerprintResponse) error {
	if len(msgs) == 0 {
		return fmt.Errorf("no fingerprint at all")
	}
	first := msgs[0]
	for i, m := range msgs[1:] {
		if m.GetHealth() != first.GetHealth() || m.GetHealthDescription() != first.GetHealthDescription() ||
			len(m.GetAttributes()) != len(first.GetAttributes()) {
			return fmt.Errorf("message %d differs: %v %q %v (first: %v %q %v)", i+1, m.GetHealth(),
				m.GetHealthDescription(), m.GetAttributes(), first.GetHealth(), first.GetHealthDescription(), first.GetAttributes())
		}
		for k, v := range first.GetAttributes() {
			if !proto.Equal(v, m.GetAttributes()[k]) {
				return fmt.Errorf("message %d: attribute %s is %v, was %v", i+1, k, m.GetAttributes()[k], v)
			}
		}
	}
	return nil
}

// checkRollingUpdateFingerprints runs after runFailover's stop → replacement → stop sequence.
func (s *suite) checkRollingUpdateFingerprints(fa *agent) {
	s.check("nomad/fingerprints-identical-through-rolling-update", func() error {
		fa.fingerprints.mu.Lock()
		msgs := append([]*drivers.FingerprintResponse(nil), fa.fingerprints.msgs...)
		fa.fingerprints.mu.Unlock()
		if err := fingerprintsIdentical(msgs); err != nil {
			return err
		}
		for _, gone := range []string{"driver.carp_exec.failover.state", "driver.carp_exec.failover.demoted"} {
			if msgs[0].GetAttributes()[gone] != nil {
				return fmt.Errorf("live state %s is an attribute: it changes with each hand-over", gone)
			}
		}
		s.logf("%d fingerprint messages through the rolling update, all identical", len(msgs))
		return nil
	})
}

// runRestoreForceDestroy plays client/allocrunner/taskrunner/task_runner.go restoreHandle:
// after an agent restart RecoverTask fails, Nomad force-destroys the id (ignoring NotFound) and
// later starts a new task. The old task must not keep running beside the new one.
func (s *suite) runRestoreForceDestroy() {
	p := "nomad/restore-"
	stateDir := filepath.Join(s.root, "restore-state")
	cfg, err := s.pluginConfigMsgpack("agent-restore.hcl", fmt.Sprintf("    state_dir = %q", stateDir))
	if err != nil {
		s.blocked(p+"*", err.Error())
		return
	}
	first, err := s.startAgent(cfg)
	if err != nil {
		s.blocked(p+"*", err.Error())
		return
	}
	t, err := s.prepareTask("restore", "echo ready\nexec sleep 1000\n", "")
	if err == nil {
		err = s.start(first, t)
	}
	if err != nil {
		first.stop()
		s.blocked(p+"*", err.Error())
		return
	}
	defer t.files.Close()
	oldPid, _ := t.taskPid(5 * time.Second)
	// The plugin dies; the supervisor lives on but stops answering on its socket.
	first.inst.SigKill()
	first.cancel()
	sock := filepath.Join(taskStateDir(stateDir, t.id), "sock")
	var next *agent
	if !s.check(p+"relaunch-with-a-silent-supervisor", func() error {
		if err := os.Remove(sock); err != nil {
			return fmt.Errorf("making the supervisor silent: %v", err)
		}
		next, err = s.startAgent(cfg)
		return err
	}) {
		return
	}
	defer next.stop()
	s.check(p+"recover-fails-and-ends-the-old-task", func() error {
		h := proto.Clone(t.handle).(*drivers.TaskHandle)
		h.Config.MsgpackDriverConfig = nil
		ctx, cancel := rpcCtx()
		defer cancel()
		if _, err := next.drv().RecoverTask(ctx, &drivers.RecoverTaskRequest{Handle: h}); err == nil {
			return fmt.Errorf("RecoverTask succeeded although the supervisor never answered")
		}
		if !waitGone(oldPid, 10*time.Second) {
			return fmt.Errorf("task pid %d still runs after the failed RecoverTask", oldPid)
		}
		return nil
	})
	s.check(p+"force-destroy-cleans-the-state-dir", func() error {
		if err := destroy(next, t.id, true); err != nil && !strings.Contains(err.Error(), "not found") {
			return fmt.Errorf("DestroyTask(force): %v", err)
		}
		if _, err := os.Stat(taskStateDir(stateDir, t.id)); !os.IsNotExist(err) {
			return fmt.Errorf("task state dir still there after DestroyTask(force): %v", err)
		}
		return nil
	})
	s.check(p+"new-task-runs-alone", func() error {
		t2, err := s.prepareTask("restore2", "echo ready\nexec sleep 1000\n", "")
		if err != nil {
			return err
		}
		defer t2.files.Close()
		if err := s.start(next, t2); err != nil {
			return err
		}
		defer destroy(next, t2.id, true)
		if alive(oldPid) {
			return fmt.Errorf("old task pid %d runs beside the new one", oldPid)
		}
		_, err = t2.taskPid(5 * time.Second)
		return err
	})
}

// runFailoverHeals: a failover setup that fails at start (here the ledger directory cannot be
// created: a ledger I/O error) keeps the driver HEALTHY (scheduler/feasible/feasible.go places
// nothing on an unhealthy driver, so jobs without failover would be blocked), marks
// driver.carp_exec.failover = "unusable", and heals without a restart once the cause is gone,
// while a task without failover keeps running.
func (s *suite) runFailoverHeals() {
	p := "nomad/failover-heals-"
	if s.pluginSpec == nil || s.taskSpec == nil {
		s.blocked(p+"*", "no schemas")
		return
	}
	carp, err := s.newFakeCarp("carp-heal")
	if err != nil {
		s.blocked(p+"*", err.Error())
		return
	}
	stateDir := filepath.Join(s.root, "heal-state")
	// A directory where the ledger file belongs: a ledger I/O error. (A file in place of
	// <state_dir>/failover itself is refused at SetConfig by the state_dir check.)
	blocker := filepath.Join(stateDir, "failover", "ledger")
	errDir := os.MkdirAll(blocker, 0o700)
	cfg, err2 := s.pluginConfigMsgpack("agent-heal.hcl", carp.config(stateDir, "2s"))
	if errDir != nil || err2 != nil {
		s.blocked(p+"*", fmt.Sprint(errDir, err2))
		return
	}
	a, err := s.startAgent(cfg)
	if err != nil {
		s.blocked(p+"*", err.Error())
		return
	}
	defer a.stop()
	attr := func(m *drivers.FingerprintResponse) string {
		return m.GetAttributes()["driver.carp_exec.failover"].GetStringVal()
	}
	s.check(p+"unusable-but-healthy", func() error {
		a.fingerprints.waitFor(10*time.Second, func(ms []*drivers.FingerprintResponse) bool { return len(ms) > 0 })
		last := a.fingerprints.last()
		if last.GetHealth() != drivers.FingerprintResponse_HEALTHY || attr(last) != "unusable" ||
			!strings.Contains(last.GetHealthDescription(), "failover unusable") {
			return fmt.Errorf("fingerprint %v %q failover=%q; want HEALTHY, the reason, unusable",
				last.GetHealth(), last.GetHealthDescription(), attr(last))
		}
		return nil
	})
	plain, err := s.prepareTask("plain", "echo ready\nexec sleep 1000\n", "")
	if err == nil {
		err = s.start(a, plain)
	}
	if err != nil {
		s.blocked(p+"*", err.Error())
		return
	}
	defer func() { destroy(a, plain.id, true); plain.files.Close() }()
	plainPid, _ := plain.taskPid(5 * time.Second)
	s.check(p+"guarded-task-start-says-unusable", func() error {
		g, err := s.prepareTask("guarded", "echo ready\nexec sleep 1000\n", "        failover = true")
		if err != nil {
			return err
		}
		if err := s.start(a, g); err != nil {
			g.files.Close()
			return err
		}
		defer func() { destroy(a, g.id, true); g.files.Close() }()
		ok := a.events.waitFor(5*time.Second, func() bool {
			for _, ev := range a.events.forTask(g.files.Alloc.ID, g.files.Name) {
				if strings.Contains(ev.GetMessage(), "failover is unusable") {
					return true
				}
			}
			return false
		})
		if !ok {
			return fmt.Errorf("no task event says failover is unusable: %s", describeEvents(a.events.forTask(g.files.Alloc.ID, g.files.Name)))
		}
		return nil
	})
	s.check(p+"usable-again-without-restart", func() error {
		if err := os.Remove(blocker); err != nil {
			return err
		}
		// Retries at 1, 3, 7, 15, 31 s after start (setup_retry.h); the fingerprint is
		// re-checked every second.
		ok := a.fingerprints.waitFor(45*time.Second, func(ms []*drivers.FingerprintResponse) bool {
			return len(ms) > 0 && attr(ms[len(ms)-1]) == "usable" && ms[len(ms)-1].GetHealthDescription() == "Healthy"
		})
		if !ok {
			last := a.fingerprints.last()
			return fmt.Errorf("still %q %q 45 s after the cause was removed", attr(last), last.GetHealthDescription())
		}
		return nil
	})
	s.check(p+"driver-never-unhealthy-and-plain-task-kept-running", func() error {
		a.fingerprints.mu.Lock()
		defer a.fingerprints.mu.Unlock()
		for i, m := range a.fingerprints.msgs {
			if m.GetHealth() != drivers.FingerprintResponse_HEALTHY {
				return fmt.Errorf("fingerprint %d was %v (%q)", i, m.GetHealth(), m.GetHealthDescription())
			}
		}
		if !alive(plainPid) {
			return fmt.Errorf("the task without failover (pid %d) died", plainPid)
		}
		return nil
	})
}

// runGroupNetwork: for a bridge-mode group Nomad passes the alloc's namespace as
// network_isolation_spec {mode GROUP, path} (client/allocrunner/network_manager_linux.go);
// raw_exec runs the task and exec sessions in it (drivers/shared/executor/
// executor_universal_linux.go, withNetworkIsolation). The namespace is made here with
// `ip netns add` under a unique name and deleted afterwards.
func (s *suite) runGroupNetwork(live *agent) {
	name := "cxgo" + s.runID
	if len(name) > 15 {
		name = name[:15]
	}
	if os.Geteuid() != 0 {
		s.blocked("nomad/group-network-namespace", "ip netns add needs root")
		return
	}
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		s.blocked("nomad/group-network-namespace", fmt.Sprintf("ip netns add: %v %s", err, out))
		return
	}
	defer exec.Command("ip", "netns", "delete", name).Run()
	path := "/var/run/netns/" + name
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		s.blocked("nomad/group-network-namespace", err.Error())
		return
	}
	link := fmt.Sprintf("net:[%d]", st.Ino)
	s.check("nomad/group-network-namespace", func() error {
		t, err := s.prepareTask("netns", "echo ns=$(readlink /proc/self/ns/net)\nexec sleep 1000\n", "")
		if err != nil {
			return err
		}
		defer t.files.Close()
		t.cfg.NetworkIsolationSpec = &drivers.NetworkIsolationSpec{Mode: drivers.NetworkIsolationSpec_GROUP, Path: path}
		if err := s.start(live, t); err != nil {
			return err
		}
		defer destroy(live, t.id, true)
		if !t.files.Stdout.WaitFor("ns="+link, 5*time.Second) {
			return fmt.Errorf("task stdout %q: not in %s (%s)", t.files.Stdout.String(), path, link)
		}
		ctx, cancel := rpcCtx()
		defer cancel()
		r, err := live.drv().ExecTask(ctx, &drivers.ExecTaskRequest{TaskId: t.id, Command: []string{"/bin/readlink", "/proc/self/ns/net"}, Timeout: durationpb.New(5 * time.Second)})
		if err != nil {
			return err
		}
		if !strings.Contains(string(r.GetStdout()), link) {
			return fmt.Errorf("exec ran in %q, not in the group's %s", r.GetStdout(), link)
		}
		return nil
	})
}
