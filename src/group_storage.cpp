#include "biomero_reactor/group_storage.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/json/stream_parser.hpp>
#include <boost/json/value.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "biomero_reactor/fs_util.hpp"

namespace biomero_reactor {

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

const fs::path default_base_dir = "/data";

std::string in_quotes(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

std::optional<std::string> read_file(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return std::nullopt;
  // A directory reads as an empty file: it would silently mean "no settings".
  if (fs::is_directory(file, ec)) throw GroupStorageError(file.string() + ": is a directory, not a file");
  std::ifstream in(file, std::ios::binary);
  if (!in) throw GroupStorageError(file.string() + ": cannot be read: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw GroupStorageError(file.string() + ": cannot be read");
  return text.str();
}

fs::path read_base_dir(const Config& config, std::vector<std::string>& warnings) {
  if (!config.importer.base_dir_override.empty()) return config.importer.base_dir_override;
  const auto& file = config.importer.settings;
  const auto text = read_file(file);
  if (!text) {
    warnings.push_back("importer settings " + file.string() + " not found; using base_dir " +
                       default_base_dir.string());
    return default_base_dir;
  }
  YAML::Node root;
  try {
    root = YAML::Load(*text);
  } catch (const YAML::Exception& e) {
    throw GroupStorageError("importer settings " + file.string() + ": line " + std::to_string(e.mark.line + 1) + ": " +
                            e.msg);
  }
  if (root.IsDefined() && !root.IsNull() && !root.IsMap())
    throw GroupStorageError("importer settings " + file.string() + ": expected a mapping of keys");
  const auto base_dir = root.IsMap() ? root["base_dir"] : YAML::Node();
  if (!base_dir.IsDefined() || base_dir.IsNull()) {
    warnings.push_back("importer settings " + file.string() + " has no base_dir; using " + default_base_dir.string());
    return default_base_dir;
  }
  if (!base_dir.IsScalar() || base_dir.Scalar().empty() || base_dir.Scalar().front() != '/')
    throw GroupStorageError("importer settings " + file.string() + ": base_dir must be an absolute path");
  return base_dir.Scalar();
}

json::value parse_json(const std::string& text, const fs::path& file) {
  json::stream_parser parser;
  boost::system::error_code ec;
  const auto consumed = parser.write(text.data(), text.size(), ec);
  if (!ec) parser.finish(ec);
  if (ec) {
    const auto upto = text.substr(0, std::min(consumed, text.size()));
    const auto line = std::count(upto.begin(), upto.end(), '\n') + 1;
    throw GroupStorageError("group mappings " + file.string() + ": not valid JSON (line " + std::to_string(line) +
                            "): " + ec.message());
  }
  return parser.release();
}

bool is_group_id(std::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// biomero-config.json keeps the mappings under "group_mappings"; group-mappings.json is
// the mapping object itself. A file with other keys but no "group_mappings" has none.
const json::object* mappings_in(const json::object& top, const fs::path& file, std::vector<std::string>& warnings) {
  if (const auto* nested = top.if_contains("group_mappings")) {
    if (const auto* object = nested->if_object()) return object;
    warnings.push_back("group mappings " + file.string() + ": \"group_mappings\" is not an object; ignored");
    return nullptr;
  }
  if (std::all_of(top.begin(), top.end(), [](const auto& entry) { return is_group_id(entry.key()); })) return &top;
  warnings.push_back("group mappings " + file.string() + " has no \"group_mappings\"; ignored");
  return nullptr;
}

std::string string_field(const json::object& entry, std::string_view field, const std::string& where,
                         std::vector<std::string>& warnings) {
  const auto* value = entry.if_contains(field);
  if (value == nullptr || value->is_null()) return {};
  if (const auto* text = value->if_string()) return std::string(text->c_str(), text->size());
  warnings.push_back(where + ": \"" + std::string(field) + "\" is not a string; ignored");
  return {};
}

void merge_mappings(const fs::path& file, StorageSettings& settings) {
  const auto text = read_file(file);
  if (!text) {
    settings.warnings.push_back("group mappings " + file.string() + " not found; skipped");
    return;
  }
  const auto document = parse_json(*text, file);
  const auto* top = document.if_object();
  if (top == nullptr) throw GroupStorageError("group mappings " + file.string() + ": expected a JSON object");
  const auto* mappings = mappings_in(*top, file, settings.warnings);
  if (mappings == nullptr) return;
  for (const auto& [key, value] : *mappings) {
    const std::string id(key);
    const auto where = "group mappings " + file.string() + ": group " + in_quotes(id);
    GroupMapping mapping;
    // Like BIOMERO, a non-object entry still replaces an earlier file's mapping for the id.
    if (const auto* entry = value.if_object()) {
      mapping.folder = string_field(*entry, "folder", where, settings.warnings);
      mapping.group_name = string_field(*entry, "groupName", where, settings.warnings);
    } else {
      settings.warnings.push_back(where + " is not an object; ignored");
    }
    if (!settings.mappings.contains(id)) settings.mapping_order.push_back(id);
    settings.mappings[id] = std::move(mapping);
  }
}

// OMERO group names may hold spaces and more; as one folder name they only must not
// be empty, ".", ".." or hold a '/'.
bool is_folder_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

// A mapping's folder is a relative subpath of base_dir: "team-a" or "groups/team-a".
bool is_inside(std::string_view folder) {
  if (folder.empty() || folder.front() == '/' || folder.find('\0') != std::string_view::npos) return false;
  const fs::path path(folder);
  return std::none_of(path.begin(), path.end(), [](const fs::path& part) { return part == ".."; });
}

std::string who_am_i() {
  return "uid " + std::to_string(::geteuid()) + " (gid " + std::to_string(::getegid()) + ")";
}

// What an operator does about a directory the reactor cannot write.
std::string fix_for(const fs::path& group_base) {
  std::error_code ec;
  if (fs::is_directory(group_base, ec))
    return "grant " + who_am_i() + " write access to " + group_base.string() + " (and to .analyzed inside it)";
  auto ancestor = group_base.parent_path();
  while (!ancestor.empty() && ancestor != ancestor.root_path() && !fs::exists(ancestor, ec))
    ancestor = ancestor.parent_path();
  if (fs::exists(ancestor, ec) && !fs::is_directory(ancestor, ec))
    return ancestor.string() + " is a file, not a directory: fix base_dir or the group's mapping";
  return "create " + group_base.string() + " writable by " + who_am_i() + ", or grant that uid write access to " +
         ancestor.string() + " so the group's first workflow can create it";
}

}  // namespace

StorageSettings load_storage_settings(const Config& config) {
  StorageSettings settings;
  // Stamped before reading: a file changed while it is read is read again next time.
  if (config.importer.base_dir_override.empty())
    settings.sources.emplace_back(config.importer.settings, file_stamp(config.importer.settings));
  for (const auto& file : config.importer.group_mappings) settings.sources.emplace_back(file, file_stamp(file));
  settings.base_dir = read_base_dir(config, settings.warnings);
  for (const auto& file : config.importer.group_mappings) merge_mappings(file, settings);
  for (const auto& id : settings.mapping_order) {
    const auto& mapping = settings.mappings.at(id);
    if (!mapping.folder.empty() && !is_inside(mapping.folder))
      settings.warnings.push_back("group mapping " + in_quotes(id) + " (" + mapping.group_name + "): folder " +
                                  in_quotes(mapping.folder) + " is not a relative path inside base_dir; " +
                                  "its group's results will fail until it is fixed");
  }
  return settings;
}

std::optional<std::string> group_name_for(const StorageSettings& settings, const Config& config,
                                          std::int64_t group_id) {
  if (const auto found = settings.mappings.find(std::to_string(group_id));
      found != settings.mappings.end() && !found->second.group_name.empty())
    return found->second.group_name;
  if (const auto found = config.names.groups.find(group_id); found != config.names.groups.end()) return found->second;
  return std::nullopt;
}

std::optional<std::string> user_name_for(const Config& config, std::int64_t user_id) {
  if (const auto found = config.names.users.find(user_id); found != config.names.users.end()) return found->second;
  return std::nullopt;
}

fs::path group_base_path(const StorageSettings& settings, std::string_view group_name) {
  if (!is_folder_name(group_name))
    throw GroupStorageError("group name " + in_quotes(group_name) +
                            " cannot be a folder name (empty, \".\", \"..\" or containing '/')");
  // BIOMERO (SLURM_Import_Results.py, get_importer_group_base_path) walks
  // `for group_id, mapping in load_group_mappings().items()` and returns the first match
  // with a non-empty folder; that dict is biomero-config.json's document order with
  // group-mappings.json's `update()` on top, which mapping_order reproduces.
  std::vector<std::string> order = settings.mapping_order;
  for (const auto& [id, mapping] : settings.mappings)
    if (std::find(order.begin(), order.end(), id) == order.end()) order.push_back(id);
  for (const auto& id : order) {
    const auto& mapping = settings.mappings.at(id);
    if (mapping.group_name != group_name || mapping.folder.empty()) continue;
    if (!is_inside(mapping.folder))
      throw GroupStorageError("group mapping " + in_quotes(id) + " for group " + in_quotes(group_name) + ": folder " +
                              in_quotes(mapping.folder) + " must be a relative path inside base_dir " +
                              settings.base_dir.string() + " (no leading '/', no '..'); fix it in the group mappings");
    return settings.base_dir / mapping.folder;
  }
  return settings.base_dir / std::string(group_name);
}

namespace {

ProbeResult probe_files(const fs::path& group_base) {
  ProbeResult result{group_base / ".analyzed", false, {}, {}, {}};
  const auto fail = [&](const std::string& what, int error) {
    result.detail =
        what + ": " + std::strerror(error) + ". The reactor runs as " + who_am_i() + ": " + fix_for(group_base);
    return result;
  };

  std::error_code ec;
  fs::create_directories(result.path, ec);
  if (ec) return fail("cannot create " + result.path.string(), ec.value());

  const auto probe = result.path / (".biomero-reactor-probe-" + std::to_string(::getpid()));
  constexpr std::string_view content = "biomero-reactor write probe\n";
  {
    UniqueFd out(::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!out) {
      const int error = errno;
      return fail("cannot create a file in " + result.path.string(), error);
    }
    const auto n = ::write(out.get(), content.data(), content.size());
    if (n != static_cast<ssize_t>(content.size())) {
      const int error = n < 0 ? errno : ENOSPC;
      ::unlink(probe.c_str());
      return fail("cannot write " + probe.string(), error);
    }
  }
  std::string read_back(content.size() + 1, '\0');
  {
    UniqueFd in(::open(probe.c_str(), O_RDONLY | O_CLOEXEC));
    const auto n = !in ? -1 : ::read(in.get(), read_back.data(), read_back.size());
    if (n < 0) {
      const int error = errno;
      ::unlink(probe.c_str());
      return fail("cannot read back " + probe.string(), error);
    }
    read_back.resize(static_cast<std::size_t>(n));
  }
  if (::unlink(probe.c_str()) != 0) {
    const int error = errno;
    return fail("cannot remove " + probe.string(), error);
  }
  if (read_back != content) {
    result.detail = probe.string() + " read back different bytes than were written (storage not coherent?)";
    return result;
  }
  result.ok = true;
  result.detail = "created, read back and removed a file in " + result.path.string() + " as " + who_am_i();
  return result;
}

}  // namespace

ProbeResult probe_analyzed_writable(const fs::path& group_base, ProbeCleanup cleanup) {
  std::vector<fs::path> missing;  // innermost first
  std::error_code ec;
  for (fs::path p = group_base / ".analyzed"; !p.empty() && !fs::exists(p, ec) && !ec; p = p.parent_path()) {
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  ProbeResult result = probe_files(group_base);
  for (const auto& p : missing) {
    if (!fs::exists(p, ec)) continue;
    if (cleanup == ProbeCleanup::remove_created && ::rmdir(p.c_str()) == 0)
      result.removed.insert(result.removed.begin(), p);
    else
      result.created.insert(result.created.begin(), p);
  }
  return result;
}

}  // namespace biomero_reactor
