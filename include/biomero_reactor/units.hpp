#pragma once
// Durations and byte sizes as operators write them in the configuration, and back.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace biomero_reactor {

// The program's one time unit for settings, timeouts and delays.
using Duration = std::chrono::milliseconds;

// `250ms`, `30s`, `5m`, `1h`, `2d` and combinations from the largest unit down (`1h30m`).
// Throws std::invalid_argument (bare numbers, negatives, junk); the loader adds the key.
[[nodiscard]] Duration parse_duration(std::string_view text);
// The shortest form parse_duration reads back: 5400000ms -> "1h30m".
[[nodiscard]] std::string format_duration(Duration d);

// Bytes: a plain integer, or an integer with B, kB/MB/GB/TB (powers of 1000) or
// KiB/MiB/GiB/TiB (powers of 1024), unit case-insensitive. Throws std::invalid_argument.
[[nodiscard]] std::uint64_t parse_size(std::string_view text);
// The largest whole binary unit parse_size reads back: 10737418240 -> "10GiB".
[[nodiscard]] std::string format_size(std::uint64_t bytes);

// A run of decimal digits as an unsigned number; nullopt when empty, on overflow, or if
// not all digits (no sign, no spaces).
[[nodiscard]] std::optional<std::uint64_t> parse_digits(std::string_view digits);

}  // namespace biomero_reactor
