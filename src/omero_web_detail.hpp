// Shared by the OMERO.web session's two source files: form encoding, tolerant JSON
// reading, the request sizes OMERO.web and gunicorn accept. Internal to src/.
#pragma once

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cctype>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "biomero_reactor/omero_http.hpp"

namespace biomero_reactor::omero_web_detail {

namespace json = boost::json;

// The JSON API caps `limit` at omero.web.api.max_limit (500 by default).
inline constexpr int api_page = 500;
// gunicorn refuses request lines over 4094 bytes: 200 "image=<id>&" fit well within.
inline constexpr std::size_t ids_per_read = 200;
inline constexpr int annotations_page = 5000;

inline std::string url_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

inline void add_field(std::string& form, std::string_view key, std::string_view value) {
  if (!form.empty()) form.push_back('&');
  form += url_encode(key);
  form.push_back('=');
  form += url_encode(value);
}

inline json::value parse_or_null(const std::string& body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  return ec ? json::value() : v;
}

inline std::int64_t int_at(const json::value& v, std::initializer_list<std::string_view> path) {
  const json::value* at = &v;
  for (const std::string_view key : path) {
    const json::object* o = at->if_object();
    if (o == nullptr || (at = o->if_contains(key)) == nullptr) return 0;
  }
  if (at->is_int64()) return at->get_int64();
  if (at->is_uint64()) return static_cast<std::int64_t>(at->get_uint64());
  return 0;
}

inline std::string string_at(const json::value& v, std::initializer_list<std::string_view> path) {
  const json::value* at = &v;
  for (const std::string_view key : path) {
    const json::object* o = at->if_object();
    if (o == nullptr || (at = o->if_contains(key)) == nullptr) return "";
  }
  if (const auto* s = at->if_string()) return std::string(*s);
  return "";
}

inline OmeroWebError broken_answer(const std::string& what) {
  return OmeroWebError(OmeroWebError::Kind::transient, 200, what + ": OMERO.web's answer is not what it should be");
}

}  // namespace biomero_reactor::omero_web_detail
