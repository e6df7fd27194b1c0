#include "biomero_reactor/event_codec.hpp"

#include <algorithm>
#include <boost/json/stream_parser.hpp>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace biomero_reactor {
namespace {

namespace json = boost::json;

constexpr std::string_view type_key = "_type_";
constexpr std::string_view data_key = "_data_";

bool equals(const json::value& value, std::string_view text) {
  const json::string* string = value.if_string();
  return string != nullptr && *string == text;
}

bool is_typed(const json::object& object) {
  return object.size() == 2 && object.contains(type_key) && object.contains(data_key);
}

// A few bytes around a parse error, printable whatever the state holds.
std::string excerpt(std::string_view bytes, std::size_t at, std::size_t length = 16) {
  std::string out;
  for (const char c : bytes.substr(std::min(at, bytes.size()), length)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f) {
      out.push_back(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", byte);
      out += hex;
    }
  }
  return out;
}

// Where a value sits in the state, kept as references into the tree while it is walked
// (the walk costs nothing per level); rendered only for an error message, bounded.
struct PathStep {
  std::string_view key;  // object member, or empty with is_index
  std::size_t index = 0;
  bool is_index = false;
};
using Path = std::vector<PathStep>;

std::string field_name(const Path& path) {
  constexpr std::size_t max_rendered = 256;
  if (path.empty()) return "(root)";
  std::string out;
  for (const PathStep& step : path) {
    if (step.is_index) {
      out += "[" + std::to_string(step.index) + "]";
    } else {
      if (!out.empty()) out.push_back('.');
      out += excerpt(step.key, 0, 64);
    }
    if (out.size() > max_rendered) {
      out.resize(max_rendered);
      out += "...";
      break;
    }
  }
  return out;
}

void check_typed_value(const json::object& typed, const Path& path) {
  const json::value& type = typed.at(type_key);
  const json::value& data = typed.at(data_key);
  if (!type.is_string()) {
    throw CodecError("event state field '" + field_name(path) + "': _type_ is not a string");
  }
  const auto reject = [&](std::string_view what) {
    throw CodecError("event state field '" + field_name(path) + "': " + excerpt(type.get_string(), 0, 64) + " value " +
                     encode_excerpt(data) + " is not " + std::string(what));
  };
  if (equals(type, "uuid_hex")) {
    if (!data.is_string() || !Uuid::parse(data.get_string())) reject("a UUID");
  } else if (equals(type, "datetime_iso")) {
    if (!data.is_string() || !parse_datetime(data.get_string())) {
      reject("an ISO 8601 datetime with a UTC offset");
    }
  } else if (equals(type, "decimal_str")) {
    if (!data.is_string()) reject("a string");
  }
  // Other transcodings are kept as they are: reading them does not need to understand them.
}

// Recursion is bounded by the parser's depth cap (max_state_depth).
void check_typed_values(const json::value& value, Path& path) {
  if (const auto* array = value.if_array()) {
    for (std::size_t i = 0; i < array->size(); ++i) {
      if (!(*array)[i].is_structured()) continue;
      path.push_back({{}, i, true});
      check_typed_values((*array)[i], path);
      path.pop_back();
    }
  } else if (const auto* object = value.if_object()) {
    if (is_typed(*object)) {
      check_typed_value(*object, path);
      return;
    }
    for (const auto& [key, item] : *object) {
      if (!item.is_structured()) continue;
      path.push_back({key, 0, false});
      check_typed_values(item, path);
      path.pop_back();
    }
  }
}

// Python's json escapes exactly these; everything else, including DEL and
// non-ASCII, goes out raw (ensure_ascii=False).
void append_string(std::string& out, std::string_view text) {
  out.push_back('"');
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escape[7];
          std::snprintf(escape, sizeof escape, "\\u%04x", static_cast<unsigned>(c));
          out += escape;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

// Python's repr(float): the shortest digits that round-trip, positional
// for decimal exponents -4..15, otherwise d.ddde±XX.
void append_double(std::string& out, double number) {
  if (std::isnan(number)) {
    out += "NaN";
    return;
  }
  if (std::isinf(number)) {
    out += number < 0 ? "-Infinity" : "Infinity";
    return;
  }
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, number, std::chars_format::scientific);
  std::string_view scientific(buffer, static_cast<std::size_t>(result.ptr - buffer));
  if (scientific.front() == '-') {
    out.push_back('-');
    scientific.remove_prefix(1);
  }
  const std::size_t e_at = scientific.find('e');
  std::string digits;
  for (const char c : scientific.substr(0, e_at)) {
    if (c != '.') digits.push_back(c);
  }
  std::string_view exponent_text = scientific.substr(e_at + 1);
  const bool negative_exponent = exponent_text.front() == '-';
  exponent_text.remove_prefix(1);
  int exponent = 0;
  std::from_chars(exponent_text.data(), exponent_text.data() + exponent_text.size(), exponent);
  if (negative_exponent) exponent = -exponent;

  if (exponent < -4 || exponent >= 16) {
    out.push_back(digits.front());
    if (digits.size() > 1) {
      out.push_back('.');
      out.append(digits, 1);
    }
    out.push_back('e');
    out.push_back(negative_exponent ? '-' : '+');
    if (exponent_text.size() < 2) out.push_back('0');
    out += exponent_text;
  } else if (exponent < 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-exponent - 1), '0');
    out += digits;
  } else {
    const auto integer_digits = static_cast<std::size_t>(exponent) + 1;
    if (digits.size() <= integer_digits) {
      out += digits;
      out.append(integer_digits - digits.size(), '0');
      out += ".0";
    } else {
      out.append(digits, 0, integer_digits);
      out.push_back('.');
      out.append(digits, integer_digits);
    }
  }
}

void append_object(std::string& out, const json::object& object);

void append_value(std::string& out, const json::value& value) {
  switch (value.kind()) {
    case json::kind::null:
      out += "null";
      break;
    case json::kind::bool_:
      out += value.get_bool() ? "true" : "false";
      break;
    case json::kind::int64:
      out += std::to_string(value.get_int64());
      break;
    case json::kind::uint64:
      out += std::to_string(value.get_uint64());
      break;
    case json::kind::double_:
      append_double(out, value.get_double());
      break;
    case json::kind::string:
      append_string(out, value.get_string());
      break;
    case json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const json::value& item : value.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        append_value(out, item);
      }
      out.push_back(']');
      break;
    }
    case json::kind::object:
      append_object(out, value.get_object());
      break;
  }
}

void append_object(std::string& out, const json::object& object) {
  out.push_back('{');
  bool first = true;
  for (const auto& [key, item] : object) {
    if (!first) out.push_back(',');
    first = false;
    append_string(out, key);
    out.push_back(':');
    append_value(out, item);
  }
  out.push_back('}');
}

json::value typed(std::string_view type, std::string data) {
  return json::object{{type_key, type}, {data_key, std::move(data)}};
}

// The `_data_` string of a typed field, nullptr when the field is absent or null.
const json::string* typed_data(const json::object& state, std::string_view key, std::string_view type) {
  const auto field = state.find(key);
  if (field == state.end() || field->value().is_null()) return nullptr;
  const auto* object = field->value().if_object();
  if (object == nullptr || !is_typed(*object) || !equals(object->at(type_key), type) ||
      !object->at(data_key).is_string()) {
    throw CodecError("event state field '" + std::string(key) + "' is not a " + std::string(type) +
                     " value: " + encode_excerpt(field->value()));
  }
  return &object->at(data_key).get_string();
}

class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}

  bool digits(std::size_t count, int& value) {
    if (text_.size() - at_ < count) return false;
    value = 0;
    for (std::size_t i = 0; i < count; ++i) {
      if (!digit_here()) return false;
      value = value * 10 + (text_[at_++] - '0');
    }
    return true;
  }
  [[nodiscard]] bool digit_here() const { return at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9'; }
  int take_digit() { return text_[at_++] - '0'; }
  bool literal(char c) {
    if (at_ == text_.size() || text_[at_] != c) return false;
    ++at_;
    return true;
  }
  [[nodiscard]] bool at_end() const { return at_ == text_.size(); }

 private:
  std::string_view text_;
  std::size_t at_ = 0;
};

}  // namespace

json::object decode_state(std::string_view bytes) {
  if (bytes.empty()) throw CodecError("event state is empty");
  if (static_cast<unsigned char>(bytes.front()) == 0x78) {
    throw CodecError(
        "event state is not JSON (compressed or binary?): it starts with byte 0x78, a zlib header; "
        "the reactor reads uncompressed state only (is COMPRESSOR_TOPIC set for BIOMERO?)");
  }
  if (bytes.size() > max_state_bytes) {
    throw CodecError("event state is " + std::to_string(bytes.size()) + " bytes, more than the " +
                     std::to_string(max_state_bytes) + " an event may have");
  }
  json::parse_options options;
  options.max_depth = max_state_depth;
  json::stream_parser parser({}, options);
  boost::system::error_code error;
  const std::size_t used = parser.write(bytes.data(), bytes.size(), error);
  if (!error) parser.finish(error);
  if (error) {
    if (error == json::error::too_deep) {
      throw CodecError("event state is nested more than " + std::to_string(max_state_depth) + " levels deep (at byte " +
                       std::to_string(used) + ")");
    }
    throw CodecError("event state is not JSON (compressed or binary?): " + error.message() + " at byte " +
                     std::to_string(used) + " near '" + excerpt(bytes, used) + "'");
  }
  json::value state = parser.release();
  if (!state.is_object()) {
    throw CodecError("event state is JSON but not an object: " + excerpt(encode_value(state), 0));
  }
  Path path;
  check_typed_values(state, path);
  return std::move(state.get_object());
}

std::string encode_value(const json::value& value) {
  std::string out;
  append_value(out, value);
  return out;
}

std::string encode_excerpt(const json::value& value, std::size_t max_bytes) {
  std::string out = encode_value(value);
  if (out.size() > max_bytes) {
    // Cut on a character boundary: never in the middle of a UTF-8 sequence.
    std::size_t cut = max_bytes;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
    out += "...";
  }
  return out;
}

std::string encode_state(const json::object& state) {
  std::string out;
  append_object(out, state);
  return out;
}

json::value typed_uuid(const Uuid& id) {
  return typed("uuid_hex", id.hex());
}

json::value typed_datetime(TimePoint at) {
  return typed("datetime_iso", format_datetime(at));
}

std::optional<Uuid> get_uuid(const json::object& state, std::string_view key) {
  const json::string* data = typed_data(state, key, "uuid_hex");
  if (data == nullptr) return std::nullopt;
  auto id = Uuid::parse(*data);
  if (!id) throw CodecError("event state field '" + std::string(key) + "': '" + std::string(*data) + "' is not a UUID");
  return id;
}

std::optional<TimePoint> get_datetime(const json::object& state, std::string_view key) {
  const json::string* data = typed_data(state, key, "datetime_iso");
  if (data == nullptr) return std::nullopt;
  auto at = parse_datetime(*data);
  if (!at) {
    throw CodecError("event state field '" + std::string(key) + "': '" + std::string(*data) +
                     "' is not an ISO 8601 datetime with a UTC offset");
  }
  return at;
}

std::string format_datetime(TimePoint at) {
  using namespace std::chrono;
  const auto day = floor<days>(at);
  const year_month_day date{day};
  const hh_mm_ss time{at - day};
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d:%02d:%02d.%06lld+00:00", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                static_cast<int>(time.hours().count()), static_cast<int>(time.minutes().count()),
                static_cast<int>(time.seconds().count()), static_cast<long long>(time.subseconds().count()));
  return text;
}

std::optional<TimePoint> parse_datetime(std::string_view text) {
  using namespace std::chrono;
  Cursor in(text);
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (!(in.digits(4, y) && in.literal('-') && in.digits(2, mo) && in.literal('-') && in.digits(2, d) &&
        in.literal('T') && in.digits(2, h) && in.literal(':') && in.digits(2, mi) && in.literal(':') &&
        in.digits(2, s))) {
    return std::nullopt;
  }
  int micros = 0;
  if (in.literal('.')) {
    int fraction_digits = 0;
    for (; fraction_digits < 6 && in.digit_here(); ++fraction_digits) micros = micros * 10 + in.take_digit();
    if (fraction_digits == 0) return std::nullopt;
    for (; fraction_digits < 6; ++fraction_digits) micros *= 10;
  }
  minutes offset{0};
  if (!in.literal('Z')) {
    const int sign = in.literal('+') ? 1 : in.literal('-') ? -1 : 0;
    int offset_h = 0, offset_m = 0;
    if (sign == 0 || !in.digits(2, offset_h) || !in.literal(':') || !in.digits(2, offset_m) || offset_h > 23 ||
        offset_m > 59) {
      return std::nullopt;
    }
    offset = sign * (hours(offset_h) + minutes(offset_m));
  }
  const year_month_day date{year(y), month(static_cast<unsigned>(mo)), day(static_cast<unsigned>(d))};
  if (!in.at_end() || !date.ok() || h > 23 || mi > 59 || s > 59) return std::nullopt;
  return sys_days(date) + hours(h) + minutes(mi) + seconds(s) + microseconds(micros) - offset;
}

TimePoint now_us() {
  return std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
}

}  // namespace biomero_reactor
