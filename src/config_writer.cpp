// describe(): the effective configuration as YAML that the loader reads back.
#include <yaml-cpp/yaml.h>

#include "biomero_reactor/config_keys.hpp"
#include "biomero_reactor/conninfo.hpp"

namespace biomero_reactor {

namespace {

class Writer {
 public:
  Writer() { out_ << YAML::BeginMap; }

  template <class T, class... Rules>
  void field(std::string_view section, std::string_view key, const T& value, const Rules&...) {
    enter(section);
    out_ << YAML::Key << std::string(key) << YAML::Value;
    if constexpr ((std::is_same_v<Rules, Redacted> || ...)) {
      quoted(redact_conninfo(value));
    } else if constexpr ((std::is_same_v<Rules, SizeUnits> || ...)) {
      out_ << format_size(value);
    } else {
      write(value);
    }
  }

  std::string text() {
    enter("");
    out_ << YAML::EndMap;
    return std::string(out_.c_str()) + "\n";
  }

 private:
  // Closes the open sections `section` is not in and opens the ones it is: the visitor
  // lists each section's keys together.
  void enter(std::string_view section) {
    std::vector<std::string> parts;
    for (std::size_t at = 0; at < section.size();) {
      const auto end = std::min(section.find('.', at), section.size());
      parts.emplace_back(section.substr(at, end - at));
      at = end + 1;
    }
    std::size_t common = 0;
    while (common < open_.size() && common < parts.size() && open_[common] == parts[common]) ++common;
    for (; open_.size() > common; open_.pop_back()) out_ << YAML::EndMap;
    for (; open_.size() < parts.size(); open_.push_back(parts[open_.size()]))
      out_ << YAML::Key << parts[open_.size()] << YAML::Value << YAML::BeginMap;
  }

  void quoted(const std::string& text) { out_ << YAML::DoubleQuoted << text; }
  // An empty block collection would print as a dangling line.
  void begin(bool empty, YAML::EMITTER_MANIP kind) {
    if (empty) out_ << YAML::Flow;
    out_ << kind;
  }

  void write(const std::string& value) { quoted(value); }
  void write(const std::filesystem::path& value) { quoted(value.string()); }
  void write(Duration value) { out_ << format_duration(value); }
  void write(bool value) { out_ << YAML::TrueFalseBool << value; }
  void write(const std::optional<bool>& value) {
    if (value)
      write(*value);
    else
      out_ << "auto";
  }
  void write(int value) { out_ << value; }
  void write(std::uint64_t value) { out_ << value; }
  void write(double value) { out_ << value; }
  void write(LabelsMode value) { out_ << std::string(to_string(value)); }
  template <class Item>
  void write(const std::vector<Item>& items) {
    begin(items.empty(), YAML::BeginSeq);
    for (const auto& item : items) write(item);
    out_ << YAML::EndSeq;
  }
  void write(const std::map<std::int64_t, std::string>& names) {
    begin(names.empty(), YAML::BeginMap);
    for (const auto& [id, name] : names) out_ << YAML::Key << id << YAML::Value << YAML::DoubleQuoted << name;
    out_ << YAML::EndMap;
  }
  void write(const std::map<std::string, Destination>& groups) {
    begin(groups.empty(), YAML::BeginMap);
    for (const auto& [group, destination] : groups) {
      out_ << YAML::Key << YAML::DoubleQuoted << group << YAML::Value << YAML::BeginMap;
      out_ << YAML::Key << "type" << YAML::Value << YAML::DoubleQuoted << destination.type;
      out_ << YAML::Key << "id" << YAML::Value << YAML::DoubleQuoted << destination.id;
      out_ << YAML::EndMap;
    }
    out_ << YAML::EndMap;
  }

  YAML::Emitter out_;
  std::vector<std::string> open_;
};

}  // namespace

std::string describe(const Config& config) {
  Writer writer;
  visit_config(config, writer);
  return writer.text();
}

}  // namespace biomero_reactor
