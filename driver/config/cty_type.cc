#include "driver/config/cty_type.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "driver/config/cty_msgpack.h"

namespace carp_exec::config {
namespace {

absl::Status BadTypeJson(absl::string_view json, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("cty type JSON ", QuoteForMessage(json), " is invalid: ", why));
}

// Recursive-descent reader for the small JSON subset go-cty uses for types.
class TypeJsonReader {
 public:
  explicit TypeJsonReader(absl::string_view json) : json_(json) {}

  absl::StatusOr<CtyType> ReadAll() {
    auto type = ReadType(0);
    if (!type.ok()) return type;
    SkipSpace();
    if (pos_ != json_.size()) return BadTypeJson(json_, "text after the type");
    return type;
  }

 private:
  void SkipSpace() {
    while (pos_ < json_.size() && absl::ascii_isspace(static_cast<unsigned char>(json_[pos_]))) {
      ++pos_;
    }
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ < json_.size() && json_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool Peek(char c) {
    SkipSpace();
    return pos_ < json_.size() && json_[pos_] == c;
  }

  absl::StatusOr<std::string> ReadString() {
    if (!Consume('"')) return BadTypeJson(json_, absl::StrCat("expected a string at byte ", pos_));
    std::string out;
    while (pos_ < json_.size() && json_[pos_] != '"') {
      char c = json_[pos_++];
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= json_.size()) break;
      char e = json_[pos_++];
      switch (e) {
        case 'n':
          out.push_back('\n');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'u': {
          if (pos_ + 4 > json_.size()) return BadTypeJson(json_, "short \\u escape");
          unsigned code = 0;
          for (int i = 0; i < 4; ++i) {
            const char h = json_[pos_++];
            if (!absl::ascii_isxdigit(static_cast<unsigned char>(h))) {
              return BadTypeJson(json_, "bad \\u escape");
            }
            code =
                code * 16 + (absl::ascii_isdigit(static_cast<unsigned char>(h))
                                 ? h - '0'
                                 : absl::ascii_tolower(static_cast<unsigned char>(h)) - 'a' + 10);
          }
          // Names in config types are ASCII in practice; other code points are kept as UTF-8.
          if (code < 0x80) {
            out.push_back(static_cast<char>(code));
          } else if (code < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (code >> 6)));
            out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
          } else {
            out.push_back(static_cast<char>(0xE0 | (code >> 12)));
            out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
          }
          break;
        }
        default:
          out.push_back(e);
          break;
      }
    }
    if (!Consume('"')) return BadTypeJson(json_, "unterminated string");
    return out;
  }

  absl::StatusOr<CtyType> ReadType(int depth) {
    if (depth > kMaxCtyDepth) return BadTypeJson(json_, "nested too deeply");
    CtyType type;
    if (Peek('"')) {
      auto name = ReadString();
      if (!name.ok()) return name.status();
      if (*name == "string")
        type.kind = CtyType::Kind::kString;
      else if (*name == "number")
        type.kind = CtyType::Kind::kNumber;
      else if (*name == "bool")
        type.kind = CtyType::Kind::kBool;
      else if (*name == "dynamic")
        type.kind = CtyType::Kind::kDynamic;
      else
        return BadTypeJson(json_, absl::StrCat("unknown type ", QuoteForMessage(*name)));
      return type;
    }
    if (!Consume('[')) return BadTypeJson(json_, absl::StrCat("expected a type at byte ", pos_));
    auto kind = ReadString();
    if (!kind.ok()) return kind.status();
    if (!Consume(',')) return BadTypeJson(json_, "expected ',' after the type kind");
    if (*kind == "list" || *kind == "set" || *kind == "map") {
      type.kind = *kind == "list"  ? CtyType::Kind::kList
                  : *kind == "set" ? CtyType::Kind::kSet
                                   : CtyType::Kind::kMap;
      auto element = ReadType(depth + 1);
      if (!element.ok()) return element.status();
      type.elements.push_back(*std::move(element));
    } else if (*kind == "object") {
      type.kind = CtyType::Kind::kObject;
      if (!Consume('{')) return BadTypeJson(json_, "an object type needs {\"name\": type}");
      std::vector<std::pair<std::string, CtyType>> attributes;
      while (!Consume('}')) {
        if (!attributes.empty() && !Consume(',')) return BadTypeJson(json_, "expected ','");
        auto name = ReadString();
        if (!name.ok()) return name.status();
        if (!Consume(':')) return BadTypeJson(json_, "expected ':'");
        auto attribute = ReadType(depth + 1);
        if (!attribute.ok()) return attribute.status();
        attributes.emplace_back(*std::move(name), *std::move(attribute));
      }
      if (Consume(',')) {  // optional-attribute names: not needed to decode values
        if (!Consume('[')) return BadTypeJson(json_, "expected a list of optional attributes");
        bool first = true;
        while (!Consume(']')) {
          if (!first && !Consume(',')) return BadTypeJson(json_, "expected ','");
          first = false;
          auto ignored = ReadString();
          if (!ignored.ok()) return ignored.status();
        }
      }
      std::sort(attributes.begin(), attributes.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      for (auto& [name, attribute] : attributes) {
        type.names.push_back(std::move(name));
        type.elements.push_back(std::move(attribute));
      }
    } else if (*kind == "tuple") {
      type.kind = CtyType::Kind::kTuple;
      if (!Consume('[')) return BadTypeJson(json_, "a tuple type needs [types]");
      while (!Consume(']')) {
        if (!type.elements.empty() && !Consume(',')) return BadTypeJson(json_, "expected ','");
        auto element = ReadType(depth + 1);
        if (!element.ok()) return element.status();
        type.elements.push_back(*std::move(element));
      }
    } else {
      return BadTypeJson(json_, absl::StrCat("unknown type kind ", QuoteForMessage(*kind)));
    }
    if (!Consume(']')) return BadTypeJson(json_, "expected ']'");
    return type;
  }

  absl::string_view json_;
  size_t pos_ = 0;
};

absl::Status Mismatch(absl::string_view path, absl::string_view expected, const CtyValue& got) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, " must be ", expected, ", got ", DescribeValue(got)));
}

}  // namespace

absl::StatusOr<CtyType> ParseCtyTypeJson(absl::string_view json) {
  return TypeJsonReader(json).ReadAll();
}

absl::StatusOr<CtyType> ParseHclTypeExpression(absl::string_view expression) {
  const absl::string_view text = absl::StripAsciiWhitespace(expression);
  CtyType type;
  if (text == "string")
    type.kind = CtyType::Kind::kString;
  else if (text == "number")
    type.kind = CtyType::Kind::kNumber;
  else if (text == "bool")
    type.kind = CtyType::Kind::kBool;
  else if (text == "any")
    type.kind = CtyType::Kind::kDynamic;
  else {
    const size_t open = text.find('(');
    if (open == absl::string_view::npos || text.back() != ')') {
      return absl::InvalidArgumentError(
          absl::StrCat("HCL type ", QuoteForMessage(expression), " is not supported"));
    }
    const absl::string_view outer = absl::StripAsciiWhitespace(text.substr(0, open));
    if (outer == "list")
      type.kind = CtyType::Kind::kList;
    else if (outer == "set")
      type.kind = CtyType::Kind::kSet;
    else if (outer == "map")
      type.kind = CtyType::Kind::kMap;
    else {
      return absl::InvalidArgumentError(
          absl::StrCat("HCL type ", QuoteForMessage(expression), " is not supported"));
    }
    auto element = ParseHclTypeExpression(text.substr(open + 1, text.size() - open - 2));
    if (!element.ok()) return element.status();
    type.elements.push_back(*std::move(element));
  }
  return type;
}

std::string CtyTypeJson(const CtyType& type) {
  switch (type.kind) {
    case CtyType::Kind::kString:
      return "\"string\"";
    case CtyType::Kind::kNumber:
      return "\"number\"";
    case CtyType::Kind::kBool:
      return "\"bool\"";
    case CtyType::Kind::kDynamic:
      return "\"dynamic\"";
    case CtyType::Kind::kList:
      return absl::StrCat("[\"list\",", CtyTypeJson(type.elements[0]), "]");
    case CtyType::Kind::kSet:
      return absl::StrCat("[\"set\",", CtyTypeJson(type.elements[0]), "]");
    case CtyType::Kind::kMap:
      return absl::StrCat("[\"map\",", CtyTypeJson(type.elements[0]), "]");
    case CtyType::Kind::kObject: {
      std::vector<std::string> parts;
      for (size_t i = 0; i < type.names.size(); ++i) {
        parts.push_back(absl::StrCat("\"", type.names[i], "\":", CtyTypeJson(type.elements[i])));
      }
      return absl::StrCat("[\"object\",{", absl::StrJoin(parts, ","), "}]");
    }
    case CtyType::Kind::kTuple: {
      std::vector<std::string> parts;
      for (const CtyType& element : type.elements) parts.push_back(CtyTypeJson(element));
      return absl::StrCat("[\"tuple\",[", absl::StrJoin(parts, ","), "]]");
    }
  }
  return "\"dynamic\"";
}

absl::StatusOr<CtyValue> ConformValue(const CtyValue& value, const CtyType& type,
                                      absl::string_view path, int depth) {
  if (depth > kMaxCtyDepth) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is nested too deeply"));
  }
  if (type.kind == CtyType::Kind::kDynamic) return UnwrapDynamicValue(value, path, depth + 1);
  if (value.is_null()) return value;
  using Kind = CtyType::Kind;
  switch (type.kind) {
    case Kind::kString:
      if (value.kind() != CtyValue::Kind::kString) return Mismatch(path, "a string", value);
      return CtyValue::String(value.string());
    case Kind::kNumber:
      if (value.kind() == CtyValue::Kind::kNumber) return value;
      if (value.kind() == CtyValue::Kind::kString) {
        if (auto number = CtyNumber::FromText(value.string())) return CtyValue::Number(*number);
      }
      return Mismatch(path, "a number", value);
    case Kind::kBool:
      if (value.kind() != CtyValue::Kind::kBool) return Mismatch(path, "a bool", value);
      return value;
    case Kind::kList:
    case Kind::kSet:
    case Kind::kTuple: {
      if (value.kind() != CtyValue::Kind::kList) return Mismatch(path, "a list", value);
      if (type.kind == Kind::kTuple && value.items().size() != type.elements.size()) {
        return Mismatch(path, absl::StrCat("a tuple of ", type.elements.size(), " items"), value);
      }
      std::vector<CtyValue> items;
      for (size_t i = 0; i < value.items().size(); ++i) {
        const CtyType& element = type.kind == Kind::kTuple ? type.elements[i] : type.elements[0];
        auto item =
            ConformValue(value.items()[i], element, absl::StrCat(path, "[", i, "]"), depth + 1);
        if (!item.ok()) return item.status();
        items.push_back(*std::move(item));
      }
      return CtyValue::List(std::move(items));
    }
    case Kind::kMap:
    case Kind::kObject: {
      if (value.kind() != CtyValue::Kind::kMap) return Mismatch(path, "a map", value);
      std::vector<CtyValue::Entry> entries;
      for (const auto& [key, item] : value.entries()) {
        const CtyType* element = nullptr;
        if (type.kind == Kind::kMap) {
          element = &type.elements[0];
        } else {
          for (size_t i = 0; i < type.names.size(); ++i) {
            if (type.names[i] == key) element = &type.elements[i];
          }
          if (element == nullptr) {
            return absl::InvalidArgumentError(absl::StrCat(
                path, " has the attribute ", QuoteForMessage(key), " its object type lacks"));
          }
        }
        auto conformed = ConformValue(item, *element, absl::StrCat(path, ".", key), depth + 1);
        if (!conformed.ok()) return conformed.status();
        entries.emplace_back(key, *std::move(conformed));
      }
      return CtyValue::Map(std::move(entries));
    }
    case Kind::kDynamic:
      break;
  }
  return value;
}

absl::StatusOr<CtyValue> UnwrapDynamicValue(const CtyValue& wrapped, absl::string_view path,
                                            int depth) {
  if (wrapped.is_null()) return wrapped;
  if (wrapped.kind() != CtyValue::Kind::kList || wrapped.items().size() != 2 ||
      wrapped.items()[0].kind() != CtyValue::Kind::kString) {
    return Mismatch(path, "a dynamic value [type JSON, value] because its type is any", wrapped);
  }
  auto type = ParseCtyTypeJson(wrapped.items()[0].string());
  if (!type.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", type.status().message()));
  }
  if (type->kind == CtyType::Kind::kDynamic && !wrapped.items()[1].is_null()) {
    return Mismatch(path, "null when its dynamic type is \"dynamic\"", wrapped.items()[1]);
  }
  return ConformValue(wrapped.items()[1], *type, path, depth + 1);
}

}  // namespace carp_exec::config
