// Package nomadagent launches and drives a task-driver plugin the way a Nomad agent does,
// using HashiCorp's go-plugin client and stubs generated from carp_exec's own proto files.
package nomadagent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"carpexec/gen/base"
	"carpexec/gen/drivers"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// Nomad's handshake for every plugin it launches (plugins/base.Handshake).
const (
	MagicCookieKey   = "NOMAD_PLUGIN_MAGIC_COOKIE"
	MagicCookieValue = "e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255"
	APIVersion       = "v0.1.0"
)

var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  2,
	MagicCookieKey:   MagicCookieKey,
	MagicCookieValue: MagicCookieValue,
}

// Clients are the two services Nomad dispenses from one driver plugin connection.
type Clients struct {
	Base   base.BasePluginClient
	Driver drivers.DriverClient
	Conn   *grpc.ClientConn
}

// driverPlugin is the client half of the plugin type: it only builds clients.
type driverPlugin struct {
	plugin.NetRPCUnsupportedPlugin
}

func (driverPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("the conformance suite is a client only")
}

func (driverPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (interface{}, error) {
	return &Clients{Base: base.NewBasePluginClient(conn), Driver: drivers.NewDriverClient(conn), Conn: conn}, nil
}

// Instance is one launched plugin process.
type Instance struct {
	Client  *plugin.Client
	RPC     plugin.ClientProtocol
	Clients *Clients
	Pid     int
	Addr    net.Addr
	Stderr  *LineBuffer // raw stderr lines of the plugin
	HostLog *LineBuffer // what go-plugin's own client logged
}

// Launch starts the plugin at path as Nomad's plugin loader does (cookie, app protocol 2,
// gRPC only, no AutoMTLS, default ports and timeouts) and dispenses the driver clients.
// extraEnv is added to the agent environment the plugin inherits.
func Launch(path string, extraEnv []string) (*Instance, error) {
	inst := &Instance{Stderr: NewLineBuffer(), HostLog: NewLineBuffer()}
	cmd := exec.Command(path)
	cmd.Env = append([]string{}, extraEnv...)
	logger := hclog.New(&hclog.LoggerOptions{
		Name:   "agent",
		Level:  hclog.Trace,
		Output: inst.HostLog,
	})
	inst.Client = plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  handshake,
		Plugins:          map[string]plugin.Plugin{"driver": driverPlugin{}},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           logger,
		Stderr:           inst.Stderr,
	})
	rpc, err := inst.Client.Client()
	if err != nil {
		inst.Client.Kill()
		return nil, fmt.Errorf("go-plugin client: %v (plugin stderr: %s)", err, inst.Stderr.Tail(5))
	}
	inst.RPC = rpc
	if rc := inst.Client.ReattachConfig(); rc != nil {
		inst.Pid = rc.Pid
		inst.Addr = rc.Addr
	}
	raw, err := rpc.Dispense("driver")
	if err != nil {
		inst.Client.Kill()
		return nil, fmt.Errorf("dispense: %v", err)
	}
	inst.Clients = raw.(*Clients)
	return inst, nil
}

// Kill is go-plugin's graceful kill (controller Shutdown, 2 s grace, then SIGKILL). It reports
// whether go-plugin had to fall back to SIGKILL and how long the kill took.
func (i *Instance) Kill() (forced bool, took time.Duration) {
	start := time.Now()
	i.Client.Kill()
	took = time.Since(start)
	forced = strings.Contains(i.HostLog.String(), "plugin failed to exit gracefully")
	return forced, took
}

// SigKill kills the plugin process outright, as a crash would, then lets go-plugin notice.
func (i *Instance) SigKill() {
	if i.Pid > 0 {
		_ = syscall.Kill(i.Pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !i.Client.Exited() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	i.Client.Kill()
}

// Ping is go-plugin's health check of service "plugin".
func (i *Instance) Ping() error {
	return i.RPC.Ping()
}

// Reattach connects to a running plugin from its reattach record (pid, network, address,
// protocol), as a Nomad agent restarted after a crash does with the record from its state DB.
func Reattach(from *Instance) (*Instance, error) {
	inst := &Instance{Stderr: from.Stderr, HostLog: NewLineBuffer(), Pid: from.Pid, Addr: from.Addr}
	logger := hclog.New(&hclog.LoggerOptions{Name: "agent", Level: hclog.Trace, Output: inst.HostLog})
	inst.Client = plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  handshake,
		Plugins:          map[string]plugin.Plugin{"driver": driverPlugin{}},
		Reattach:         &plugin.ReattachConfig{Protocol: plugin.ProtocolGRPC, Addr: from.Addr, Pid: from.Pid},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           logger,
	})
	rpc, err := inst.Client.Client()
	if err != nil {
		return nil, fmt.Errorf("reattach: %v", err)
	}
	inst.RPC = rpc
	raw, err := rpc.Dispense("driver")
	if err != nil {
		return nil, fmt.Errorf("dispense: %v", err)
	}
	inst.Clients = raw.(*Clients)
	return inst, nil
}
