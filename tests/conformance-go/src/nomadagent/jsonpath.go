package nomadagent

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// DecodeViaJSON decodes a config body the way Nomad actually does: the block becomes a plain
// map (the agent parses its file into one; the job parser keeps "${...}" templates as text),
// the map is JSON-encoded, parsed as an HCL JSON body and decoded with the schema and ctx.
func DecodeViaJSON(body *hclsyntax.Body, src []byte, spec hcldec.Spec, ctx *hcl.EvalContext) (cty.Value, []byte, error) {
	m, err := bodyToMap(body, src)
	if err != nil {
		return cty.NilVal, nil, err
	}
	text, err := json.Marshal(m)
	if err != nil {
		return cty.NilVal, nil, err
	}
	file, diags := hcljson.Parse(text, "config.json")
	if diags.HasErrors() {
		return cty.NilVal, text, fmt.Errorf("%s", diags.Error())
	}
	v, diags := hcldec.Decode(file.Body, spec, ctx)
	if diags.HasErrors() {
		return cty.NilVal, text, fmt.Errorf("%s", diags.Error())
	}
	return v, text, nil
}

func bodyToMap(body *hclsyntax.Body, src []byte) (map[string]interface{}, error) {
	out := map[string]interface{}{}
	for name, attr := range body.Attributes {
		v, err := exprToJSON(attr.Expr, src)
		if err != nil {
			return nil, err
		}
		out[name] = v
	}
	for _, b := range body.Blocks {
		inner, err := bodyToMap(b.Body, src)
		if err != nil {
			return nil, err
		}
		// Blocks of one type become a list of objects; each label adds an object level.
		var item interface{} = []interface{}{inner}
		for i := len(b.Labels) - 1; i >= 0; i-- {
			item = map[string]interface{}{b.Labels[i]: item}
		}
		if prev, ok := out[b.Type]; ok {
			merged, err := mergeBlocks(prev, item)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", b.DefRange(), err)
			}
			out[b.Type] = merged
		} else {
			out[b.Type] = item
		}
	}
	return out, nil
}

func mergeBlocks(prev, next interface{}) (interface{}, error) {
	switch p := prev.(type) {
	case []interface{}:
		n, ok := next.([]interface{})
		if !ok {
			return nil, fmt.Errorf("blocks with and without labels mixed")
		}
		return append(p, n...), nil
	case map[string]interface{}:
		n, ok := next.(map[string]interface{})
		if !ok {
			return nil, fmt.Errorf("blocks with and without labels mixed")
		}
		for k, v := range n {
			if old, ok := p[k]; ok {
				m, err := mergeBlocks(old, v)
				if err != nil {
					return nil, err
				}
				p[k] = m
			} else {
				p[k] = v
			}
		}
		return p, nil
	}
	return nil, fmt.Errorf("cannot merge %T", prev)
}

// exprToJSON: a template that needs variables stays as its source text (Nomad interpolates it
// on the client); everything else is evaluated without variables.
func exprToJSON(expr hclsyntax.Expression, src []byte) (interface{}, error) {
	switch e := expr.(type) {
	case *hclsyntax.TupleConsExpr:
		var out []interface{}
		for _, item := range e.Exprs {
			v, err := exprToJSON(item, src)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		if out == nil {
			out = []interface{}{}
		}
		return out, nil
	case *hclsyntax.ObjectConsExpr:
		out := map[string]interface{}{}
		for _, item := range e.Items {
			k, diags := item.KeyExpr.Value(nil)
			if diags.HasErrors() || k.Type() != cty.String || k.IsNull() {
				return nil, fmt.Errorf("%s: object key must be a constant", item.KeyExpr.Range())
			}
			v, err := exprToJSON(item.ValueExpr, src)
			if err != nil {
				return nil, err
			}
			out[k.AsString()] = v
		}
		return out, nil
	}
	if len(expr.Variables()) > 0 {
		return templateText(expr, src)
	}
	v, diags := expr.Value(nil)
	if diags.HasErrors() {
		return nil, fmt.Errorf("%s", diags.Error())
	}
	text, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return nil, err
	}
	var out interface{}
	if err := json.Unmarshal(text, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// templateText rebuilds the template source of a string that uses variables: literal parts
// with "${" and "%{" escaped again, interpolations as "${<their source>}".
func templateText(expr hclsyntax.Expression, src []byte) (string, error) {
	interp := func(e hclsyntax.Expression) string {
		r := e.Range()
		return "${" + string(src[r.Start.Byte:r.End.Byte]) + "}"
	}
	switch e := expr.(type) {
	case *hclsyntax.TemplateWrapExpr:
		return interp(e.Wrapped), nil
	case *hclsyntax.TemplateExpr:
		var b strings.Builder
		for _, part := range e.Parts {
			if lit, ok := part.(*hclsyntax.LiteralValueExpr); ok && lit.Val.Type() == cty.String {
				t := strings.ReplaceAll(lit.Val.AsString(), "${", "$${")
				b.WriteString(strings.ReplaceAll(t, "%{", "%%{"))
				continue
			}
			b.WriteString(interp(part))
		}
		return b.String(), nil
	}
	return "", fmt.Errorf("%s: only string templates may use variables in a config block", expr.Range())
}
