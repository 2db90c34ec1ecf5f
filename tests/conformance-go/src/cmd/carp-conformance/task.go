package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"carpexec/conformance/nomadagent"
	"carpexec/gen/drivers"

	"google.golang.org/protobuf/types/known/durationpb"
)

// startedTask is a task the suite prepared (and maybe started).
type startedTask struct {
	id     string
	files  *nomadagent.TaskFiles
	cfg    *drivers.TaskConfig
	handle *drivers.TaskHandle
	owner  *agent
}

// scriptPreamble records the task's main pid where the suite can read it.
const scriptPreamble = "echo $$ > \"$NOMAD_TASK_DIR/pid\"\n"

// prepareTask lays out an allocation and task directory with logmon-like FIFOs, writes the
// shell script to <task>/local/run.sh, writes a job file whose task `config` block runs it
// (plus extraConfig lines), parses that file with hcl/v2, decodes the block against the
// driver's task schema with Nomad's interpolation variables and encodes it like Nomad.
func (s *suite) prepareTask(name, script, extraConfig string) (*startedTask, error) {
	if s.taskSpec == nil {
		return nil, fmt.Errorf("no task schema (TaskConfigSchema failed earlier)")
	}
	alloc, err := nomadagent.NewAlloc(filepath.Join(s.root, "allocs"))
	if err != nil {
		return nil, err
	}
	files, err := alloc.NewTask(name)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(files.Dir, "local", "run.sh"), []byte(scriptPreamble+script), 0o755); err != nil {
		return nil, err
	}
	job := fmt.Sprintf(`job "conformance" {
  group "g" {
    task %q {
      driver = "carp_exec"
      config {
        command = "/bin/sh"
        args    = ["${NOMAD_TASK_DIR}/run.sh", %q]
%s
      }
    }
  }
}
`, name, s.runID, extraConfig)
	jobPath := filepath.Join(alloc.Dir, "job.nomad.hcl")
	if err := os.WriteFile(jobPath, []byte(job), 0o644); err != nil {
		return nil, err
	}
	cfgBytes, err := s.decodeTaskConfig(jobPath, files)
	if err != nil {
		return nil, err
	}
	env := files.Env()
	env["FOO"] = "bar-conformance"
	env["CARP_CONFORMANCE_RUN"] = s.runID
	id := fmt.Sprintf("%s/%s/%s", alloc.ID, name, nomadagent.NewHex8())
	return &startedTask{id: id, files: files, cfg: files.TaskConfig(id, cfgBytes, env)}, nil
}

// decodeTaskConfig reads the single task of a job file and returns its encoded config.
func (s *suite) decodeTaskConfig(jobPath string, files *nomadagent.TaskFiles) ([]byte, error) {
	file, err := nomadagent.ParseFile(jobPath)
	if err != nil {
		return nil, err
	}
	tasks, err := nomadagent.FindTasks(file.Body)
	if err != nil {
		return nil, err
	}
	if len(tasks) != 1 || tasks[0].Config == nil {
		return nil, fmt.Errorf("%s: expected one task with a config block", jobPath)
	}
	v, err := nomadagent.DecodeNomad(file, tasks[0].Config, s.taskSpec, nomadagent.TaskEvalContext(files.Env()))
	if err != nil {
		return nil, err
	}
	return nomadagent.Encode(v)
}

// startScript prepares and starts a task running `script` (no extra config). The returned
// clean-up force-destroys the task, then closes its log FIFOs; it is nil on error (everything
// is already released then).
func (s *suite) startScript(a *agent, name, script string) (*startedTask, func(), error) {
	t, err := s.prepareTask(name, script, "")
	if err != nil {
		return nil, nil, err
	}
	if err := s.start(a, t); err != nil {
		t.files.Close()
		return nil, nil, err
	}
	return t, func() {
		destroy(a, t.id, true)
		t.files.Close()
	}, nil
}

// start calls StartTask and records the task for clean-up.
func (s *suite) start(a *agent, t *startedTask) error {
	ctx, cancel := rpcCtx()
	defer cancel()
	resp, err := a.drv().StartTask(ctx, &drivers.StartTaskRequest{Task: t.cfg})
	if err != nil {
		return fmt.Errorf("StartTask: %v", err)
	}
	t.handle = resp.GetHandle()
	t.owner = a
	s.mu.Lock()
	s.tasks = append(s.tasks, *t)
	s.mu.Unlock()
	if t.handle == nil {
		return fmt.Errorf("StartTask: no handle in the response")
	}
	return nil
}

// wait is WaitTask with a bound; an `err` in the response is returned as an error.
func wait(a *agent, id string, timeout time.Duration) (*drivers.ExitResult, error) {
	ctx, cancel := contextWithTimeout(timeout)
	defer cancel()
	resp, err := a.drv().WaitTask(ctx, &drivers.WaitTaskRequest{TaskId: id})
	if err != nil {
		return nil, err
	}
	if resp.GetErr() != "" {
		return resp.GetResult(), fmt.Errorf("WaitTask err: %s", resp.GetErr())
	}
	if resp.GetResult() == nil {
		return nil, fmt.Errorf("WaitTask: no result")
	}
	return resp.GetResult(), nil
}

func stop(a *agent, id string, timeout time.Duration, signal string) error {
	ctx, cancel := rpcCtx()
	defer cancel()
	_, err := a.drv().StopTask(ctx, &drivers.StopTaskRequest{TaskId: id, Timeout: durationpb.New(timeout), Signal: signal})
	return err
}

func destroy(a *agent, id string, force bool) error {
	ctx, cancel := rpcCtx()
	defer cancel()
	_, err := a.drv().DestroyTask(ctx, &drivers.DestroyTaskRequest{TaskId: id, Force: force})
	return err
}

func inspect(a *agent, id string) (*drivers.InspectTaskResponse, error) {
	ctx, cancel := rpcCtx()
	defer cancel()
	return a.drv().InspectTask(ctx, &drivers.InspectTaskRequest{TaskId: id})
}

// taskPid reads the pid the task's script recorded, waiting for it to appear.
func (t *startedTask) taskPid(timeout time.Duration) (int, error) {
	return t.readPidFile("pid", timeout)
}

// alive is true for a process that exists and is not a zombie.
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

func waitGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for alive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// readPidFile reads a pid written by a task script into its local dir.
func (t *startedTask) readPidFile(name string, timeout time.Duration) (int, error) {
	p := filepath.Join(t.files.Dir, "local", name)
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(p)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			return strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the task never wrote %s", p)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
