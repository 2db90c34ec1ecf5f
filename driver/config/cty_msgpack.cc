#include "driver/config/cty_msgpack.h"

#include <algorithm>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "driver/config/cty_type.h"
#include "msgpack.hpp"

namespace carp_exec::config {
namespace {

// Configs are small; these bound memory for hostile input (each value costs about 160
// bytes in the tree, and every value needs at least one input byte).
constexpr size_t kMaxInputBytes = 1 << 20;
constexpr size_t kMaxValues = 1 << 18;

// Builds the tree while msgpack-cxx walks the bytes. Returning false stops the parser;
// the reason is kept in error_.
class TreeBuilder : public msgpack::null_visitor {
 public:
  explicit TreeBuilder(size_t input_size) : input_size_(input_size) {}

  bool visit_nil() { return Place(CtyValue::Null()); }
  bool visit_boolean(bool v) { return Place(CtyValue::Bool(v)); }
  bool visit_positive_integer(uint64_t v) {
    return Place(CtyValue::Number(CtyNumber::Unsigned(v)));
  }
  bool visit_negative_integer(int64_t v) { return Place(CtyValue::Number(CtyNumber::Integer(v))); }
  bool visit_float32(float v) {
    return Place(CtyValue::Number(CtyNumber::Float(static_cast<double>(v))));
  }
  bool visit_float64(double v) { return Place(CtyValue::Number(CtyNumber::Float(v))); }
  bool visit_str(const char* v, uint32_t size) { return PlaceText(v, size, false); }
  bool visit_bin(const char* v, uint32_t size) { return PlaceText(v, size, true); }
  bool visit_ext(const char* v, uint32_t size) {
    const int type = size > 0 ? static_cast<signed char>(v[0]) : 0;
    return Fail(absl::StrCat(PathHere(), " is an unknown value (msgpack ext type ", type,
                             "); Nomad sends only known values, so check the encoder"));
  }
  bool start_array(uint32_t count) {
    if (count > input_size_) return FailSize("list", count);
    return Open(CtyValue::List({}), /*is_map=*/false);
  }
  bool end_array() {
    stack_.pop_back();
    return true;
  }
  bool start_map(uint32_t count) {
    if (count > input_size_ / 2) return FailSize("map", count);
    return Open(CtyValue::Map({}), /*is_map=*/true);
  }
  bool start_map_key() {
    stack_.back().expecting_key = true;
    return true;
  }
  bool end_map_key() {
    stack_.back().expecting_key = false;
    return true;
  }
  bool end_map() {
    const auto& entries = stack_.back().container->entries();
    std::vector<absl::string_view> keys;
    keys.reserve(entries.size());
    for (const auto& entry : entries) keys.push_back(entry.first);
    std::sort(keys.begin(), keys.end());
    auto duplicate = std::adjacent_find(keys.begin(), keys.end());
    if (duplicate != keys.end()) {
      return Fail(absl::StrCat(PathHere(stack_.size() - 1), " has the key ",
                               QuoteForMessage(*duplicate), " twice; each key may appear once"));
    }
    stack_.pop_back();
    return true;
  }
  void parse_error(size_t parsed_offset, size_t error_offset) {
    if (error_.empty()) {
      error_ = absl::StrCat("invalid msgpack at byte ", error_offset, " (inside ", PathHere(), ")");
    }
  }
  void insufficient_bytes(size_t parsed_offset, size_t error_offset) {
    if (error_.empty()) {
      error_ = absl::StrCat("truncated: the input ends inside ", PathHere(), " after ", input_size_,
                            " bytes");
    }
  }

  CtyValue TakeRoot() { return std::move(root_); }
  const std::string& error() const { return error_; }

 private:
  struct Frame {
    CtyValue* container;
    bool is_map;
    bool expecting_key = false;
    std::string key;
  };

  bool Fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }
  bool FailSize(absl::string_view what, uint32_t count) {
    return Fail(absl::StrCat(PathHere(), " claims a ", what, " of ", count,
                             " entries, more than the ", input_size_, "-byte input can hold"));
  }

  // Where the next value goes, as "failover.vip[2]", "args[0]" or "the top-level value".
  // `frames` limits the walk to the outer containers (to name a map itself).
  std::string PathHere(size_t frames = SIZE_MAX) const {
    std::string path;
    for (size_t i = 0; i < stack_.size() && i < frames; ++i) {
      const Frame& frame = stack_[i];
      if (frame.is_map) {
        if (frame.expecting_key) return path.empty() ? "a map key" : absl::StrCat(path, " (a key)");
        if (!path.empty()) path += ".";
        path += frame.key;
      } else {
        // A frame with an open container inside it already holds that container.
        const size_t held = frame.container->items().size();
        absl::StrAppend(&path, "[", i + 1 < stack_.size() && held > 0 ? held - 1 : held, "]");
      }
    }
    return path.empty() ? "the top-level value" : path;
  }

  // Appends `value` where the parser is; returns nullptr after recording an error.
  CtyValue* Insert(CtyValue value) {
    if (++values_ > kMaxValues) {
      Fail(absl::StrCat("more than ", kMaxValues, " values; config input is far smaller"));
      return nullptr;
    }
    if (stack_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    Frame& top = stack_.back();
    if (top.is_map && top.expecting_key) {
      Fail(absl::StrCat(PathHere(), " is ", DescribeValue(value),
                        "; cty map and object keys are strings"));
      return nullptr;
    }
    if (top.is_map) {
      auto& entries = top.container->mutable_entries();
      // The key stays in the frame so errors inside a nested value can name it.
      entries.emplace_back(top.key, std::move(value));
      return &entries.back().second;
    }
    auto& items = top.container->mutable_items();
    items.push_back(std::move(value));
    return &items.back();
  }

  bool Place(CtyValue value) { return Insert(std::move(value)) != nullptr; }

  bool PlaceText(const char* data, uint32_t size, bool binary) {
    if (!stack_.empty() && stack_.back().is_map && stack_.back().expecting_key) {
      stack_.back().key.assign(data, size);
      return true;
    }
    return Place(CtyValue::String(absl::string_view(data, size), binary));
  }

  bool Open(CtyValue container, bool is_map) {
    if (stack_.size() >= static_cast<size_t>(kMaxCtyDepth)) {
      return Fail(absl::StrCat(PathHere(), " is nested deeper than ", kMaxCtyDepth, " levels"));
    }
    // Pointers on the stack stay valid: a container's vector only grows while it is the
    // innermost open container, and by then its children are closed.
    CtyValue* placed = Insert(std::move(container));
    if (placed == nullptr) return false;
    stack_.push_back(Frame{placed, is_map, false, {}});
    return true;
  }

  size_t input_size_;
  size_t values_ = 0;
  std::vector<Frame> stack_;
  CtyValue root_;
  std::string error_;
};

absl::Status Invalid(absl::string_view what, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", message));
}

}  // namespace

absl::StatusOr<CtyValue> DecodeCtyMsgpack(absl::string_view bytes, absl::string_view what) {
  if (bytes.empty()) return Invalid(what, "no bytes; expected one msgpack value");
  if (bytes.size() > kMaxInputBytes) {
    return Invalid(what, absl::StrCat(bytes.size(), " bytes is more than the ", kMaxInputBytes,
                                      "-byte limit for a config"));
  }
  try {
    auto builder = std::make_unique<TreeBuilder>(bytes.size());
    size_t offset = 0;
    const bool ok = msgpack::parse(bytes.data(), bytes.size(), offset, *builder);
    if (!ok) {
      return Invalid(what, builder->error().empty() ? "invalid msgpack" : builder->error());
    }
    if (offset != bytes.size()) {
      return Invalid(what, absl::StrCat(bytes.size() - offset, " trailing bytes after the value",
                                        " ending at byte ", offset, "; send exactly one value"));
    }
    return builder->TakeRoot();
  } catch (const std::exception& e) {
    return Invalid(what, absl::StrCat("invalid msgpack: ", e.what()));
  } catch (...) {
    return Invalid(what, "invalid msgpack");
  }
}

absl::StatusOr<CtyValue> UnwrapDynamic(const CtyValue& wrapped, absl::string_view path) {
  return UnwrapDynamicValue(wrapped, path, 0);
}

}  // namespace carp_exec::config
