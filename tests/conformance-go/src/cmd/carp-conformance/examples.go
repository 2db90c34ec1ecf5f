package main

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"carpexec/conformance/nomadagent"
)

// runExamples checks every `plugin "carp_exec"` config block and every task with
// driver = "carp_exec" in examples/**/*.hcl against the driver's own schemas, so an example
// that drifts from the schema fails.
func (s *suite) runExamples() {
	var files []string
	root := s.examplesDir
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".hcl") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		s.check("examples/discover", func() error { return fmt.Errorf("%s: %v", root, err) })
		return
	}
	sort.Strings(files)
	plugins, tasks := 0, 0
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		name := "examples/" + rel
		file, err := nomadagent.ParseFile(f)
		if err != nil {
			s.check(name+"/parses", func() error { return err })
			continue
		}
		blocks, err := nomadagent.FindPluginBlocks(file.Body, "carp_exec")
		if err != nil {
			s.check(name+"/plugin-block", func() error { return err })
		}
		for i, b := range blocks {
			plugins++
			b := b
			s.check(fmt.Sprintf("%s/plugin-config#%d", name, i+1), func() error {
				return s.checkExamplePluginConfig(file, b)
			})
		}
		found, err := nomadagent.FindTasks(file.Body)
		if err != nil {
			s.check(name+"/tasks", func() error { return err })
		}
		for _, t := range found {
			if t.Driver != "carp_exec" {
				continue
			}
			tasks++
			t := t
			s.check(fmt.Sprintf("%s/task-config/%s/%s/%s", name, t.Job, t.Group, t.Task), func() error {
				return s.checkExampleTaskConfig(file, t)
			})
		}
	}
	s.check("examples/cover-plugin-block-and-carp_exec-task", func() error {
		if plugins == 0 || tasks == 0 {
			return fmt.Errorf("%d .hcl files under %s hold %d plugin \"carp_exec\" blocks and %d carp_exec tasks; the examples must show both",
				len(files), root, plugins, tasks)
		}
		return nil
	})
}

func (s *suite) checkExamplePluginConfig(file *nomadagent.File, b nomadagent.PluginConfigBlock) error {
	if s.pluginSpec == nil {
		return fmt.Errorf("no plugin schema")
	}
	v, err := nomadagent.DecodeNomad(file, b.Config, s.pluginSpec, nil)
	if err != nil {
		return err
	}
	cfg, err := nomadagent.Encode(v)
	if err != nil {
		return err
	}
	// Nomad's start-up validation (launch 2): the agent refuses to start if this fails.
	inst, err := s.launch()
	if err != nil {
		return err
	}
	defer inst.Kill()
	if err := setConfig(inst, cfg, false); err != nil {
		return fmt.Errorf("SetConfig (agent start-up validation): %v", err)
	}
	return nil
}

func (s *suite) checkExampleTaskConfig(file *nomadagent.File, t nomadagent.TaskBlock) error {
	if s.taskSpec == nil {
		return fmt.Errorf("no task schema")
	}
	if t.Config == nil {
		return fmt.Errorf("%s: carp_exec task without a config block (command is required)", t.Range)
	}
	env := map[string]string{
		"NOMAD_TASK_DIR": "/nomad/alloc/x/" + t.Task + "/local", "NOMAD_ALLOC_DIR": "/nomad/alloc/x/alloc",
		"NOMAD_SECRETS_DIR": "/nomad/alloc/x/" + t.Task + "/secrets", "NOMAD_TASK_NAME": t.Task,
		"NOMAD_GROUP_NAME": t.Group, "NOMAD_JOB_NAME": t.Job, "NOMAD_ALLOC_ID": "x",
	}
	env = nomadagent.FillUnknownNomadVars(t.Config, s.taskSpec, env)
	_, err := nomadagent.DecodeNomad(file, t.Config, s.taskSpec, nomadagent.TaskEvalContext(env))
	return err
}
