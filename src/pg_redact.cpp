// Hiding passwords in libpq's messages (redact_secrets, declared in pg.hpp).
#include "biomero_reactor/pg.hpp"

#include <algorithm>
#include <string>
#include <vector>

namespace biomero_reactor::pg {

namespace {

struct Range {
  std::size_t begin, end;
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoded where well formed; anything else kept as it is.
std::string percent_decoded(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// Where the conninfo holds a password, read as leniently as possible: the text may be
// exactly what libpq could not parse.
// - URI: from the first ':' of the user info to the last '@' (a password with an
//   unencoded '@' or '%' included), and every `password=` in the query;
// - keywords: the value after every `password =`, quoted or not, up to its end.
std::vector<Range> password_ranges(std::string_view conninfo) {
  std::vector<Range> ranges;
  const std::size_t scheme_end = conninfo.find("://");
  if (scheme_end != std::string_view::npos) {
    const std::size_t authority = scheme_end + 3;
    const std::size_t at = conninfo.rfind('@');
    const std::size_t colon = conninfo.find(':', authority);
    if (at != std::string_view::npos && at > authority && colon < at) ranges.push_back({colon + 1, at});
    for (std::size_t key = conninfo.find("password=", authority); key != std::string_view::npos;
         key = conninfo.find("password=", key + 1)) {
      if (key == 0 || (conninfo[key - 1] != '?' && conninfo[key - 1] != '&')) continue;
      const std::size_t value = key + 9;
      ranges.push_back({value, std::min(conninfo.find('&', value), conninfo.size())});
    }
    return ranges;
  }
  for (std::size_t key = conninfo.find("password"); key != std::string_view::npos;
       key = conninfo.find("password", key + 1)) {
    std::size_t i = key + 8;
    while (i < conninfo.size() && conninfo[i] == ' ') ++i;
    if (i == conninfo.size() || conninfo[i] != '=') continue;
    ++i;
    while (i < conninfo.size() && conninfo[i] == ' ') ++i;
    std::size_t end = i;
    if (end < conninfo.size() && conninfo[end] == '\'') {
      for (++end; end < conninfo.size() && conninfo[end] != '\''; ++end) {
        if (conninfo[end] == '\\') ++end;
      }
      end = std::min(end + 1, conninfo.size());
    } else {
      while (end < conninfo.size() && conninfo[end] != ' ') ++end;
    }
    ranges.push_back({i, end});
  }
  return ranges;
}

bool overlaps(std::string_view conninfo, std::string_view part, const std::vector<Range>& secrets) {
  if (part.empty()) return false;
  for (std::size_t at = conninfo.find(part); at != std::string_view::npos; at = conninfo.find(part, at + 1)) {
    for (const Range& r : secrets) {
      if (at < r.end && r.begin < at + part.size()) return true;
    }
  }
  return false;
}

void replace_all(std::string& text, std::string_view what, std::string_view with) {
  if (what.empty()) return;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + with.size())) {
    text.replace(at, what.size(), with);
  }
}

}  // namespace

std::string redact_secrets(std::string_view message, std::string_view conninfo) {
  constexpr std::string_view hidden = "(password hidden)";
  const std::vector<Range> secrets = password_ranges(conninfo);
  if (secrets.empty()) return std::string(message);
  std::string out(message);
  // Quoted parts of the message that come from the password's place in the conninfo
  // (libpq quotes the token it could not parse, or the whole URI).
  std::string redacted;
  for (std::size_t i = 0; i < out.size();) {
    const std::size_t open = out.find('"', i);
    const std::size_t close = open == std::string::npos ? std::string::npos : out.find('"', open + 1);
    if (close == std::string::npos) {
      redacted.append(out, i);
      break;
    }
    redacted.append(out, i, open + 1 - i);
    const std::string_view quoted = std::string_view(out).substr(open + 1, close - open - 1);
    redacted += overlaps(conninfo, quoted, secrets) ? std::string(hidden) : std::string(quoted);
    redacted.push_back('"');
    i = close + 1;
  }
  out = std::move(redacted);
  // The password anywhere else, as written and percent-decoded, whole and between '@'s.
  for (const Range& r : secrets) {
    const std::string_view raw = conninfo.substr(r.begin, r.end - r.begin);
    std::vector<std::string> forms{std::string(raw), percent_decoded(raw)};
    for (std::size_t piece = 0; piece <= raw.size();) {
      const std::size_t at = std::min(raw.find('@', piece), raw.size());
      forms.emplace_back(raw.substr(piece, at - piece));
      piece = at + 1;
    }
    std::sort(forms.begin(), forms.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
    for (const std::string& form : forms) {
      if (form.size() >= 4) replace_all(out, form, hidden);
    }
  }
  return out;
}

}  // namespace biomero_reactor::pg
