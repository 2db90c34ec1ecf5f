package nomadagent

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"carpexec/gen/drivers"
)

// Alloc is an allocation directory laid out as the Nomad client lays it out on the host.
type Alloc struct {
	ID  string
	Dir string // <root>/<id>
}

// NewUUID returns a random RFC 4122 version-4 id, the shape Nomad uses for alloc ids.
func NewUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// NewHex8 returns 8 random hex digits (the last part of a Nomad task id).
func NewHex8() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return fmt.Sprintf("%x", b)
}

// NewAlloc creates <root>/<id>/alloc/{logs,tmp,data}.
func NewAlloc(root string) (*Alloc, error) {
	a := &Alloc{ID: NewUUID()}
	a.Dir = filepath.Join(root, a.ID)
	for _, d := range []string{"alloc/logs", "alloc/tmp", "alloc/data"} {
		if err := os.MkdirAll(filepath.Join(a.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// TaskFiles is one task of an allocation: its directory, and the logmon-like FIFO readers
// that collect its stdout and stderr.
type TaskFiles struct {
	Alloc      *Alloc
	Name       string
	Dir        string // <alloc>/<task>
	StdoutPath string
	StderrPath string
	Stdout     *LineBuffer
	Stderr     *LineBuffer
	readers    []*fifoReader
}

// NewTask makes the task directory and the two FIFOs, and starts reading them the way logmon
// does: the read end exists before StartTask, so the driver's non-blocking open succeeds.
func (a *Alloc) NewTask(name string) (*TaskFiles, error) {
	t := &TaskFiles{Alloc: a, Name: name, Dir: filepath.Join(a.Dir, name),
		Stdout: NewLineBuffer(), Stderr: NewLineBuffer()}
	for _, d := range []string{"local", "secrets", "private", "tmp"} {
		if err := os.MkdirAll(filepath.Join(t.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	t.StdoutPath = filepath.Join(a.Dir, "alloc", "logs", "."+name+".stdout.fifo")
	t.StderrPath = filepath.Join(a.Dir, "alloc", "logs", "."+name+".stderr.fifo")
	for _, p := range []struct {
		path string
		out  *LineBuffer
	}{{t.StdoutPath, t.Stdout}, {t.StderrPath, t.Stderr}} {
		r, err := startFifoReader(p.path, p.out)
		if err != nil {
			t.Close()
			return nil, err
		}
		t.readers = append(t.readers, r)
	}
	return t, nil
}

// Close releases the FIFO readers (also when no writer ever came).
func (t *TaskFiles) Close() {
	for _, r := range t.readers {
		r.close()
	}
	t.readers = nil
}

// Env is the environment Nomad gives a task with fs isolation NONE (host paths).
func (t *TaskFiles) Env() map[string]string {
	return map[string]string{
		"NOMAD_ALLOC_DIR":   filepath.Join(t.Alloc.Dir, "alloc"),
		"NOMAD_TASK_DIR":    filepath.Join(t.Dir, "local"),
		"NOMAD_SECRETS_DIR": filepath.Join(t.Dir, "secrets"),
		"NOMAD_ALLOC_ID":    t.Alloc.ID,
		"NOMAD_TASK_NAME":   t.Name,
		"NOMAD_GROUP_NAME":  "conformance",
		"NOMAD_JOB_NAME":    "conformance",
		"NOMAD_JOB_ID":      "conformance",
		"NOMAD_NAMESPACE":   "default",
		"NOMAD_REGION":      "global",
		"NOMAD_DC":          "dc1",
		"NOMAD_ALLOC_INDEX": "0",
		"PATH":              "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
	}
}

// TaskConfig fills the TaskConfig Nomad sends in StartTask.
func (t *TaskFiles) TaskConfig(id string, msgpackConfig []byte, env map[string]string) *drivers.TaskConfig {
	return &drivers.TaskConfig{
		Id:                  id,
		Name:                t.Name,
		MsgpackDriverConfig: msgpackConfig,
		Env:                 env,
		AllocDir:            t.Alloc.Dir,
		StdoutPath:          t.StdoutPath,
		StderrPath:          t.StderrPath,
		TaskGroupName:       "conformance",
		JobName:             "conformance",
		JobId:               "conformance",
		AllocId:             t.Alloc.ID,
		Namespace:           "default",
		NodeName:            "conformance-node",
		NodeId:              "00000000-0000-4000-8000-000000000001",
		Resources: &drivers.Resources{
			AllocatedResources: &drivers.AllocatedTaskResources{
				Cpu:    &drivers.AllocatedCpuResources{CpuShares: 100},
				Memory: &drivers.AllocatedMemoryResources{MemoryMb: 64, MemoryMaxMb: -1},
			},
			LinuxResources: &drivers.LinuxResources{CpuShares: 100, MemoryLimitBytes: 64 << 20, PercentTicks: 0.05},
		},
	}
}

// fifoReader holds a non-blocking read end open (so a writer may connect at any time), waits in
// a goroutine for the writer with a blocking open, and copies everything until EOF.
type fifoReader struct {
	path    string
	holder  *os.File
	once    sync.Once
	done    chan struct{}
	closing chan struct{}
}

func startFifoReader(path string, out io.Writer) (*fifoReader, error) {
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		return nil, fmt.Errorf("mkfifo %s: %v", path, err)
	}
	holder, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	r := &fifoReader{path: path, holder: holder, done: make(chan struct{}), closing: make(chan struct{})}
	go func() {
		defer close(r.done)
		f, err := os.OpenFile(path, os.O_RDONLY, 0) // returns once a writer opened
		if err != nil {
			return
		}
		defer f.Close()
		// The writer is here: the placeholder read end is no longer needed.
		r.once.Do(func() { r.holder.Close() })
		_, _ = io.Copy(out, f)
	}()
	return r, nil
}

func (r *fifoReader) close() {
	r.once.Do(func() { r.holder.Close() })
	select {
	case <-r.done:
		return
	default:
	}
	// Unblock a reader still waiting for a writer: become the writer for a moment. If the
	// task still writes, the copy goes on until the task exits; we do not wait for that.
	if w, err := os.OpenFile(r.path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		w.Close()
	}
}
