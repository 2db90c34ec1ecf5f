#include "driver/config/hclspec_builder.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "driver/config/cty_msgpack.h"

namespace carp_exec::config {

hclspec::Spec AttrSpec(absl::string_view name, absl::string_view hcl_type, bool required) {
  hclspec::Spec spec;
  auto* attr = spec.mutable_attr();
  attr->set_name(std::string(name));
  attr->set_type(std::string(hcl_type));
  attr->set_required(required);
  return spec;
}

hclspec::Spec LiteralSpec(absl::string_view hcl_expression) {
  hclspec::Spec spec;
  spec.mutable_literal()->set_value(std::string(hcl_expression));
  return spec;
}

hclspec::Spec DefaultSpec(hclspec::Spec primary, hclspec::Spec fallback) {
  hclspec::Spec spec;
  *spec.mutable_default_()->mutable_primary() = std::move(primary);
  *spec.mutable_default_()->mutable_default_() = std::move(fallback);
  return spec;
}

hclspec::Spec BlockSpec(absl::string_view name, bool required, hclspec::Spec nested) {
  hclspec::Spec spec;
  auto* block = spec.mutable_block_value();
  block->set_name(std::string(name));
  block->set_required(required);
  *block->mutable_nested() = std::move(nested);
  return spec;
}

hclspec::Spec ObjectSpec(std::vector<std::pair<std::string, hclspec::Spec>> attributes) {
  hclspec::Spec spec;
  auto* object = spec.mutable_object()->mutable_attributes();
  for (auto& attribute : attributes) (*object)[attribute.first] = std::move(attribute.second);
  return spec;
}

namespace {

void AppendHclString(std::string* out, absl::string_view text) {
  out->push_back('"');
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool next_is_brace = i + 1 < text.size() && text[i + 1] == '{';
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      case '$':
        *out += next_is_brace ? "$$" : "$";
        break;
      case '%':
        *out += next_is_brace ? "%%" : "%";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", static_cast<unsigned char>(c));
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

// Reads the literal forms HclLiteral writes.
class LiteralReader {
 public:
  explicit LiteralReader(absl::string_view text) : text_(text) {}

  absl::StatusOr<CtyValue> ReadAll() {
    auto value = Read(0);
    if (!value.ok()) return value;
    Skip();
    if (pos_ != text_.size()) return Fail("unexpected text after the value");
    return value;
  }

 private:
  absl::Status Fail(absl::string_view why) const {
    return absl::InvalidArgumentError(
        absl::StrCat("HCL literal ", QuoteForMessage(text_), ": ", why, " at byte ", pos_));
  }
  void Skip() {
    while (pos_ < text_.size() && absl::ascii_isspace(static_cast<unsigned char>(text_[pos_]))) {
      ++pos_;
    }
  }
  bool Consume(char c) {
    Skip();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool ConsumeWord(absl::string_view word) {
    Skip();
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  absl::StatusOr<std::string> ReadString() {
    if (!Consume('"')) return Fail("expected a quoted string");
    std::string out;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      const char c = text_[pos_++];
      if ((c == '$' || c == '%') && pos_ + 1 < text_.size() && text_[pos_] == c &&
          text_[pos_ + 1] == '{') {
        out.push_back(c);
        ++pos_;
        continue;
      }
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) return Fail("unfinished escape");
      const char e = text_[pos_++];
      if (e == 'n')
        out.push_back('\n');
      else if (e == 'r')
        out.push_back('\r');
      else if (e == 't')
        out.push_back('\t');
      else if (e == 'u' && pos_ + 4 <= text_.size()) {
        unsigned code = 0;
        if (!absl::SimpleHexAtoi(text_.substr(pos_, 4), &code) || code >= 0x80) {
          return Fail("only \\u00XX escapes for control bytes are read");
        }
        out.push_back(static_cast<char>(code));
        pos_ += 4;
      } else
        out.push_back(e);
    }
    if (!Consume('"')) return Fail("unterminated string");
    return out;
  }

  absl::StatusOr<CtyValue> Read(int depth) {
    if (depth > kMaxCtyDepth) return Fail("nested too deeply");
    Skip();
    if (pos_ >= text_.size()) return Fail("expected a value");
    if (ConsumeWord("null")) return CtyValue::Null();
    if (ConsumeWord("true")) return CtyValue::Bool(true);
    if (ConsumeWord("false")) return CtyValue::Bool(false);
    const char c = text_[pos_];
    if (c == '"') {
      auto text = ReadString();
      if (!text.ok()) return text.status();
      return CtyValue::String(*text);
    }
    if (c == '[') {
      ++pos_;
      std::vector<CtyValue> items;
      while (!Consume(']')) {
        if (!items.empty() && !Consume(',')) return Fail("expected ',' or ']'");
        auto item = Read(depth + 1);
        if (!item.ok()) return item;
        items.push_back(*std::move(item));
      }
      return CtyValue::List(std::move(items));
    }
    if (c == '{') {
      ++pos_;
      std::vector<CtyValue::Entry> entries;
      while (!Consume('}')) {
        if (!entries.empty() && !Consume(',')) return Fail("expected ',' or '}'");
        auto key = ReadString();
        if (!key.ok()) return key.status();
        if (!Consume('=')) return Fail("expected '='");
        auto item = Read(depth + 1);
        if (!item.ok()) return item;
        entries.emplace_back(*std::move(key), *std::move(item));
      }
      return CtyValue::Map(std::move(entries));
    }
    size_t end = pos_;
    while (end < text_.size() && (absl::ascii_isalnum(static_cast<unsigned char>(text_[end])) ||
                                  text_[end] == '.' || text_[end] == '-' || text_[end] == '+')) {
      ++end;
    }
    auto number = CtyNumber::FromText(text_.substr(pos_, end - pos_));
    if (!number.has_value()) return Fail("expected null, true, false, a number, string, [ or {");
    pos_ = end;
    return CtyValue::Number(*std::move(number));
  }

  absl::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

std::string HclLiteral(const CtyValue& value) {
  switch (value.kind()) {
    case CtyValue::Kind::kNull:
      return "null";
    case CtyValue::Kind::kBool:
      return value.boolean() ? "true" : "false";
    case CtyValue::Kind::kNumber:
      return value.number().text();
    case CtyValue::Kind::kString: {
      std::string out;
      AppendHclString(&out, value.string());
      return out;
    }
    case CtyValue::Kind::kList: {
      std::vector<std::string> items;
      for (const CtyValue& item : value.items()) items.push_back(HclLiteral(item));
      return absl::StrCat("[", absl::StrJoin(items, ", "), "]");
    }
    case CtyValue::Kind::kMap: {
      std::vector<std::string> entries;
      for (const auto& [key, item] : value.entries()) {
        std::string entry;
        AppendHclString(&entry, key);
        absl::StrAppend(&entry, " = ", HclLiteral(item));
        entries.push_back(std::move(entry));
      }
      return absl::StrCat("{", absl::StrJoin(entries, ", "), "}");
    }
  }
  return "null";
}

absl::StatusOr<CtyValue> ParseHclLiteral(absl::string_view expression) {
  return LiteralReader(expression).ReadAll();
}

}  // namespace carp_exec::config
