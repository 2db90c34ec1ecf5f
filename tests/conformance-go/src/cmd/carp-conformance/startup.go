package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"carpexec/conformance/nomadagent"
	"carpexec/gen/base"
	"carpexec/gen/drivers"

	version "github.com/hashicorp/go-version"
	"github.com/hashicorp/hcl/v2/hcldec"
)

// runHandshake: what a plugin does when started by hand, without Nomad's cookie.
func (s *suite) runHandshake() {
	s.check("handshake/no-cookie-exits-1-silently", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, s.pluginPath)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		env := []string{}
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, nomadagent.MagicCookieKey+"=") {
				env = append(env, e)
			}
		}
		cmd.Env = env
		err := cmd.Run()
		code := cmd.ProcessState.ExitCode()
		if code != 1 {
			return fmt.Errorf("exit code %d (err %v), want 1", code, err)
		}
		if stdout.Len() != 0 {
			return fmt.Errorf("wrote %q on stdout, want nothing", stdout.String())
		}
		if stderr.Len() == 0 {
			return fmt.Errorf("no message on stderr")
		}
		return nil
	})
}

// runStartup performs Nomad's three start-up launches and returns the long-lived agent.
func (s *suite) runStartup() *agent {
	// Launch 1: PluginInfo and ConfigSchema, then kill.
	var inst1 *nomadagent.Instance
	if !s.check("startup/launch1/go-plugin-handshake", func() error {
		var err error
		inst1, err = s.launch()
		if err != nil {
			return err
		}
		if v := inst1.Client.NegotiatedVersion(); v != 2 {
			return fmt.Errorf("negotiated app protocol %d, want 2", v)
		}
		if p := inst1.Client.Protocol(); p != "grpc" {
			return fmt.Errorf("protocol %q, want grpc", p)
		}
		return nil
	}) {
		for _, n := range []string{"startup/launch1/health", "startup/launch1/plugin-info",
			"startup/launch1/schemas-convert", "startup/launch1/kill-graceful", "startup/launch2", "startup/launch3"} {
			s.blocked(n, "the plugin could not be launched")
		}
		return nil
	}
	s.check("startup/launch1/health", func() error { return inst1.Ping() })
	s.check("startup/launch1/plugin-info", func() error {
		ctx, cancel := rpcCtx()
		defer cancel()
		info, err := inst1.Clients.Base.PluginInfo(ctx, &base.PluginInfoRequest{})
		if err != nil {
			return err
		}
		if info.GetType() != base.PluginType_DRIVER {
			return fmt.Errorf("type %v, want DRIVER", info.GetType())
		}
		if info.GetName() != "carp_exec" {
			return fmt.Errorf("name %q, want carp_exec", info.GetName())
		}
		found := false
		want := version.Must(version.NewVersion(nomadagent.APIVersion))
		for _, v := range info.GetPluginApiVersions() {
			if pv, err := version.NewVersion(v); err == nil && pv.Equal(want) {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("plugin_api_versions %v lack %s", info.GetPluginApiVersions(), nomadagent.APIVersion)
		}
		if _, err := version.NewVersion(info.GetPluginVersion()); err != nil {
			return fmt.Errorf("plugin_version %q is not semver: %v", info.GetPluginVersion(), err)
		}
		return nil
	})
	s.check("startup/launch1/schemas-convert", func() error {
		var err error
		s.pluginSpec, s.taskSpec, err = fetchSchemas(inst1)
		return err
	})
	s.check("startup/launch1/kill-graceful", func() error { return checkGracefulKill(inst1) })

	// The agent's plugin block, from a real HCL file, decoded against the plugin's schema.
	var cfg []byte
	s.check("startup/agent-config-decodes", func() error {
		if s.pluginSpec == nil {
			return fmt.Errorf("no plugin schema")
		}
		var err error
		cfg, err = s.pluginConfigMsgpack("agent.hcl", s.basePluginConfig())
		return err
	})

	// Launch 2: SetConfig without nomad_config, twice, then kill.
	s.check("startup/launch2/setconfig-twice-without-nomad-config", func() error {
		if cfg == nil {
			return fmt.Errorf("no agent config")
		}
		inst, err := s.launch()
		if err != nil {
			return err
		}
		defer inst.Kill()
		for i := 1; i <= 2; i++ {
			if err := setConfig(inst, cfg, false); err != nil {
				return fmt.Errorf("SetConfig #%d: %v", i, err)
			}
		}
		return nil
	})
	s.check("startup/launch2/empty-config-accepted", func() error {
		if s.pluginSpec == nil {
			return fmt.Errorf("no plugin schema")
		}
		v, err := nomadagent.Decode(nil, s.pluginSpec, nil)
		if err != nil {
			return fmt.Errorf("decoding an absent config block: %v", err)
		}
		b, err := nomadagent.Encode(v)
		if err != nil {
			return err
		}
		inst, err := s.launch()
		if err != nil {
			return err
		}
		defer inst.Kill()
		return setConfig(inst, b, false)
	})

	// Launch 3: the instance the driver manager keeps.
	var live *agent
	if !s.check("startup/launch3/setconfig-init-streams", func() error {
		if cfg == nil {
			return fmt.Errorf("no agent config")
		}
		var err error
		live, err = s.startAgent(cfg)
		if err == nil {
			s.setCurrent(live)
		}
		return err
	}) {
		return nil
	}
	s.check("fingerprint/first-message-healthy", func() error {
		ok := live.fingerprints.waitFor(5*time.Second, func(m []*drivers.FingerprintResponse) bool { return len(m) > 0 })
		if !ok {
			return fmt.Errorf("no Fingerprint message within 5 s (stream end: %v)", live.fingerprints.ended())
		}
		fp := live.fingerprints.last()
		if fp.GetHealth() != drivers.FingerprintResponse_HEALTHY {
			return fmt.Errorf("health %v (%q), want HEALTHY", fp.GetHealth(), fp.GetHealthDescription())
		}
		if fp.GetErr() != "" {
			return fmt.Errorf("err %q", fp.GetErr())
		}
		attrs := fp.GetAttributes()
		if a := attrs["driver.carp_exec"]; a == nil || !a.GetBoolVal() {
			return fmt.Errorf("attribute driver.carp_exec = %v, want bool true", a)
		}
		if a := attrs["driver.carp_exec.version"]; a == nil || a.GetStringVal() == "" {
			return fmt.Errorf("attribute driver.carp_exec.version = %v, want a version string", a)
		}
		s.logf("first fingerprint after %s: %v", live.fingerprints.first, attrs)
		return nil
	})
	s.check("driver/capabilities", func() error {
		ctx, cancel := rpcCtx()
		defer cancel()
		resp, err := live.drv().Capabilities(ctx, &drivers.CapabilitiesRequest{})
		if err != nil {
			return err
		}
		c := resp.GetCapabilities()
		if c == nil {
			return fmt.Errorf("no capabilities in the response")
		}
		var problems []string
		if !c.GetSendSignals() {
			problems = append(problems, "send_signals false")
		}
		if !c.GetExec() {
			problems = append(problems, "exec false")
		}
		if c.GetFsIsolation() != drivers.DriverCapabilities_NONE {
			problems = append(problems, fmt.Sprintf("fs_isolation %v, want NONE", c.GetFsIsolation()))
		}
		host := false
		for _, m := range c.GetNetworkIsolationModes() {
			if m == drivers.NetworkIsolationSpec_HOST {
				host = true
			}
		}
		if !host {
			problems = append(problems, "network_isolation_modes lack HOST")
		}
		if c.GetMustCreateNetwork() {
			problems = append(problems, "must_create_network true")
		}
		if len(problems) > 0 {
			return fmt.Errorf("%s", strings.Join(problems, "; "))
		}
		return nil
	})
	s.check("driver/task-schema-has-command-args-work_dir", func() error {
		if s.taskSpec == nil {
			return fmt.Errorf("no task schema")
		}
		ty := hcldec.ImpliedType(s.taskSpec)
		for _, k := range []string{"command", "args", "work_dir"} {
			if !ty.HasAttribute(k) {
				return fmt.Errorf("task config has no %q (type %s)", k, ty.FriendlyName())
			}
		}
		return nil
	})
	return live
}

// checkGracefulKill kills an instance the way go-plugin does and checks that the plugin left on
// the controller's Shutdown (no SIGKILL needed) and removed its socket.
func checkGracefulKill(inst *nomadagent.Instance) error {
	forced, took := inst.Kill()
	if forced {
		return fmt.Errorf("go-plugin had to SIGKILL the plugin after %s (no exit after controller Shutdown)", took)
	}
	if !inst.Client.Exited() {
		return fmt.Errorf("plugin process still running after Kill")
	}
	if inst.Addr != nil && inst.Addr.Network() == "unix" {
		if _, err := os.Stat(inst.Addr.String()); err == nil {
			return fmt.Errorf("socket %s left behind", inst.Addr.String())
		}
	}
	return nil
}

// basePluginConfig is the agent config body the lifecycle scenarios use.
func (s *suite) basePluginConfig() string {
	return fmt.Sprintf("    state_dir = %q", s.root+"/state")
}
