// A UUID as 16 bytes: strict parsing (it gates file-system paths, so only the
// canonical hyphenated and the 32-hex forms pass), the lowercase text forms
// BIOMERO stores, name-based v5 ids for deterministic tasks and upload orders,
// and random v4 ids.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

namespace biomero_reactor {

struct Uuid {
  std::array<std::uint8_t, 16> bytes{};

  // "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" or 32 hex digits, either case;
  // anything else (braces, "urn:uuid:", whitespace, misplaced hyphens) is nullopt.
  [[nodiscard]] static std::optional<Uuid> parse(std::string_view text);

  // Lowercase, hyphenated, 36 characters: the form used in paths and tables.
  [[nodiscard]] std::string str() const;
  // Lowercase, 32 characters: the form of BIOMERO's "uuid_hex" event values.
  [[nodiscard]] std::string hex() const;

  friend bool operator==(const Uuid&, const Uuid&) = default;
  friend std::strong_ordering operator<=>(const Uuid&, const Uuid&) = default;
};

std::ostream& operator<<(std::ostream& out, const Uuid& id);

// RFC 4122 version 5 (SHA-1 of namespace bytes followed by name).
[[nodiscard]] Uuid uuid5(const Uuid& ns, std::string_view name);

// The namespaces of every UUIDv5 the reactor derives. Frozen: import task and order
// ids of existing deployments depend on them.
//   reactor_namespace() = uuid5(NAMESPACE_URL, "biomero-reactor")        (import tasks)
//   order_namespace()   = uuid5(NAMESPACE_URL, "biomero-reactor/order")  (upload orders)
[[nodiscard]] const Uuid& reactor_namespace();
[[nodiscard]] const Uuid& order_namespace();

// RFC 4122 version 4 from OpenSSL's CSPRNG; throws std::runtime_error if it fails.
[[nodiscard]] Uuid random_uuid4();

}  // namespace biomero_reactor
