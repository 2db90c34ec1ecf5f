// Package hclspecconv turns the hclspec schema a Nomad plugin sends over gRPC into an hcldec
// specification, the way a Nomad agent must before it can decode an HCL `config` block against
// it. Written for the carp_exec conformance suite from the documented meaning of each hclspec
// message; it follows Nomad's rules (a name may be left empty only directly under an object,
// where the key stands in; literals are HCL expressions; types are HCL type expressions).
package hclspecconv

import (
	"fmt"
	"sort"

	"carpexec/gen/hclspec"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// LiteralFunctions are the functions a Literal default may call (the set Nomad allows).
func LiteralFunctions() map[string]function.Function {
	return map[string]function.Function{
		"abs":        stdlib.AbsoluteFunc,
		"coalesce":   stdlib.CoalesceFunc,
		"concat":     stdlib.ConcatFunc,
		"hasindex":   stdlib.HasIndexFunc,
		"int":        stdlib.IntFunc,
		"jsondecode": stdlib.JSONDecodeFunc,
		"jsonencode": stdlib.JSONEncodeFunc,
		"length":     stdlib.LengthFunc,
		"lower":      stdlib.LowerFunc,
		"max":        stdlib.MaxFunc,
		"min":        stdlib.MinFunc,
		"reverse":    stdlib.ReverseFunc,
		"strlen":     stdlib.StrlenFunc,
		"substr":     stdlib.SubstrFunc,
		"upper":      stdlib.UpperFunc,
	}
}

// Convert returns the hcldec spec for a top-level schema. A nil schema means "no config
// accepted" and converts to nil; a Spec with no variant set is an error.
func Convert(s *hclspec.Spec) (hcldec.Spec, error) {
	if s == nil {
		return nil, nil
	}
	return convert(s, "", "spec")
}

// convert handles one node. impliedName is the object key when the node sits directly under
// an Object (empty elsewhere); where names the node in error messages.
func convert(s *hclspec.Spec, impliedName, where string) (hcldec.Spec, error) {
	if s == nil {
		return nil, fmt.Errorf("%s: missing spec", where)
	}
	pick := func(explicit string) (string, error) {
		if explicit != "" {
			return explicit, nil
		}
		if impliedName != "" {
			return impliedName, nil
		}
		return "", fmt.Errorf("%s: name is empty and there is no object key to stand in", where)
	}
	switch b := s.Block.(type) {
	case *hclspec.Spec_Object:
		out := hcldec.ObjectSpec{}
		keys := make([]string, 0, len(b.Object.GetAttributes()))
		for k := range b.Object.GetAttributes() {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			child, err := convert(b.Object.Attributes[k], k, where+"."+k)
			if err != nil {
				return nil, err
			}
			out[k] = child
		}
		return out, nil
	case *hclspec.Spec_Array:
		out := hcldec.TupleSpec{}
		for i, v := range b.Array.GetValues() {
			child, err := convert(v, "", fmt.Sprintf("%s[%d]", where, i))
			if err != nil {
				return nil, err
			}
			out = append(out, child)
		}
		return out, nil
	case *hclspec.Spec_Attr:
		name, err := pick(b.Attr.GetName())
		if err != nil {
			return nil, err
		}
		ty, err := parseType(b.Attr.GetType(), where)
		if err != nil {
			return nil, err
		}
		return &hcldec.AttrSpec{Name: name, Type: ty, Required: b.Attr.GetRequired()}, nil
	case *hclspec.Spec_BlockValue:
		name, err := pick(b.BlockValue.GetName())
		if err != nil {
			return nil, err
		}
		nested, err := convert(b.BlockValue.GetNested(), "", where+"{}")
		if err != nil {
			return nil, err
		}
		return &hcldec.BlockSpec{TypeName: name, Required: b.BlockValue.GetRequired(), Nested: nested}, nil
	case *hclspec.Spec_BlockAttrs:
		name, err := pick(b.BlockAttrs.GetName())
		if err != nil {
			return nil, err
		}
		ty, err := parseType(b.BlockAttrs.GetType(), where)
		if err != nil {
			return nil, err
		}
		return &hcldec.BlockAttrsSpec{TypeName: name, ElementType: ty, Required: b.BlockAttrs.GetRequired()}, nil
	case *hclspec.Spec_BlockList:
		name, err := pick(b.BlockList.GetName())
		if err != nil {
			return nil, err
		}
		nested, err := convert(b.BlockList.GetNested(), "", where+"[]")
		if err != nil {
			return nil, err
		}
		return &hcldec.BlockListSpec{TypeName: name, Nested: nested,
			MinItems: int(b.BlockList.GetMinItems()), MaxItems: int(b.BlockList.GetMaxItems())}, nil
	case *hclspec.Spec_BlockSet:
		name, err := pick(b.BlockSet.GetName())
		if err != nil {
			return nil, err
		}
		nested, err := convert(b.BlockSet.GetNested(), "", where+"[]")
		if err != nil {
			return nil, err
		}
		return &hcldec.BlockSetSpec{TypeName: name, Nested: nested,
			MinItems: int(b.BlockSet.GetMinItems()), MaxItems: int(b.BlockSet.GetMaxItems())}, nil
	case *hclspec.Spec_BlockMap:
		name, err := pick(b.BlockMap.GetName())
		if err != nil {
			return nil, err
		}
		if len(b.BlockMap.GetLabels()) == 0 {
			return nil, fmt.Errorf("%s: block_map %q needs at least one label", where, name)
		}
		nested, err := convert(b.BlockMap.GetNested(), "", where+"{}")
		if err != nil {
			return nil, err
		}
		return &hcldec.BlockMapSpec{TypeName: name, LabelNames: b.BlockMap.GetLabels(), Nested: nested}, nil
	case *hclspec.Spec_Default:
		// No implied name reaches inside a Default: its primary must carry its own name.
		primary, err := convert(b.Default.GetPrimary(), "", where+"(primary)")
		if err != nil {
			return nil, err
		}
		def, err := convert(b.Default.GetDefault(), "", where+"(default)")
		if err != nil {
			return nil, err
		}
		return &hcldec.DefaultSpec{Primary: primary, Default: def}, nil
	case *hclspec.Spec_Literal:
		v, err := evalLiteral(b.Literal.GetValue(), where)
		if err != nil {
			return nil, err
		}
		return &hcldec.LiteralSpec{Value: v}, nil
	default:
		return nil, fmt.Errorf("%s: spec has no variant set", where)
	}
}

func parseType(text, where string) (cty.Type, error) {
	if text == "" {
		return cty.NilType, fmt.Errorf("%s: type is empty", where)
	}
	expr, diags := hclsyntax.ParseExpression([]byte(text), where, hcl.InitialPos)
	if diags.HasErrors() {
		return cty.NilType, fmt.Errorf("%s: type %q does not parse: %s", where, text, diags.Error())
	}
	ty, diags := typeexpr.TypeConstraint(expr)
	if diags.HasErrors() {
		return cty.NilType, fmt.Errorf("%s: type %q is not a type: %s", where, text, diags.Error())
	}
	return ty, nil
}

func evalLiteral(text, where string) (cty.Value, error) {
	expr, diags := hclsyntax.ParseExpression([]byte(text), where, hcl.InitialPos)
	if diags.HasErrors() {
		return cty.NilVal, fmt.Errorf("%s: literal %q does not parse: %s", where, text, diags.Error())
	}
	v, diags := expr.Value(&hcl.EvalContext{Functions: LiteralFunctions()})
	if diags.HasErrors() {
		return cty.NilVal, fmt.Errorf("%s: literal %q does not evaluate: %s", where, text, diags.Error())
	}
	return v, nil
}
