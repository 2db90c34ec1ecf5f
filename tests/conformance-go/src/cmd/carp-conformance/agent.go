package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"carpexec/conformance/hclspecconv"
	"carpexec/conformance/nomadagent"
	"carpexec/gen/base"
	"carpexec/gen/drivers"

	"github.com/hashicorp/hcl/v2/hcldec"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const rpcTimeout = 30 * time.Second

func rpcCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), rpcTimeout)
}

// agent is the long-lived plugin instance of a Nomad client (launch 3): configured, initialised,
// with the Fingerprint and TaskEvents streams held open.
type agent struct {
	inst          *nomadagent.Instance
	msgpackConfig []byte
	events        *eventLog
	fingerprints  *fingerprintLog
	cancel        context.CancelFunc
}

func (a *agent) drv() drivers.DriverClient   { return a.inst.Clients.Driver }
func (a *agent) base() base.BasePluginClient { return a.inst.Clients.Base }

// launch starts one plugin process and records it for the stderr check.
func (s *suite) launch() (*nomadagent.Instance, error) {
	inst, err := nomadagent.Launch(s.pluginPath, []string{"CARP_CONFORMANCE_RUN=" + s.runID})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.instances = append(s.instances, inst)
	s.mu.Unlock()
	return inst, nil
}

// setConfig is BasePlugin.SetConfig as Nomad sends it; withNomad adds the driver's
// nomad_config (launch 3), without it the call is the start-up validation (launch 2).
func setConfig(inst *nomadagent.Instance, msgpackConfig []byte, withNomad bool) error {
	req := &base.SetConfigRequest{MsgpackConfig: msgpackConfig, PluginApiVersion: nomadagent.APIVersion}
	if withNomad {
		req.NomadConfig = &base.NomadConfig{Driver: &base.NomadDriverConfig{ClientMaxPort: 14512, ClientMinPort: 14000}}
	}
	ctx, cancel := rpcCtx()
	defer cancel()
	_, err := inst.Clients.Base.SetConfig(ctx, req)
	return err
}

// startAgent performs launch 3: SetConfig with nomad_config, Init, and both streams.
func (s *suite) startAgent(msgpackConfig []byte) (*agent, error) {
	inst, err := s.launch()
	if err != nil {
		return nil, err
	}
	a := &agent{inst: inst, msgpackConfig: msgpackConfig}
	if err := setConfig(inst, msgpackConfig, true); err != nil {
		inst.Kill()
		return nil, fmt.Errorf("SetConfig with nomad_config: %v", err)
	}
	ctx, cancel := rpcCtx()
	_, err = inst.Clients.Driver.Init(ctx, &drivers.InitRequest{})
	cancel()
	if err != nil && status.Code(err) != codes.Unimplemented {
		inst.Kill()
		return nil, fmt.Errorf("Init: %v", err)
	}
	streamCtx, streamCancel := context.WithCancel(context.Background())
	a.cancel = streamCancel
	a.fingerprints, err = openFingerprints(streamCtx, inst.Clients.Driver)
	if err != nil {
		streamCancel()
		inst.Kill()
		return nil, fmt.Errorf("Fingerprint: %v", err)
	}
	a.events, err = openEvents(streamCtx, inst.Clients.Driver)
	if err != nil {
		streamCancel()
		inst.Kill()
		return nil, fmt.Errorf("TaskEvents: %v", err)
	}
	return a, nil
}

// stop kills the agent's plugin gracefully (controller Shutdown, 2 s, SIGKILL).
func (a *agent) stop() (forced bool, took time.Duration) {
	forced, took = a.inst.Kill()
	a.cancel()
	return
}

// fingerprintLog keeps every Fingerprint message and notes how the stream ended.
type fingerprintLog struct {
	mu      sync.Mutex
	msgs    []*drivers.FingerprintResponse
	first   time.Duration
	opened  time.Time
	endErr  error
	changed chan struct{}
}

func openFingerprints(ctx context.Context, d drivers.DriverClient) (*fingerprintLog, error) {
	opened := time.Now()
	stream, err := d.Fingerprint(ctx, &drivers.FingerprintRequest{})
	if err != nil {
		return nil, err
	}
	l := &fingerprintLog{opened: opened, changed: make(chan struct{})}
	go func() {
		for {
			m, err := stream.Recv()
			l.mu.Lock()
			if err != nil {
				l.endErr = err
				if err == io.EOF {
					l.endErr = fmt.Errorf("stream ended (EOF)")
				}
			} else {
				if len(l.msgs) == 0 {
					l.first = time.Since(l.opened)
				}
				l.msgs = append(l.msgs, m)
			}
			close(l.changed)
			l.changed = make(chan struct{})
			l.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return l, nil
}

// waitFor waits until pred holds for the messages so far, or the stream ended, or timeout.
func (l *fingerprintLog) waitFor(timeout time.Duration, pred func([]*drivers.FingerprintResponse) bool) bool {
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		ok := pred(l.msgs)
		ended := l.endErr != nil
		ch := l.changed
		l.mu.Unlock()
		if ok {
			return true
		}
		if ended {
			return false
		}
		select {
		case <-ch:
		case <-deadline:
			return false
		}
	}
}

func (l *fingerprintLog) last() *drivers.FingerprintResponse {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.msgs) == 0 {
		return nil
	}
	return l.msgs[len(l.msgs)-1]
}

func (l *fingerprintLog) ended() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.endErr
}

// eventLog keeps every DriverTaskEvent.
type eventLog struct {
	mu      sync.Mutex
	events  []*drivers.DriverTaskEvent
	endErr  error
	changed chan struct{}
}

func openEvents(ctx context.Context, d drivers.DriverClient) (*eventLog, error) {
	stream, err := d.TaskEvents(ctx, &drivers.TaskEventsRequest{})
	if err != nil {
		return nil, err
	}
	l := &eventLog{changed: make(chan struct{})}
	go func() {
		for {
			ev, err := stream.Recv()
			l.mu.Lock()
			if err != nil {
				l.endErr = err
				if err == io.EOF {
					l.endErr = fmt.Errorf("stream ended (EOF)")
				}
			} else {
				l.events = append(l.events, ev)
			}
			close(l.changed)
			l.changed = make(chan struct{})
			l.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return l, nil
}

func (l *eventLog) forTask(allocID, taskName string) []*drivers.DriverTaskEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*drivers.DriverTaskEvent
	for _, ev := range l.events {
		if ev.GetAllocId() == allocID && ev.GetTaskName() == taskName {
			out = append(out, ev)
		}
	}
	return out
}

func (l *eventLog) waitFor(timeout time.Duration, pred func() bool) bool {
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		ch := l.changed
		l.mu.Unlock()
		if pred() {
			return true
		}
		select {
		case <-ch:
		case <-deadline:
			return pred()
		}
	}
}

func (l *eventLog) ended() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.endErr
}

func describeEvents(evs []*drivers.DriverTaskEvent) string {
	var parts []string
	for _, ev := range evs {
		parts = append(parts, fmt.Sprintf("%q%v", ev.GetMessage(), ev.GetAnnotations()))
	}
	return strings.Join(parts, "; ")
}

// fetchSchemas reads and converts the plugin and task schemas.
func fetchSchemas(inst *nomadagent.Instance) (pluginSpec, taskSpec hcldec.Spec, err error) {
	ctx, cancel := rpcCtx()
	defer cancel()
	cs, err := inst.Clients.Base.ConfigSchema(ctx, &base.ConfigSchemaRequest{})
	if err != nil {
		return nil, nil, fmt.Errorf("ConfigSchema: %v", err)
	}
	if cs.GetSpec() == nil {
		return nil, nil, fmt.Errorf("ConfigSchema: spec unset (no plugin config accepted)")
	}
	pluginSpec, err = hclspecconv.Convert(cs.GetSpec())
	if err != nil {
		return nil, nil, fmt.Errorf("plugin schema: %v", err)
	}
	ts, err := inst.Clients.Driver.TaskConfigSchema(ctx, &drivers.TaskConfigSchemaRequest{})
	if err != nil {
		return pluginSpec, nil, fmt.Errorf("TaskConfigSchema: %v", err)
	}
	if ts.GetSpec() == nil {
		return pluginSpec, nil, fmt.Errorf("TaskConfigSchema: spec unset")
	}
	taskSpec, err = hclspecconv.Convert(ts.GetSpec())
	if err != nil {
		return pluginSpec, nil, fmt.Errorf("task schema: %v", err)
	}
	return pluginSpec, taskSpec, nil
}

// writeFile writes a scratch file (scripts get the execute bit).
func (s *suite) writeFile(rel, text string, mode os.FileMode) (string, error) {
	p := filepath.Join(s.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	return p, os.WriteFile(p, []byte(text), mode)
}

// pluginConfigMsgpack writes an agent config file holding `plugin "carp_exec" { config {
// <body> } }`, parses it with hcl/v2, decodes the config against the plugin's schema and
// encodes it as Nomad does.
func (s *suite) pluginConfigMsgpack(fileName, body string) ([]byte, error) {
	text := fmt.Sprintf("plugin_dir = %q\n\nplugin \"carp_exec\" {\n  config {\n%s\n  }\n}\n",
		filepath.Dir(s.pluginPath), body)
	path, err := s.writeFile(fileName, text, 0o644)
	if err != nil {
		return nil, err
	}
	parsed, err := nomadagent.ParseFile(path)
	if err != nil {
		return nil, err
	}
	blocks, err := nomadagent.FindPluginBlocks(parsed.Body, "carp_exec")
	if err != nil {
		return nil, err
	}
	if len(blocks) != 1 {
		return nil, fmt.Errorf("%s: expected one plugin block, found %d", path, len(blocks))
	}
	v, err := nomadagent.DecodeNomad(parsed, blocks[0].Config, s.pluginSpec, nil)
	if err != nil {
		return nil, err
	}
	return nomadagent.Encode(v)
}
