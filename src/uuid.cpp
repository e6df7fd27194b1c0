#include "biomero_reactor/uuid.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <ostream>
#include <stdexcept>

namespace biomero_reactor {
namespace {

constexpr std::string_view hex_digits = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<Uuid> parse_hex32(std::string_view hex) {
  Uuid id;
  for (std::size_t i = 0; i < id.bytes.size(); ++i) {
    const int high = hex_value(hex[2 * i]);
    const int low = hex_value(hex[2 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    id.bytes[i] = static_cast<std::uint8_t>(high << 4 | low);
  }
  return id;
}

void set_version_and_variant(Uuid& id, std::uint8_t version) {
  id.bytes[6] = static_cast<std::uint8_t>((id.bytes[6] & 0x0f) | version << 4);
  id.bytes[8] = static_cast<std::uint8_t>((id.bytes[8] & 0x3f) | 0x80);
}

}  // namespace

std::optional<Uuid> Uuid::parse(std::string_view text) {
  if (text.size() == 32) return parse_hex32(text);
  if (text.size() != 36) return std::nullopt;
  std::string hex;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool hyphen_place = i == 8 || i == 13 || i == 18 || i == 23;
    if ((text[i] == '-') != hyphen_place) return std::nullopt;
    if (!hyphen_place) hex.push_back(text[i]);
  }
  return parse_hex32(hex);
}

std::string Uuid::hex() const {
  std::string out;
  out.reserve(32);
  for (const std::uint8_t byte : bytes) {
    out.push_back(hex_digits[byte >> 4]);
    out.push_back(hex_digits[byte & 0x0f]);
  }
  return out;
}

std::string Uuid::str() const {
  std::string out = hex();
  for (const std::size_t at : {8, 13, 18, 23}) out.insert(at, 1, '-');
  return out;
}

std::ostream& operator<<(std::ostream& out, const Uuid& id) {
  return out << id.str();
}

Uuid uuid5(const Uuid& ns, std::string_view name) {
  std::string message(ns.bytes.begin(), ns.bytes.end());
  message.append(name);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  if (EVP_Digest(message.data(), message.size(), digest, &digest_size, EVP_sha1(), nullptr) != 1 || digest_size < 16) {
    throw std::runtime_error("uuid5: SHA-1 digest failed in OpenSSL");
  }
  Uuid id;
  std::copy_n(digest, id.bytes.size(), id.bytes.begin());
  set_version_and_variant(id, 5);
  return id;
}

Uuid random_uuid4() {
  Uuid id;
  if (RAND_bytes(id.bytes.data(), static_cast<int>(id.bytes.size())) != 1) {
    throw std::runtime_error("random_uuid4: OpenSSL RAND_bytes failed");
  }
  set_version_and_variant(id, 4);
  return id;
}

namespace {
// RFC 4122's NAMESPACE_URL.
const Uuid& namespace_url() {
  static const Uuid ns = *Uuid::parse("6ba7b811-9dad-11d1-80b4-00c04fd430c8");
  return ns;
}
}  // namespace

const Uuid& reactor_namespace() {
  static const Uuid ns = uuid5(namespace_url(), "biomero-reactor");
  return ns;
}

const Uuid& order_namespace() {
  static const Uuid ns = uuid5(namespace_url(), "biomero-reactor/order");
  return ns;
}

}  // namespace biomero_reactor
