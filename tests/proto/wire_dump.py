#!/usr/bin/python3
"""Prints the wire-relevant facts of a set of .proto files, one per line.

What matters on the wire for protobuf + gRPC is: package-qualified service and
method names, request/response types and streaming kinds, message and enum
full names, field names, numbers, labels, types (and packing), map and oneof
shapes, enum values, and reserved ranges/names. Comments, file names, import
paths, declaration order and language options do not matter, so they are left
out and every line is sorted. Two sets of .proto files that print the same
lines talk to each other.

Line forms (names are fully qualified without the leading dot):
  message <Msg>
  field <Msg>.<name> <number> <label> <type>[ packed][ oneof=<name>]
  reserved <Msg> number <lo>[-<hi>]       reserved <Msg> name <name>
  enum <Enum>[ allow_alias]               value <Enum>.<NAME> <number>
  rpc /<pkg>.<Service>/<Method> <request> <response> <unary|server-stream|client-stream|bidi>
Map fields print as `field <Msg>.<name> <n> map map<K,V>`; their synthetic entry
messages are not listed (they are implied by the map type).

Usage:
  wire_dump.py --descriptor-set FILE [--descriptor-set FILE ...]
  wire_dump.py --protoc PROTOC --proto-root DIR [--proto-root DIR ...] [--subdir SUB ...]
  either form plus --golden FILE: compare instead of print; exit 1 on any
  difference and show the differing lines.
  --mutate REL_PATH OLD NEW (with --proto-root and --golden): copy the roots to
  a temporary directory, replace OLD by NEW in REL_PATH, and succeed only if the
  comparison then FAILS. Proves the check can detect drift.
Packages listed in SKIPPED_PACKAGES (protobuf's own well-known types) are not
printed; they come from the system protobuf installation on both sides.
"""

import argparse
import difflib
import os
import shutil
import subprocess
import sys
import tempfile

try:
    from google.protobuf import descriptor_pb2
except ImportError:
    sys.stderr.write(
        "wire_dump.py: python module google.protobuf is missing; "
        "install it with `apt-get install python3-protobuf` and run with /usr/bin/python3\n")
    sys.exit(77)  # ctest SKIP_RETURN_CODE

FDP = descriptor_pb2.FieldDescriptorProto
SKIPPED_PACKAGES = {"google.protobuf"}

SCALAR_NAMES = {
    FDP.TYPE_DOUBLE: "double", FDP.TYPE_FLOAT: "float", FDP.TYPE_INT64: "int64",
    FDP.TYPE_UINT64: "uint64", FDP.TYPE_INT32: "int32", FDP.TYPE_FIXED64: "fixed64",
    FDP.TYPE_FIXED32: "fixed32", FDP.TYPE_BOOL: "bool", FDP.TYPE_STRING: "string",
    FDP.TYPE_BYTES: "bytes", FDP.TYPE_UINT32: "uint32", FDP.TYPE_SFIXED32: "sfixed32",
    FDP.TYPE_SFIXED64: "sfixed64", FDP.TYPE_SINT32: "sint32", FDP.TYPE_SINT64: "sint64",
}
# Types that can be packed: every scalar except string and bytes, plus enums.
PACKABLE = (set(SCALAR_NAMES) - {FDP.TYPE_STRING, FDP.TYPE_BYTES}) | {FDP.TYPE_ENUM}
LABEL_NAMES = {FDP.LABEL_OPTIONAL: "singular", FDP.LABEL_REQUIRED: "required",
               FDP.LABEL_REPEATED: "repeated"}


def type_text(field):
    if field.type in SCALAR_NAMES:
        return SCALAR_NAMES[field.type]
    kind = "enum" if field.type == FDP.TYPE_ENUM else "message"
    if field.type == FDP.TYPE_GROUP:
        kind = "group"
    return "%s:%s" % (kind, field.type_name.lstrip("."))


def dump_enum(enum, prefix, lines):
    name = prefix + enum.name
    lines.append("enum %s%s" % (name, " allow_alias" if enum.options.allow_alias else ""))
    for value in enum.value:
        lines.append("value %s.%s %d" % (name, value.name, value.number))
    for rng in enum.reserved_range:  # enum ranges are inclusive
        lines.append("reserved %s number %s" % (name, range_text(rng.start, rng.end)))
    for reserved in enum.reserved_name:
        lines.append("reserved %s name %s" % (name, reserved))


def range_text(lo, hi_inclusive):
    return str(lo) if lo == hi_inclusive else "%d-%d" % (lo, hi_inclusive)


def dump_message(msg, prefix, syntax, lines):
    name = prefix + msg.name
    entries = {name + "." + n.name: n for n in msg.nested_type if n.options.map_entry}
    lines.append("message " + name)
    for field in msg.field:
        label = LABEL_NAMES[field.label]
        if field.proto3_optional:
            label = "optional"
        entry = entries.get(field.type_name.lstrip("."))
        if entry is not None and field.label == FDP.LABEL_REPEATED:
            key, val = sorted(entry.field, key=lambda f: f.number)
            text = "map map<%s,%s>" % (type_text(key), type_text(val))
        else:
            text = "%s %s" % (label, type_text(field))
        if field.label == FDP.LABEL_REPEATED and field.type in PACKABLE:
            explicit = field.options.HasField("packed")
            packed = field.options.packed if explicit else syntax == "proto3"
            if packed:
                text += " packed"
        if field.HasField("oneof_index") and not field.proto3_optional:
            text += " oneof=" + msg.oneof_decl[field.oneof_index].name
        lines.append("field %s.%s %d %s" % (name, field.name, field.number, text))
    for rng in msg.reserved_range:  # message ranges are end-exclusive
        lines.append("reserved %s number %s" % (name, range_text(rng.start, rng.end - 1)))
    for reserved in msg.reserved_name:
        lines.append("reserved %s name %s" % (name, reserved))
    for nested in msg.nested_type:
        if not nested.options.map_entry:
            dump_message(nested, name + ".", syntax, lines)
    for enum in msg.enum_type:
        dump_enum(enum, name + ".", lines)


def dump(descriptor_set):
    lines = []
    seen = set()
    for f in descriptor_set.file:
        if f.package in SKIPPED_PACKAGES or f.name in seen:
            continue
        seen.add(f.name)
        syntax = f.syntax or "proto2"
        prefix = f.package + "." if f.package else ""
        for msg in f.message_type:
            dump_message(msg, prefix, syntax, lines)
        for enum in f.enum_type:
            dump_enum(enum, prefix, lines)
        for svc in f.service:
            for m in svc.method:
                kind = {(False, False): "unary", (False, True): "server-stream",
                        (True, False): "client-stream", (True, True): "bidi"}[
                            (m.client_streaming, m.server_streaming)]
                lines.append("rpc /%s%s/%s %s %s %s" % (
                    prefix, svc.name, m.name, m.input_type.lstrip("."),
                    m.output_type.lstrip("."), kind))
    return sorted(set(lines))


def compile_roots(protoc, roots, subdirs=None):
    """Runs protoc over every .proto under the roots (or only under the given
    subdirectories of each root); returns a FileDescriptorSet."""
    files = []
    for root in roots:
        starts = [os.path.join(root, d) for d in subdirs] if subdirs else [root]
        for dirpath, _, names in (w for start in starts for w in os.walk(start)):
            for n in names:
                if n.endswith(".proto"):
                    files.append(os.path.relpath(os.path.join(dirpath, n), root))
    if not files:
        sys.exit("wire_dump.py: no .proto files under %s" % ", ".join(roots))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "set.pb")
        cmd = [protoc, "--include_imports", "--descriptor_set_out=" + out]
        cmd += ["-I" + r for r in roots] + sorted(files)
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit("wire_dump.py: protoc failed (%s):\n%s" % (" ".join(cmd), result.stderr))
        with open(out, "rb") as fh:
            return descriptor_pb2.FileDescriptorSet.FromString(fh.read())


def compare(lines, golden_path):
    """Returns the differing lines (empty when equal)."""
    with open(golden_path) as fh:
        golden = [l.rstrip("\n") for l in fh if l.strip() and not l.startswith("#")]
    return [d for d in difflib.unified_diff(golden, lines, "golden (upstream)", "ours",
                                            n=0, lineterm="")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--descriptor-set", action="append", default=[])
    ap.add_argument("--protoc")
    ap.add_argument("--proto-root", action="append", default=[])
    ap.add_argument("--subdir", action="append", default=[],
                    help="only compile .proto files under this subdirectory of each root")
    ap.add_argument("--golden")
    ap.add_argument("--mutate", nargs=3, metavar=("REL_PATH", "OLD", "NEW"))
    args = ap.parse_args()

    if args.mutate:
        if not (args.protoc and args.proto_root and args.golden):
            ap.error("--mutate needs --protoc, --proto-root and --golden")
        rel, old, new = args.mutate
        with tempfile.TemporaryDirectory() as tmp:
            roots = []
            for i, root in enumerate(args.proto_root):
                copy = os.path.join(tmp, str(i))
                shutil.copytree(root, copy)
                roots.append(copy)
            target = next((os.path.join(r, rel) for r in roots
                           if os.path.exists(os.path.join(r, rel))), None)
            if target is None:
                sys.exit("wire_dump.py: --mutate file %s not under any root" % rel)
            text = open(target).read()
            if old not in text:
                sys.exit("wire_dump.py: --mutate text %r not found in %s" % (old, rel))
            with open(target, "w") as fh:
                fh.write(text.replace(old, new, 1))
            diff = compare(dump(compile_roots(args.protoc, roots, args.subdir)), args.golden)
        if not diff:
            print("FAIL: replacing %r by %r in %s went unnoticed" % (old, new, rel))
            return 1
        print("ok: the mutation was detected:\n" + "\n".join(diff))
        return 0

    merged = descriptor_pb2.FileDescriptorSet()
    for path in args.descriptor_set:
        with open(path, "rb") as fh:
            merged.MergeFromString(fh.read())
    if args.proto_root:
        if not args.protoc:
            ap.error("--proto-root needs --protoc")
        merged.MergeFrom(compile_roots(args.protoc, args.proto_root, args.subdir))
    if not merged.file:
        ap.error("give --descriptor-set or --protoc/--proto-root")
    lines = dump(merged)

    if args.golden:
        diff = compare(lines, args.golden)
        if diff:
            print("wire mismatch between our .proto files and upstream "
                  "(- only upstream, + only ours):")
            print("\n".join(diff))
            return 1
        print("ok: %d wire facts match %s" % (len(lines), args.golden))
        return 0
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
