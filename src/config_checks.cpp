// The rules one key's value must follow, and the visitors that apply them and list the keys.
#include <charconv>
#include <sstream>
#include <stdexcept>

#include "biomero_reactor/config_keys.hpp"

namespace biomero_reactor {

namespace {

std::string in_quotes(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

template <class T>
std::string shown(const T& value) {
  if constexpr (std::is_same_v<T, Duration>) {
    return format_duration(value);
  } else {
    std::ostringstream out;
    out << value;
    return out.str();
  }
}

std::optional<std::uint64_t> parse_port(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value < 1 || value > 65535)
    return std::nullopt;
  return value;
}

class Checker {
 public:
  explicit Checker(const std::map<std::string, std::string>& origins) : origins_(origins) {}

  template <class T, class... Rules>
  void field(std::string_view section, std::string_view key, T& value, const Rules&... rules) {
    const auto name = std::string(section) + "." + std::string(key);
    try {
      (apply(rules, value), ...);
    } catch (const std::invalid_argument& e) {
      const auto origin = origins_.find(name);
      throw ConfigError(name, e.what(), origin == origins_.end() ? "" : origin->second);
    }
  }

 private:
  template <class Rule, class T>
  static void apply(const Rule& rule, T& value) {
    if constexpr (!is_marker<Rule>) rule(value);
  }

  const std::map<std::string, std::string>& origins_;
};

struct KeyLister {
  std::vector<std::string> keys;
  template <class T, class... Rules>
  void field(std::string_view section, std::string_view key, const T&, const Rules&...) {
    keys.push_back(std::string(section) + "." + std::string(key));
  }
};

}  // namespace

template <class T>
void AtLeast<T>::operator()(const T& value) const {
  if (value < least) throw std::invalid_argument(shown(value) + " is too small (at least " + shown(least) + ")");
}
template <class T>
void AtMost<T>::operator()(const T& value) const {
  if (value > most) throw std::invalid_argument(shown(value) + " is too large (at most " + shown(most) + ")");
}
template struct AtLeast<int>;
template struct AtLeast<std::uint64_t>;
template struct AtLeast<double>;
template struct AtLeast<Duration>;
template struct AtMost<int>;

void Positive::operator()(const Duration& value) const {
  if (value.count() <= 0) throw std::invalid_argument("must be longer than 0s");
}

void OneOf::operator()(const std::string& value) const {
  std::string list;
  for (auto a : allowed) {
    if (value == a) return;
    list += (list.empty() ? "" : ", ") + std::string(a);
  }
  throw std::invalid_argument(in_quotes(value) + " is not one of " + list);
}

void AbsolutePath::operator()(const std::string& value) const {
  if (value.empty() && may_be_empty) return;
  if (value.empty()) throw std::invalid_argument("expected a path, got an empty value");
  // The daemon's working directory is not meaningful.
  if (value.front() != '/') throw std::invalid_argument(in_quotes(value) + " is not an absolute path");
}

void FileIfPresent::operator()(const std::filesystem::path& value) const {
  std::error_code ec;
  const auto st = std::filesystem::status(value, ec);  // follows links: what a read would open
  if (st.type() == std::filesystem::file_type::not_found || st.type() == std::filesystem::file_type::regular) return;
  if (st.type() == std::filesystem::file_type::directory)
    throw std::invalid_argument(in_quotes(value.string()) + " is a directory; expected a file");
  if (ec) return;  // unreadable parents etc.: reported when the file is read
  throw std::invalid_argument(in_quotes(value.string()) + " is not a regular file");
}

void FileIfPresent::operator()(const std::vector<std::filesystem::path>& values) const {
  for (const auto& v : values) (*this)(v);
}

void PathTemplate::operator()(const std::string& value) const {
  if (value.empty() && may_be_empty) return;
  AbsolutePath{}(value);
  (void)expand_template(value, "1", "w");
  if (needs_job_id && value.find("{job_id}") == std::string::npos)
    throw std::invalid_argument(in_quotes(value) + " lacks {job_id}: every job would use the same path");
}

void OmeroId::operator()(std::string& value) const {
  if (value.empty()) return;
  std::int64_t id = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), id);
  if (ec != std::errc{} || end != value.data() + value.size() || id < 1)
    throw std::invalid_argument(in_quotes(value) + " is not an OMERO id (a positive whole number)");
  value = std::to_string(id);
}

void HostPort::operator()(const std::string& value) const {
  if (value.empty()) return;
  const auto colon = value.rfind(':');
  if (colon == std::string::npos || colon == 0 || !parse_port(std::string_view(value).substr(colon + 1)))
    throw std::invalid_argument(in_quotes(value) + " is not host:port (e.g. 127.0.0.1:9464)");
}

void HttpUrl::operator()(const std::string& value) const {
  if (value.empty()) return;
  const auto scheme_end = value.find("://");
  const auto scheme = std::string_view(value).substr(0, scheme_end);
  if (scheme_end == std::string::npos || (scheme != "http" && scheme != "https"))
    throw std::invalid_argument("expected a URL starting with http:// or https://");
  const auto host_at = scheme_end + 3;
  const auto authority = std::string_view(value).substr(host_at, value.find_first_of("/?#", host_at) - host_at);
  // Not echoed: the part before '@' may be a password.
  if (authority.find('@') != std::string_view::npos)
    throw std::invalid_argument("must not hold credentials (use omero.web.username and password_file)");
  const auto port_at = authority.rfind(':');
  const bool bracketed = !authority.empty() && authority.front() == '[';
  const auto host = port_at == std::string_view::npos || (bracketed && authority.back() == ']')
                        ? authority
                        : authority.substr(0, port_at);
  if (host.empty() || host == "[]") throw std::invalid_argument(in_quotes(value) + " has no host");
  if (host.size() != authority.size() && !parse_port(authority.substr(port_at + 1)))
    throw std::invalid_argument(in_quotes(value) + " has an invalid port");
}

std::vector<std::string> config_keys() {
  KeyLister lister;
  const Config config;
  visit_config(config, lister);
  return std::move(lister.keys);
}

void check_config_values(Config& config, const std::map<std::string, std::string>& origins) {
  Checker checker(origins);
  visit_config(config, checker);
}

}  // namespace biomero_reactor
