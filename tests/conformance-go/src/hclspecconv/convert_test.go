package hclspecconv

import (
	"encoding/hex"
	"strings"
	"testing"

	"carpexec/gen/hclspec"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctymsgpack "github.com/zclconf/go-cty/cty/msgpack"
)

func attr(name, ty string, required bool) *hclspec.Spec {
	return &hclspec.Spec{Block: &hclspec.Spec_Attr{Attr: &hclspec.Attr{Name: name, Type: ty, Required: required}}}
}

func object(attrs map[string]*hclspec.Spec) *hclspec.Spec {
	return &hclspec.Spec{Block: &hclspec.Spec_Object{Object: &hclspec.Object{Attributes: attrs}}}
}

// The plugin-config example of the protocol reference (§4 example 3): decoding the HCL against
// the converted schema and encoding it as Nomad does must give the documented bytes.
func TestReferenceExampleBytes(t *testing.T) {
	spec := object(map[string]*hclspec.Spec{
		"enabled": {Block: &hclspec.Spec_Default{Default: &hclspec.Default{
			Primary: attr("enabled", "bool", false),
			Default: &hclspec.Spec{Block: &hclspec.Spec_Literal{Literal: &hclspec.Literal{Value: "false"}}},
		}}},
		"labels": attr("", "map(string)", false),
		"peers": {Block: &hclspec.Spec_BlockList{BlockList: &hclspec.BlockList{Nested: object(map[string]*hclspec.Spec{
			"addr": attr("", "string", true),
			"port": attr("", "number", false),
		})}}},
		"tls": {Block: &hclspec.Spec_BlockValue{BlockValue: &hclspec.Block{Nested: object(map[string]*hclspec.Spec{
			"ca": attr("", "string", false),
		})}}},
		"vrrp": {Block: &hclspec.Spec_BlockValue{BlockValue: &hclspec.Block{Nested: object(map[string]*hclspec.Spec{
			"interface": attr("", "string", true),
			"vrid":      attr("", "number", false),
		})}}},
	})
	src := `
enabled = true
labels = { b = "2", a = "1" }
peers {
  addr = "10.0.0.2"
  port = 112
}
vrrp {
  interface = "eth0"
  vrid = 51
}
`
	want := "85a7656e61626c6564c3a66c6162656c7382a161a131a162a132a5706565727391" +
		"82a461646472a831302e302e302e32a4706f727470a3746c73c0a476727270" +
		"82a9696e74657266616365a465746830a476726964" + "33"
	got := decodeEncode(t, spec, src)
	if got != want {
		t.Fatalf("bytes\n got %s\nwant %s", got, want)
	}
}

func decodeEncode(t *testing.T, spec *hclspec.Spec, src string) string {
	t.Helper()
	s, err := Convert(spec)
	if err != nil {
		t.Fatal(err)
	}
	f, diags := hclsyntax.ParseConfig([]byte(src), "t.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	v, diags := hcldec.Decode(f.Body, s, nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	b, err := ctymsgpack.Marshal(v, v.Type())
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func TestDefaultsLiteralsAndArrays(t *testing.T) {
	spec := object(map[string]*hclspec.Spec{
		"n": {Block: &hclspec.Spec_Default{Default: &hclspec.Default{
			Primary: attr("n", "number", false),
			Default: &hclspec.Spec{Block: &hclspec.Spec_Literal{Literal: &hclspec.Literal{Value: "max(3, 5)"}}},
		}}},
		"pair": {Block: &hclspec.Spec_Array{Array: &hclspec.Array{Values: []*hclspec.Spec{
			{Block: &hclspec.Spec_Literal{Literal: &hclspec.Literal{Value: `"x"`}}},
			attr("p", "string", false),
		}}}},
	})
	s, err := Convert(spec)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := hclsyntax.ParseConfig([]byte(`p = "y"`), "t.hcl", hcl.InitialPos)
	v, diags := hcldec.Decode(f.Body, s, nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if !v.GetAttr("n").RawEquals(cty.NumberIntVal(5)) {
		t.Errorf("n = %#v, want the literal default 5", v.GetAttr("n"))
	}
	pair := v.GetAttr("pair")
	if !pair.Index(cty.NumberIntVal(0)).RawEquals(cty.StringVal("x")) || !pair.Index(cty.NumberIntVal(1)).RawEquals(cty.StringVal("y")) {
		t.Errorf("pair = %#v", pair)
	}
}

func TestErrors(t *testing.T) {
	cases := map[string]*hclspec.Spec{
		"no variant":                {},
		"empty type":                object(map[string]*hclspec.Spec{"a": attr("", "", false)}),
		"bad type":                  object(map[string]*hclspec.Spec{"a": attr("", "lisst(string)", false)}),
		"name needed under default": {Block: &hclspec.Spec_Default{Default: &hclspec.Default{Primary: attr("", "string", false), Default: attr("x", "string", false)}}},
		"map without labels":        object(map[string]*hclspec.Spec{"m": {Block: &hclspec.Spec_BlockMap{BlockMap: &hclspec.BlockMap{Nested: object(nil)}}}}),
		"bad literal":               {Block: &hclspec.Spec_Literal{Literal: &hclspec.Literal{Value: "nosuchfunc(1)"}}},
	}
	for name, spec := range cases {
		if _, err := Convert(spec); err == nil {
			t.Errorf("%s: converted without error", name)
		} else if strings.TrimSpace(err.Error()) == "" {
			t.Errorf("%s: empty error", name)
		}
	}
}
