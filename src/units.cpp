#include "biomero_reactor/units.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <utility>

namespace biomero_reactor {

namespace {

std::string in_quotes(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}


struct Unit {
  std::string_view name;
  std::int64_t ms;
};
// Largest first: a combined duration must name its units in this order, each once.
constexpr std::array<Unit, 5> duration_units{
    {{"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}}};

}  // namespace

std::optional<std::uint64_t> parse_digits(std::string_view digits) {
  std::uint64_t value = 0;
  if (digits.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

Duration parse_duration(std::string_view text) {
  const auto invalid = [&](std::string_view why) {
    return std::invalid_argument(in_quotes(text) + " is not a duration" + std::string(why) + " (use e.g. 30s, 5m, 1h)");
  };
  if (text.empty()) throw invalid("");
  std::int64_t total = 0;
  std::size_t next_unit = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t digits_at = i;
    while (i < text.size() && is_digit(text[i])) ++i;
    const auto number = parse_digits(text.substr(digits_at, i - digits_at));
    if (!number) throw invalid(digits_at == i ? "" : ": the number is too large");
    const std::size_t unit_at = i;
    while (i < text.size() && is_alpha(text[i])) ++i;
    const auto unit_name = text.substr(unit_at, i - unit_at);
    if (unit_name.empty()) throw invalid(i == text.size() ? ": it has no unit" : "");
    std::size_t unit = next_unit;
    while (unit < duration_units.size() && duration_units[unit].name != unit_name) ++unit;
    if (unit == duration_units.size()) throw invalid("");
    next_unit = unit + 1;
    const auto ms = duration_units[unit].ms;
    if (*number > static_cast<std::uint64_t>((std::numeric_limits<std::int64_t>::max() - total) / ms))
      throw invalid(": it is too long");
    total += static_cast<std::int64_t>(*number) * ms;
  }
  return Duration(total);
}

std::string format_duration(Duration d) {
  if (d.count() == 0) return "0s";
  std::string out;
  std::int64_t rest = d.count();
  if (rest < 0) {
    out = "-";
    rest = -rest;
  }
  for (const auto& unit : duration_units) {
    if (rest >= unit.ms) {
      out += std::to_string(rest / unit.ms) + std::string(unit.name);
      rest %= unit.ms;
    }
  }
  return out;
}

std::uint64_t parse_size(std::string_view text) {
  const auto invalid = [&] {
    return std::invalid_argument(in_quotes(text) + " is not a size (use e.g. 500MB, 10GiB or a number of bytes)");
  };
  std::size_t i = 0;
  while (i < text.size() && is_digit(text[i])) ++i;
  const auto number = parse_digits(text.substr(0, i));
  if (!number) throw invalid();
  while (i < text.size() && text[i] == ' ') ++i;
  std::string unit(text.substr(i));
  std::transform(unit.begin(), unit.end(), unit.begin(),
                 [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c); });
  static const std::map<std::string, std::uint64_t, std::less<>> units{
      {"", 1},
      {"b", 1},
      {"kb", 1'000},
      {"mb", 1'000'000},
      {"gb", 1'000'000'000},
      {"tb", 1'000'000'000'000},
      {"kib", std::uint64_t{1} << 10},
      {"mib", std::uint64_t{1} << 20},
      {"gib", std::uint64_t{1} << 30},
      {"tib", std::uint64_t{1} << 40},
  };
  const auto found = units.find(unit);
  if (found == units.end() || (unit.empty() && i != text.size())) throw invalid();
  if (*number > std::numeric_limits<std::uint64_t>::max() / found->second) throw invalid();
  return *number * found->second;
}

std::string format_size(std::uint64_t bytes) {
  for (const auto& [suffix, shift] : {std::pair{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}}) {
    const auto unit = std::uint64_t{1} << shift;
    if (bytes != 0 && bytes % unit == 0) return std::to_string(bytes / unit) + suffix;
  }
  return std::to_string(bytes);
}

}  // namespace biomero_reactor
