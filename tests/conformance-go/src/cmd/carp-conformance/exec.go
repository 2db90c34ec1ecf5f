package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"carpexec/gen/drivers"

	"google.golang.org/protobuf/types/known/durationpb"
)

// runExec: ExecTask and ExecTaskStreaming in the context of a running task.
func (s *suite) runExec(live *agent) {
	var t *startedTask
	if !s.check("exec/host-task-running", func() error {
		var err error
		t, err = s.prepareTask("exechost", "exec sleep 1000\n", `        work_dir = "${NOMAD_ALLOC_DIR}"`)
		if err != nil {
			return err
		}
		return s.start(live, t)
	}) {
		return
	}
	defer func() { destroy(live, t.id, true); t.files.Close() }()
	execTask := func(cmd []string, timeout time.Duration) (*drivers.ExecTaskResponse, error) {
		ctx, cancel := contextWithTimeout(timeout + 10*time.Second)
		defer cancel()
		return live.drv().ExecTask(ctx, &drivers.ExecTaskRequest{TaskId: t.id, Command: cmd, Timeout: durationpb.New(timeout)})
	}
	s.check("exec/stat-tmp", func() error {
		r, err := execTask([]string{"/usr/bin/stat", "/tmp"}, 10*time.Second)
		if err != nil {
			return err
		}
		if r.GetResult().GetExitCode() != 0 || len(r.GetStdout()) < 100 {
			return fmt.Errorf("exit %d stdout %q", r.GetResult().GetExitCode(), r.GetStdout())
		}
		return nil
	})
	s.check("exec/missing-file-nonzero", func() error {
		r, err := execTask([]string{"/usr/bin/stat", "/nonexistent-carp-conformance"}, 10*time.Second)
		if err != nil {
			return err
		}
		out := string(r.GetStdout()) + string(r.GetStderr())
		if r.GetResult().GetExitCode() == 0 || !strings.Contains(out, "No such file or directory") {
			return fmt.Errorf("exit %d output %q", r.GetResult().GetExitCode(), out)
		}
		return nil
	})
	s.check("exec/task-env-and-work_dir", func() error {
		r, err := execTask([]string{"/bin/sh", "-c", "echo \"$FOO\"; pwd"}, 10*time.Second)
		if err != nil {
			return err
		}
		want := "bar-conformance\n" + filepath.Join(t.files.Alloc.Dir, "alloc") + "\n"
		if r.GetResult().GetExitCode() != 0 || string(r.GetStdout()) != want {
			return fmt.Errorf("exit %d stdout %q, want %q", r.GetResult().GetExitCode(), r.GetStdout(), want)
		}
		return nil
	})
	s.check("exec/timeout-bounded", func() error {
		start := time.Now()
		r, err := execTask([]string{"/bin/sleep", "30"}, time.Second)
		took := time.Since(start)
		if took > 8*time.Second {
			return fmt.Errorf("ExecTask with a 1 s timeout took %s", took)
		}
		if err == nil && r.GetResult().GetExitCode() == 0 && r.GetResult().GetSignal() == 0 {
			return fmt.Errorf("a command killed by its timeout reported success")
		}
		return nil
	})

	s.check("exec-streaming/stdout-stderr-exit-43", func() error {
		r, err := streamExec(live, t.id, []string{"/bin/sh", "-c", "echo out; echo err >&2; exit 43"}, false, nil, "")
		if err != nil {
			return err
		}
		if r.stdout != "out\n" || r.stderr != "err\n" || r.exit != 43 {
			return fmt.Errorf("stdout %q stderr %q exit %d, want out/err/43", r.stdout, r.stderr, r.exit)
		}
		if !r.stdoutClosed || !r.stderrClosed {
			return fmt.Errorf("close markers: stdout %v stderr %v", r.stdoutClosed, r.stderrClosed)
		}
		return nil
	})
	s.check("exec-streaming/stdin-passed-then-closed", func() error {
		r, err := streamExec(live, t.id, []string{"/bin/cat"}, false, nil, "hello from stdin\n")
		if err != nil {
			return err
		}
		if r.stdout != "hello from stdin\n" || r.exit != 0 {
			return fmt.Errorf("stdout %q exit %d", r.stdout, r.exit)
		}
		return nil
	})
	s.check("exec-streaming/no-tty-stty-fails", func() error {
		r, err := streamExec(live, t.id, []string{"/bin/sh", "-c", "stty size </dev/stdin"}, false, nil, "")
		if err != nil {
			return err
		}
		if r.exit == 0 {
			return fmt.Errorf("stty size succeeded without a tty: %q", r.stdout)
		}
		return nil
	})
	s.check("exec-streaming/tty-resize", func() error {
		sizes := []*drivers.ExecTaskStreamingRequest_TerminalSize{{Height: 50, Width: 40}, {Height: 100, Width: 100}}
		r, err := streamExec(live, t.id, []string{"/bin/sh", "-c", "read x; stty size"}, true, sizes, "go\n")
		if err != nil {
			return err
		}
		if !strings.Contains(r.stdout, "100 100\r\n") || r.exit != 0 {
			return fmt.Errorf("stdout %q exit %d, want \"100 100\\r\\n\" and 0", r.stdout, r.exit)
		}
		return nil
	})
	s.check("exec-streaming/tty-background-child-does-not-hold-stream", func() error {
		start := time.Now()
		r, err := streamExec(live, t.id, []string{"/bin/sh", "-c", "sleep 8 & echo bg-started"}, true, nil, "")
		if err != nil {
			return err
		}
		if took := time.Since(start); took > 6*time.Second {
			return fmt.Errorf("the session ended after %s: it waited for the background child", took)
		}
		if !strings.Contains(r.stdout, "bg-started") || r.exit != 0 {
			return fmt.Errorf("stdout %q exit %d", r.stdout, r.exit)
		}
		return nil
	})
	s.check("exec-streaming/signalled-exit-128-plus-n", func() error {
		r, err := streamExec(live, t.id, []string{"/bin/sh", "-c", "kill -TERM $$"}, false, nil, "")
		if err != nil {
			return err
		}
		if r.exit != 143 {
			return fmt.Errorf("exit %d, want 143", r.exit)
		}
		return nil
	})
}

type streamResult struct {
	stdout, stderr             string
	stdoutClosed, stderrClosed bool
	exit                       int32
}

// streamExec runs one ExecTaskStreaming session like `nomad alloc exec`: setup, optional tty
// sizes, optional stdin then stdin close, and reads until the exited message.
func streamExec(a *agent, id string, cmd []string, tty bool, sizes []*drivers.ExecTaskStreamingRequest_TerminalSize, stdin string) (*streamResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := a.drv().ExecTaskStreaming(ctx)
	if err != nil {
		return nil, err
	}
	send := func(r *drivers.ExecTaskStreamingRequest) error { return stream.Send(r) }
	if err := send(&drivers.ExecTaskStreamingRequest{Setup: &drivers.ExecTaskStreamingRequest_Setup{TaskId: id, Command: cmd, Tty: tty}}); err != nil {
		return nil, err
	}
	for _, sz := range sizes {
		if err := send(&drivers.ExecTaskStreamingRequest{TtySize: sz}); err != nil {
			return nil, err
		}
	}
	if stdin != "" {
		if err := send(&drivers.ExecTaskStreamingRequest{Stdin: &drivers.ExecTaskStreamingIOOperation{Data: []byte(stdin)}}); err != nil {
			return nil, err
		}
	}
	if !tty {
		if err := send(&drivers.ExecTaskStreamingRequest{Stdin: &drivers.ExecTaskStreamingIOOperation{Close: true}}); err != nil {
			return nil, err
		}
	}
	res := &streamResult{}
	var out, errb strings.Builder
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			return nil, fmt.Errorf("stream ended without an exited message (stdout %q stderr %q)", out.String(), errb.String())
		}
		if err != nil {
			return nil, fmt.Errorf("stream: %v (stdout %q stderr %q)", err, out.String(), errb.String())
		}
		if o := m.GetStdout(); o != nil {
			out.Write(o.GetData())
			if o.GetClose() {
				res.stdoutClosed = true
			}
		}
		if e := m.GetStderr(); e != nil {
			errb.Write(e.GetData())
			if e.GetClose() {
				res.stderrClosed = true
			}
		}
		if m.GetExited() {
			res.exit = m.GetResult().GetExitCode()
			break
		}
	}
	stream.CloseSend()
	res.stdout, res.stderr = out.String(), errb.String()
	return res, nil
}

// runStats: the TaskStats stream samples at the requested interval.
func (s *suite) runStats(live *agent) {
	s.check("stats/stream-samples", func() error {
		t, cleanup, err := s.startScript(live, "stats", "exec sleep 1000\n")
		if err != nil {
			return err
		}
		defer cleanup()
		if _, err := t.taskPid(5 * time.Second); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stream, err := live.drv().TaskStats(ctx, &drivers.TaskStatsRequest{TaskId: t.id, CollectionInterval: durationpb.New(200 * time.Millisecond)})
		if err != nil {
			return err
		}
		for i := 0; i < 3; i++ {
			m, err := stream.Recv()
			if err != nil {
				return fmt.Errorf("sample %d: %v", i, err)
			}
			st := m.GetStats()
			if st.GetId() != t.id {
				return fmt.Errorf("sample %d: id %q", i, st.GetId())
			}
			if st.GetTimestamp() == nil {
				return fmt.Errorf("sample %d has no timestamp: Nomad drops it", i)
			}
			agg := st.GetAggResourceUsage()
			if agg.GetMemory().GetRss() == 0 || len(agg.GetMemory().GetMeasuredFields()) == 0 {
				return fmt.Errorf("sample %d: memory %v", i, agg.GetMemory())
			}
			if len(agg.GetCpu().GetMeasuredFields()) == 0 {
				return fmt.Errorf("sample %d: cpu has no measured fields", i)
			}
		}
		return nil
	})
}

// checkStatsEndWithTask: plugins/drivers/client.go (TaskStats) logs any end of the stream
// other than io.EOF as an error; a task that exits must end its stream with OK.
func (s *suite) checkStatsEndWithTask(live *agent) {
	s.check("stats/stream-ends-ok-when-the-task-exits", func() error {
		t, cleanup, err := s.startScript(live, "statsend", "exec sleep 1000\n")
		if err != nil {
			return err
		}
		defer cleanup()
		if _, err := t.taskPid(5 * time.Second); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		stream, err := live.drv().TaskStats(ctx, &drivers.TaskStatsRequest{TaskId: t.id, CollectionInterval: durationpb.New(200 * time.Millisecond)})
		if err != nil {
			return err
		}
		if _, err := stream.Recv(); err != nil {
			return fmt.Errorf("first sample: %v", err)
		}
		if err := stop(live, t.id, time.Second, "SIGKILL"); err != nil {
			return err
		}
		for {
			if _, err := stream.Recv(); err != nil {
				if err != io.EOF {
					return fmt.Errorf("stream ended with %v, not io.EOF: Nomad logs it as an error", err)
				}
				return nil
			}
		}
	})
}

// runUnknownIDs: every per-task RPC refuses an id the driver never saw.
func (s *suite) runUnknownIDs(live *agent) {
	const id = "00000000-0000-4000-8000-000000000000/nope/00000000"
	s.check("unknown-id/wait", func() error {
		_, err := wait(live, id, 5*time.Second)
		if err == nil {
			return fmt.Errorf("WaitTask of an unknown id returned a result")
		}
		return nil
	})
	s.check("unknown-id/inspect", func() error {
		if _, err := inspect(live, id); err == nil {
			return fmt.Errorf("no error")
		}
		return nil
	})
	s.check("unknown-id/stop", func() error {
		if err := stop(live, id, time.Second, "SIGINT"); err == nil {
			return fmt.Errorf("no error")
		}
		return nil
	})
	s.check("unknown-id/destroy", func() error {
		if err := destroy(live, id, true); err == nil {
			return fmt.Errorf("no error")
		}
		return nil
	})
	s.check("unknown-id/signal", func() error {
		ctx, cancel := rpcCtx()
		defer cancel()
		if _, err := live.drv().SignalTask(ctx, &drivers.SignalTaskRequest{TaskId: id, Signal: "SIGHUP"}); err == nil {
			return fmt.Errorf("no error")
		}
		return nil
	})
	s.check("unknown-id/exec", func() error {
		ctx, cancel := rpcCtx()
		defer cancel()
		if _, err := live.drv().ExecTask(ctx, &drivers.ExecTaskRequest{TaskId: id, Command: []string{"/bin/true"}, Timeout: durationpb.New(time.Second)}); err == nil {
			return fmt.Errorf("no error")
		}
		return nil
	})
	s.check("unknown-id/exec-streaming", func() error {
		r, err := streamExec(live, id, []string{"/bin/true"}, false, nil, "")
		if err == nil {
			return fmt.Errorf("a session on an unknown task ran: %+v", r)
		}
		return nil
	})
	s.check("unknown-id/stats", func() error {
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		stream, err := live.drv().TaskStats(ctx, &drivers.TaskStatsRequest{TaskId: id, CollectionInterval: durationpb.New(time.Second)})
		if err != nil {
			return nil
		}
		if _, err := stream.Recv(); err == nil {
			return fmt.Errorf("a stats sample for an unknown task")
		}
		return nil
	})
}
