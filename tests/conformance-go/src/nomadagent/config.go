package nomadagent

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctymsgpack "github.com/zclconf/go-cty/cty/msgpack"
)

// File is a parsed native-syntax HCL file with its source (templates are re-read from it).
type File struct {
	Body *hclsyntax.Body
	Src  []byte
}

// ParseFile parses one native-syntax HCL file.
func ParseFile(path string) (*File, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	body, err := ParseSource(src, path)
	if err != nil {
		return nil, err
	}
	return &File{Body: body, Src: src}, nil
}

// DecodeNomad decodes a config block twice, directly and through Nomad's map → JSON → HCL
// JSON path, and requires both to give the same value. A nil body is an absent block.
func DecodeNomad(f *File, body *hclsyntax.Body, spec hcldec.Spec, ctx *hcl.EvalContext) (cty.Value, error) {
	var direct cty.Value
	var err error
	if body == nil {
		direct, err = Decode(nil, spec, ctx)
		body = &hclsyntax.Body{}
	} else {
		direct, err = Decode(body, spec, ctx)
	}
	if err != nil {
		return cty.NilVal, err
	}
	viaJSON, text, err := DecodeViaJSON(body, f.Src, spec, ctx)
	if err != nil {
		return cty.NilVal, fmt.Errorf("through JSON %s: %v", text, err)
	}
	if !direct.RawEquals(viaJSON) {
		return cty.NilVal, fmt.Errorf("the JSON path Nomad uses decodes %s to %#v, the HCL body to %#v", text, viaJSON, direct)
	}
	return direct, nil
}

// ParseSource parses native-syntax HCL text; name is used in diagnostics.
func ParseSource(src []byte, name string) (*hclsyntax.Body, error) {
	file, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, fmt.Errorf("%s", diags.Error())
	}
	return file.Body.(*hclsyntax.Body), nil
}

// PluginConfigBlock is the `config` body of one `plugin "<name>"` block of an agent file.
type PluginConfigBlock struct {
	Range  hcl.Range
	Config *hclsyntax.Body // nil when the plugin block has no config block
}

// FindPluginBlocks returns every top-level `plugin "<name>"` block of an agent config.
func FindPluginBlocks(body *hclsyntax.Body, name string) ([]PluginConfigBlock, error) {
	var out []PluginConfigBlock
	for _, b := range body.Blocks {
		if b.Type != "plugin" || len(b.Labels) != 1 || b.Labels[0] != name {
			continue
		}
		pc := PluginConfigBlock{Range: b.DefRange()}
		for _, inner := range b.Body.Blocks {
			if inner.Type == "config" {
				if pc.Config != nil {
					return nil, fmt.Errorf("%s: more than one config block", inner.DefRange())
				}
				pc.Config = inner.Body
			}
		}
		out = append(out, pc)
	}
	return out, nil
}

// TaskBlock is one `job > group > task` of a job file.
type TaskBlock struct {
	Job, Group, Task string
	Driver           string
	Range            hcl.Range
	Config           *hclsyntax.Body
}

// FindTasks walks job > group > task blocks and reads each task's driver and config block.
// The driver attribute must be a constant string (Nomad requires that too).
func FindTasks(body *hclsyntax.Body) ([]TaskBlock, error) {
	var out []TaskBlock
	for _, job := range body.Blocks {
		if job.Type != "job" {
			continue
		}
		for _, group := range job.Body.Blocks {
			if group.Type != "group" {
				continue
			}
			for _, task := range group.Body.Blocks {
				if task.Type != "task" {
					continue
				}
				tb := TaskBlock{Job: label(job), Group: label(group), Task: label(task), Range: task.DefRange()}
				if attr, ok := task.Body.Attributes["driver"]; ok {
					v, diags := attr.Expr.Value(nil)
					if diags.HasErrors() || v.Type() != cty.String || v.IsNull() {
						return nil, fmt.Errorf("%s: driver must be a constant string", attr.SrcRange)
					}
					tb.Driver = v.AsString()
				}
				for _, inner := range task.Body.Blocks {
					if inner.Type == "config" {
						tb.Config = inner.Body
					}
				}
				out = append(out, tb)
			}
		}
	}
	return out, nil
}

func label(b *hclsyntax.Block) string {
	if len(b.Labels) > 0 {
		return b.Labels[0]
	}
	return ""
}

// Decode decodes body against spec; a nil body is an empty config (defaults apply).
func Decode(body hcl.Body, spec hcldec.Spec, ctx *hcl.EvalContext) (cty.Value, error) {
	if body == nil {
		body = hcl.EmptyBody()
	}
	if spec == nil {
		return cty.NilVal, fmt.Errorf("the plugin accepts no config block (its schema is unset)")
	}
	v, diags := hcldec.Decode(body, spec, ctx)
	if diags.HasErrors() {
		return cty.NilVal, fmt.Errorf("%s", diags.Error())
	}
	return v, nil
}

// Encode is Nomad's encoding of a decoded config: cty msgpack with the value's own type.
func Encode(v cty.Value) ([]byte, error) {
	return ctymsgpack.Marshal(v, v.Type())
}

// TaskEvalContext is the interpolation context Nomad's client uses for a task `config`: every
// task environment variable as a top-level variable (NOMAD_TASK_DIR, ...), plus the node
// attributes, meta and environment as objects. Names under attr/meta/node/env/var that the
// suite does not know are left unknown, so references to them still validate.
func TaskEvalContext(env map[string]string) *hcl.EvalContext {
	vars := map[string]cty.Value{}
	envObj := map[string]cty.Value{}
	for k, v := range env {
		vars[k] = cty.StringVal(v)
		envObj[k] = cty.StringVal(v)
	}
	vars["env"] = cty.MapVal(envObj)
	for _, dyn := range []string{"attr", "meta", "node", "var", "NOMAD_META"} {
		vars[dyn] = cty.DynamicVal
	}
	return &hcl.EvalContext{Variables: vars}
}

// FillUnknownNomadVars adds a placeholder string for every NOMAD_* root variable the body
// references but env does not define (ports, addresses, ...), as a real client would have one.
func FillUnknownNomadVars(body hcl.Body, spec hcldec.Spec, env map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
	}
	if spec == nil || body == nil {
		return out
	}
	for _, tr := range hcldec.Variables(body, spec) {
		root := tr.RootName()
		if strings.HasPrefix(root, "NOMAD_") {
			if _, ok := out[root]; !ok {
				out[root] = "placeholder-" + strings.ToLower(root)
			}
		}
	}
	return out
}

// SortedKeys is a small helper for stable messages.
func SortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
