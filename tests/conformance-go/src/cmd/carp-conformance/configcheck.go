package main

import (
	"fmt"
	"strings"

	"carpexec/conformance/nomadagent"
	"carpexec/gen/drivers"
	"carpexec/gen/structs"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	"google.golang.org/grpc/status"
)

// runConfigValidation: configs the schema rejects (hcldec, agent side) and configs only the
// plugin can reject (values bypassing the schema, bad values); errors must name the field.
func (s *suite) runConfigValidation(live *agent) {
	s.check("config/plugin-unknown-key-rejected-by-schema", func() error {
		_, err := s.pluginConfigMsgpack("agent-unknown.hcl", s.basePluginConfig()+"\n    no_such_option = 1")
		if err == nil {
			return fmt.Errorf("an unknown key decoded without error: the plugin schema accepts anything")
		}
		if !strings.Contains(err.Error(), "no_such_option") {
			return fmt.Errorf("error does not name the key: %v", err)
		}
		return nil
	})
	s.check("config/plugin-wrong-type-bypassing-schema-named", func() error {
		// What a buggy or older agent could send: state_dir as a number.
		v := cty.ObjectVal(map[string]cty.Value{"state_dir": cty.NumberIntVal(5)})
		b, err := encodeAgainst(s.pluginSpec, v)
		if err != nil {
			return err
		}
		inst, err := s.launch()
		if err != nil {
			return err
		}
		defer inst.Kill()
		err = setConfig(inst, b, false)
		if err == nil {
			return fmt.Errorf("SetConfig accepted state_dir = 5")
		}
		if !strings.Contains(err.Error(), "state_dir") {
			return fmt.Errorf("error does not name state_dir: %v", err)
		}
		return nil
	})
	s.check("config/task-missing-command-rejected-by-schema", func() error {
		if s.taskSpec == nil {
			return fmt.Errorf("no task schema")
		}
		body, err := nomadagent.ParseSource([]byte("args = [\"x\"]\n"), "task.hcl")
		if err != nil {
			return err
		}
		_, err = nomadagent.Decode(body, s.taskSpec, nil)
		if err == nil {
			return fmt.Errorf("a config without command decoded: command is not required in the schema")
		}
		if !strings.Contains(err.Error(), "command") {
			return fmt.Errorf("error does not name command: %v", err)
		}
		return nil
	})
	s.check("config/task-unknown-key-rejected-by-schema", func() error {
		if s.taskSpec == nil {
			return fmt.Errorf("no task schema")
		}
		body, err := nomadagent.ParseSource([]byte("command = \"/bin/true\"\nimage = \"x\"\n"), "task.hcl")
		if err != nil {
			return err
		}
		_, err = nomadagent.Decode(body, s.taskSpec, nil)
		if err == nil || !strings.Contains(err.Error(), "image") {
			return fmt.Errorf("want an error naming image, got %v", err)
		}
		return nil
	})
	s.check("config/task-wrong-type-bypassing-schema-named", func() error {
		t, err := s.prepareTask("badtype", "exit 0\n", "")
		if err != nil {
			return err
		}
		defer t.files.Close()
		v := cty.ObjectVal(map[string]cty.Value{"command": cty.NumberIntVal(5), "args": cty.ListVal([]cty.Value{cty.StringVal("x")})})
		if t.cfg.MsgpackDriverConfig, err = s.encodeTaskValue(v); err != nil {
			return err
		}
		err = s.start(live, t)
		if err == nil {
			return fmt.Errorf("StartTask accepted command = 5")
		}
		if !strings.Contains(err.Error(), "command") {
			return fmt.Errorf("error does not name command: %v", err)
		}
		return nil
	})
	s.check("config/task-missing-executable-not-recoverable", func() error {
		t, err := s.prepareTask("nocmd", "exit 0\n", "")
		if err != nil {
			return err
		}
		defer t.files.Close()
		v := cty.ObjectVal(map[string]cty.Value{"command": cty.StringVal("/nonexistent/carp-conformance-cmd")})
		b, err := s.encodeTaskValue(v)
		if err != nil {
			return err
		}
		t.cfg.MsgpackDriverConfig = b
		err = s.start(live, t)
		if err == nil {
			return fmt.Errorf("StartTask of a missing executable succeeded")
		}
		if !strings.Contains(err.Error(), "/nonexistent/carp-conformance-cmd") {
			return fmt.Errorf("error does not name the command: %v", err)
		}
		if rec, found := recoverable(err); found && rec {
			return fmt.Errorf("marked recoverable: Nomad would retry a missing executable forever")
		}
		return nil
	})
}

func (s *suite) encodeTaskValue(partial cty.Value) ([]byte, error) {
	return encodeAgainst(s.taskSpec, partial)
}

// encodeAgainst completes a partial object with nulls for the schema's other attributes, so
// it has the shape Nomad sends (every attribute present), and encodes it. The given
// attributes keep their own types, which lets a check send a type the schema forbids.
func encodeAgainst(spec hcldec.Spec, partial cty.Value) ([]byte, error) {
	ty := impliedType(spec)
	if !ty.IsObjectType() {
		return nomadagent.Encode(partial)
	}
	attrs := map[string]cty.Value{}
	for name, aty := range ty.AttributeTypes() {
		if partial.Type().HasAttribute(name) {
			attrs[name] = partial.GetAttr(name)
		} else {
			attrs[name] = cty.NullVal(aty)
		}
	}
	for name := range partial.Type().AttributeTypes() {
		if !ty.HasAttribute(name) {
			return nil, fmt.Errorf("schema has no %q", name)
		}
	}
	v := cty.ObjectVal(attrs)
	return nomadagent.Encode(v)
}

// recoverable reads the RecoverableError detail Nomad looks for (first detail only).
func recoverable(err error) (value bool, found bool) {
	st, ok := status.FromError(err)
	if !ok {
		return false, false
	}
	details := st.Details()
	if len(details) == 0 {
		return false, false
	}
	if re, ok := details[0].(*structs.RecoverableError); ok {
		return re.GetRecoverable(), true
	}
	return false, false
}

var _ = drivers.TaskState_RUNNING
