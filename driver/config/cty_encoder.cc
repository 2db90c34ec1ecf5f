#include "driver/config/cty_encoder.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace carp_exec::config {
namespace {

absl::Status Unencodable(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("cty encoder: ", why));
}

class Writer {
 public:
  std::string& out() { return out_; }

  void Nil() { Byte(0xc0); }
  void Bool(bool v) { Byte(v ? 0xc3 : 0xc2); }
  void Int(int64_t v) {
    if (v >= 0) {
      const auto u = static_cast<uint64_t>(v);
      if (u <= 0x7f)
        Byte(static_cast<uint8_t>(u));
      else if (u <= 0xff)
        Head(0xcc, u, 1);
      else if (u <= 0xffff)
        Head(0xcd, u, 2);
      else if (u <= 0xffffffffULL)
        Head(0xce, u, 4);
      else
        Head(0xcf, u, 8);
      return;
    }
    const auto u = static_cast<uint64_t>(v);
    if (v >= -32)
      Byte(static_cast<uint8_t>(u));
    else if (v >= -128)
      Head(0xd0, u, 1);
    else if (v >= -32768)
      Head(0xd1, u, 2);
    else if (v >= -2147483648LL)
      Head(0xd2, u, 4);
    else
      Head(0xd3, u, 8);
  }
  void Float64(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof(bits));
    Head(0xcb, bits, 8);
  }
  void Str(absl::string_view s) {
    const size_t n = s.size();
    if (n < 32)
      Byte(static_cast<uint8_t>(0xa0 | n));
    else if (n <= 0xff)
      Head(0xd9, n, 1);
    else if (n <= 0xffff)
      Head(0xda, n, 2);
    else
      Head(0xdb, n, 4);
    out_.append(s.data(), s.size());
  }
  void Bin(absl::string_view s) {
    const size_t n = s.size();
    if (n <= 0xff)
      Head(0xc4, n, 1);
    else if (n <= 0xffff)
      Head(0xc5, n, 2);
    else
      Head(0xc6, n, 4);
    out_.append(s.data(), s.size());
  }
  void Array(size_t n) {
    if (n < 16)
      Byte(static_cast<uint8_t>(0x90 | n));
    else if (n <= 0xffff)
      Head(0xdc, n, 2);
    else
      Head(0xdd, n, 4);
  }
  void Map(size_t n) {
    if (n < 16)
      Byte(static_cast<uint8_t>(0x80 | n));
    else if (n <= 0xffff)
      Head(0xde, n, 2);
    else
      Head(0xdf, n, 4);
  }

 private:
  void Byte(uint8_t b) { out_.push_back(static_cast<char>(b)); }
  // A type byte followed by `width` big-endian bytes of `v`.
  void Head(uint8_t code, uint64_t v, int width) {
    Byte(code);
    for (int i = width - 1; i >= 0; --i) Byte(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::string out_;
};

// True when the decimal text (normalised, non-integer) is exactly the double `d`: the
// double's full decimal expansion, trailing zeros removed, is the same text.
bool DecimalIsExactDouble(const std::string& text, double d) {
  if (!std::isfinite(d)) return false;
  char buffer[1200];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), d, std::chars_format::fixed, 1100);
  if (result.ec != std::errc()) return false;
  std::string exact(buffer, result.ptr);
  exact.erase(exact.find_last_not_of('0') + 1);
  if (!exact.empty() && exact.back() == '.') exact.pop_back();
  return exact == text;
}

absl::Status WriteNumber(Writer& w, const CtyNumber& n) {
  if (std::isnan(n.AsDouble()) && n.source() == CtyNumber::Source::kFloat) {
    return Unencodable("NaN is not a cty number");
  }
  if (n.AsInt64().has_value()) {
    w.Int(*n.AsInt64());
  } else if (!n.IsWhole() && (n.source() == CtyNumber::Source::kFloat ||
                              DecimalIsExactDouble(n.text(), n.AsDouble()))) {
    w.Float64(n.AsDouble());  // a float64 (±inf is never whole) or a fraction it holds exactly
  } else {
    // An integer beyond int64 goes as text, even when float64 holds it; so does a decimal
    // fraction that float64 would round.
    w.Str(n.text());
  }
  return absl::OkStatus();
}

// The type cty infers for a value written in HCL: lists are tuples, maps are objects.
CtyType ImpliedType(const CtyValue& value) {
  CtyType type;
  switch (value.kind()) {
    case CtyValue::Kind::kNull:
      type.kind = CtyType::Kind::kDynamic;
      break;
    case CtyValue::Kind::kBool:
      type.kind = CtyType::Kind::kBool;
      break;
    case CtyValue::Kind::kNumber:
      type.kind = CtyType::Kind::kNumber;
      break;
    case CtyValue::Kind::kString:
      type.kind = CtyType::Kind::kString;
      break;
    case CtyValue::Kind::kList:
      type.kind = CtyType::Kind::kTuple;
      for (const CtyValue& item : value.items()) type.elements.push_back(ImpliedType(item));
      break;
    case CtyValue::Kind::kMap: {
      type.kind = CtyType::Kind::kObject;
      std::vector<const CtyValue::Entry*> sorted;
      for (const auto& entry : value.entries()) sorted.push_back(&entry);
      std::sort(sorted.begin(), sorted.end(),
                [](const auto* a, const auto* b) { return a->first < b->first; });
      for (const auto* entry : sorted) {
        type.names.push_back(entry->first);
        type.elements.push_back(ImpliedType(entry->second));
      }
      break;
    }
  }
  return type;
}

absl::Status WriteTyped(Writer& w, const CtyValue& value, const CtyType& type, int depth);

absl::Status WriteSortedMap(Writer& w, const CtyValue& value, const CtyType& element, int depth) {
  std::vector<const CtyValue::Entry*> sorted;
  for (const auto& entry : value.entries()) sorted.push_back(&entry);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  w.Map(sorted.size());
  for (const auto* entry : sorted) {
    w.Str(entry->first);
    if (absl::Status s = WriteTyped(w, entry->second, element, depth + 1); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status WriteTyped(Writer& w, const CtyValue& value, const CtyType& type, int depth) {
  if (depth > 100) return Unencodable("value nested too deeply");
  using K = CtyType::Kind;
  if (value.is_null()) {
    w.Nil();
    return absl::OkStatus();
  }
  const auto mismatch = [&](absl::string_view expected) {
    return Unencodable(absl::StrCat("expected ", expected, ", got ", DescribeValue(value)));
  };
  switch (type.kind) {
    case K::kDynamic: {
      const CtyType implied = ImpliedType(value);
      w.Array(2);
      w.Bin(CtyTypeJson(implied));
      return WriteTyped(w, value, implied, depth + 1);
    }
    case K::kString:
      if (value.kind() != CtyValue::Kind::kString) return mismatch("a string");
      w.Str(value.string());
      return absl::OkStatus();
    case K::kBool:
      if (value.kind() != CtyValue::Kind::kBool) return mismatch("a bool");
      w.Bool(value.boolean());
      return absl::OkStatus();
    case K::kNumber: {
      if (value.kind() == CtyValue::Kind::kNumber) return WriteNumber(w, value.number());
      if (value.kind() == CtyValue::Kind::kString) {
        if (auto n = CtyNumber::FromText(value.string())) return WriteNumber(w, *n);
      }
      return mismatch("a number");
    }
    case K::kList:
    case K::kSet:
    case K::kTuple: {
      if (value.kind() != CtyValue::Kind::kList) return mismatch("a list");
      if (type.kind == K::kTuple && type.elements.size() != value.items().size()) {
        return mismatch(absl::StrCat("a tuple of ", type.elements.size()));
      }
      std::vector<CtyValue> items = value.items();
      // Sets of strings go in lexical order, as cty iterates them.
      if (type.kind == K::kSet && type.elements[0].kind == K::kString) {
        std::sort(items.begin(), items.end(), [](const CtyValue& a, const CtyValue& b) {
          return a.kind() == CtyValue::Kind::kString && b.kind() == CtyValue::Kind::kString &&
                 a.string() < b.string();
        });
      }
      w.Array(items.size());
      for (size_t i = 0; i < items.size(); ++i) {
        const CtyType& element = type.kind == K::kTuple ? type.elements[i] : type.elements[0];
        if (absl::Status s = WriteTyped(w, items[i], element, depth + 1); !s.ok()) return s;
      }
      return absl::OkStatus();
    }
    case K::kMap:
      if (value.kind() != CtyValue::Kind::kMap) return mismatch("a map");
      return WriteSortedMap(w, value, type.elements[0], depth);
    case K::kObject: {
      if (value.kind() != CtyValue::Kind::kMap) return mismatch("an object");
      w.Map(type.names.size());  // names are sorted; every attribute is written
      for (size_t i = 0; i < type.names.size(); ++i) {
        w.Str(type.names[i]);
        const CtyValue* item = value.Find(type.names[i]);
        const CtyValue null;
        if (absl::Status s = WriteTyped(w, item ? *item : null, type.elements[i], depth + 1);
            !s.ok()) {
          return s;
        }
      }
      return absl::OkStatus();
    }
  }
  return Unencodable("unknown type");
}

absl::Status WriteForSpec(Writer& w, const CtyValue& value, const hclspec::Spec& spec, int depth);

absl::Status WriteObjectSpec(Writer& w, const CtyValue& value, const hclspec::Object& object,
                             int depth) {
  static const CtyValue kEmpty = CtyValue::Map({});
  const CtyValue& source = value.is_null() ? kEmpty : value;
  if (source.kind() != CtyValue::Kind::kMap) {
    return Unencodable(absl::StrCat("a block body must be a map, got ", DescribeValue(source)));
  }
  for (const auto& entry : source.entries()) {
    if (object.attributes().count(entry.first) == 0) {
      return Unencodable(absl::StrCat("unsupported argument ", QuoteForMessage(entry.first)));
    }
  }
  std::vector<std::string> names;
  for (const auto& [name, unused] : object.attributes()) names.push_back(name);
  std::sort(names.begin(), names.end());
  w.Map(names.size());
  for (const std::string& name : names) {
    w.Str(name);
    const CtyValue* item = source.Find(name);
    const CtyValue null;
    if (absl::Status s = WriteForSpec(w, item ? *item : null, object.attributes().at(name), depth);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status WriteBlockItems(Writer& w, const CtyValue& value, const hclspec::Spec& nested,
                             int depth) {
  if (value.is_null()) {
    w.Array(0);
    return absl::OkStatus();
  }
  if (value.kind() != CtyValue::Kind::kList) {
    return Unencodable(absl::StrCat("a block list must be a list, got ", DescribeValue(value)));
  }
  w.Array(value.items().size());
  for (const CtyValue& item : value.items()) {
    if (absl::Status s = WriteForSpec(w, item, nested, depth); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status WriteForSpec(Writer& w, const CtyValue& value, const hclspec::Spec& spec, int depth) {
  if (++depth > 100) return Unencodable("schema nested too deeply");
  switch (spec.block_case()) {
    case hclspec::Spec::kObject:
      return WriteObjectSpec(w, value, spec.object(), depth);
    case hclspec::Spec::kAttr: {
      absl::StatusOr<CtyType> type = ParseHclTypeExpression(spec.attr().type());
      if (!type.ok()) return type.status();
      return WriteTyped(w, value, *type, depth);
    }
    case hclspec::Spec::kDefault: {
      if (!value.is_null()) return WriteForSpec(w, value, spec.default_().primary(), depth);
      if (spec.default_().default_().block_case() != hclspec::Spec::kLiteral) {
        return Unencodable("only Literal defaults are supported");
      }
      absl::StatusOr<CtyValue> fallback =
          ParseHclLiteral(spec.default_().default_().literal().value());
      if (!fallback.ok()) return fallback.status();
      return WriteForSpec(w, *fallback, spec.default_().primary(), depth);
    }
    case hclspec::Spec::kLiteral: {
      absl::StatusOr<CtyValue> literal = ParseHclLiteral(spec.literal().value());
      if (!literal.ok()) return literal.status();
      return WriteTyped(w, *literal, ImpliedType(*literal), depth);
    }
    case hclspec::Spec::kBlockValue:
      if (value.is_null()) {
        w.Nil();
        return absl::OkStatus();
      }
      return WriteForSpec(w, value, spec.block_value().nested(), depth);
    case hclspec::Spec::kBlockList:
      return WriteBlockItems(w, value, spec.block_list().nested(), depth);
    case hclspec::Spec::kBlockSet:
      return WriteBlockItems(w, value, spec.block_set().nested(), depth);
    case hclspec::Spec::kBlockMap: {
      if (spec.block_map().labels_size() != 1) return Unencodable("block maps need one label");
      if (value.is_null()) {
        w.Map(0);
        return absl::OkStatus();
      }
      if (value.kind() != CtyValue::Kind::kMap) return Unencodable("a block map must be a map");
      std::vector<const CtyValue::Entry*> sorted;
      for (const auto& entry : value.entries()) sorted.push_back(&entry);
      std::sort(sorted.begin(), sorted.end(),
                [](const auto* a, const auto* b) { return a->first < b->first; });
      w.Map(sorted.size());
      for (const auto* entry : sorted) {
        w.Str(entry->first);
        if (absl::Status s = WriteForSpec(w, entry->second, spec.block_map().nested(), depth);
            !s.ok()) {
          return s;
        }
      }
      return absl::OkStatus();
    }
    case hclspec::Spec::kBlockAttrs: {
      absl::StatusOr<CtyType> element = ParseHclTypeExpression(spec.block_attrs().type());
      if (!element.ok()) return element.status();
      CtyType map_type;
      map_type.kind = CtyType::Kind::kMap;
      map_type.elements.push_back(*std::move(element));
      return WriteTyped(w, value, map_type, depth);
    }
    case hclspec::Spec::kArray: {
      const auto& specs = spec.array().values();
      if (value.kind() != CtyValue::Kind::kList ||
          value.items().size() != static_cast<size_t>(specs.size())) {
        return Unencodable(absl::StrCat("an Array spec needs a list of ", specs.size()));
      }
      w.Array(specs.size());
      for (int i = 0; i < specs.size(); ++i) {  // protobuf sizes are int
        if (absl::Status s = WriteForSpec(w, value.items()[i], specs[i], depth); !s.ok()) return s;
      }
      return absl::OkStatus();
    }
    case hclspec::Spec::BLOCK_NOT_SET:
      break;
  }
  return Unencodable("a Spec with nothing set");
}

}  // namespace

absl::StatusOr<std::string> EncodeCtyMsgpack(const CtyValue& value) {
  return EncodeCtyMsgpackAs(value, ImpliedType(value));
}

absl::StatusOr<std::string> EncodeCtyMsgpackAs(const CtyValue& value, const CtyType& type) {
  Writer w;
  if (absl::Status s = WriteTyped(w, value, type, 0); !s.ok()) return s;
  return std::move(w.out());
}

absl::StatusOr<std::string> EncodeCtyDynamic(const CtyValue& value) {
  CtyType dynamic;
  dynamic.kind = CtyType::Kind::kDynamic;
  return EncodeCtyMsgpackAs(value, dynamic);
}

absl::StatusOr<std::string> EncodeCtyForSchema(const CtyValue& value, const hclspec::Spec& spec) {
  Writer w;
  if (absl::Status s = WriteForSpec(w, value, spec, 0); !s.ok()) return s;
  return std::move(w.out());
}

}  // namespace carp_exec::config
