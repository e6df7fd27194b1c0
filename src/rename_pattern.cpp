#include "biomero_reactor/rename_pattern.hpp"

#include <fcntl.h>

#include <algorithm>
#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>

#include "biomero_reactor/fs_util.hpp"
#include "biomero_reactor/images.hpp"

namespace biomero_reactor {

namespace fs = std::filesystem;

namespace {

// Python's PurePath(name).suffixes joined: "" for a name ending in '.', else every
// '.'-separated part after the first, once the leading dots are stripped.
std::string suffixes_of(std::string_view name) {
  if (name.empty() || name.back() == '.') return {};
  name.remove_prefix(std::min(name.find_first_not_of('.'), name.size()));
  const std::size_t dot = name.find('.');
  return dot == std::string_view::npos ? std::string() : std::string(name.substr(dot));
}

// Python's os.path.splitext on a basename: the last dot, unless only dots precede it.
std::pair<std::string, std::string> splitext(std::string_view name) {
  const std::size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || name.find_first_not_of('.') >= dot) return {std::string(name), ""};
  return {std::string(name.substr(0, dot)), std::string(name.substr(dot))};
}

// (stem, extension without its leading dot), as the script splits both names.
std::pair<std::string, std::string> stem_and_ext(std::string_view name) {
  const std::string combo = suffixes_of(name);
  if (!combo.empty()) return {std::string(name.substr(0, name.size() - combo.size())), combo.substr(1)};
  auto [stem, ext] = splitext(name);
  return {stem, ext.empty() ? ext : ext.substr(1)};
}

// The script's "original file name" of a result: a zarr's name without every ".zarr";
// any other basename as it is (its regex needs a '/', which a basename never has).
std::string original_name(std::string_view basename) {
  if (!basename.ends_with(".zarr")) return std::string(basename);
  std::string name;  // Python's str.replace: one left-to-right pass
  for (std::size_t from = 0;;) {
    const std::size_t at = basename.find(".zarr", from);
    name += basename.substr(from, at == std::string_view::npos ? std::string_view::npos : at - from);
    if (at == std::string_view::npos) return name;
    from = at + 5;
  }
}

// A zarr directory, whatever the case of its extension (as images.hpp matches names).
bool zarr_name(std::string_view name) {
  if (name.size() < 5) return false;
  std::string tail(name.substr(name.size() - 5));
  for (char& c : tail) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return tail == ".zarr";
}

// rename(2) that never replaces: a name taken meanwhile is EEXIST, not a lost file.
bool rename_no_replace(const fs::path& from, const fs::path& to) {
  return ::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0;
}

bool taken(const fs::path& p) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(p, ec));
}

struct Candidates {
  std::vector<fs::path> files, zarrs;
};

// Top-down, sorted; a zarr directory is collected, never entered.
void collect(const fs::path& dir, Candidates& out) {
  std::vector<fs::path> children;
  for (const auto& e : fs::directory_iterator(dir)) children.push_back(e.path());
  std::sort(children.begin(), children.end());
  std::vector<fs::path> subdirs;
  for (const auto& child : children) {
    const fs::file_status st = fs::symlink_status(child);
    const std::string name = child.filename().string();
    if (fs::is_regular_file(st) && has_image_extension(name)) out.files.push_back(child);
    if (!fs::is_directory(st)) continue;
    if (zarr_name(name)) {
      out.zarrs.push_back(child);
    } else if (!has_image_extension(name)) {
      subdirs.push_back(child);  // a directory with an image's name is imported whole: not entered
    }
  }
  for (const auto& d : subdirs) collect(d, out);
}

// Every directory named *.zarr under `dir` (zarrs inside zarrs too), without following links.
void collect_zarrs(const fs::path& dir, std::vector<fs::path>& out) {
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!fs::is_directory(e.symlink_status())) continue;
    if (e.path().filename().string().ends_with(".zarr")) out.push_back(e.path());
    collect_zarrs(e.path(), out);
  }
}

// A labels list is a few names: anything over 16 MiB is not one.
std::string read_attrs(const fs::path& p) {
  constexpr std::uintmax_t cap = 16U << 20;
  if (fs::file_size(p) > cap) throw std::runtime_error("over 16 MiB");
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// `old_name` becomes `new_name` in a labels list, or is added when it is not there.
bool rename_in_list(boost::json::value* list, const std::string& old_name, const std::string& new_name) {
  if (list == nullptr || !list->is_array()) return false;
  auto& names = list->get_array();
  for (auto& n : names) {
    if (n.is_string() && n.get_string() == old_name) {
      n = new_name;
      return true;
    }
  }
  for (const auto& n : names) {
    if (n.is_string() && n.get_string() == new_name) return false;
  }
  names.emplace_back(new_name);
  return true;
}

boost::json::value* at_path(boost::json::value& v, std::initializer_list<std::string_view> keys) {
  boost::json::value* at = &v;
  for (const auto key : keys) {
    if (!at->is_object()) return nullptr;
    at = at->get_object().if_contains(key);
    if (at == nullptr) return nullptr;
  }
  return at;
}

}  // namespace

RenameVariables rename_variables(std::string_view basename) {
  std::string original = original_name(basename);
  original.erase(original.find_last_not_of('.') + 1);  // the script's rstrip('.')
  auto [file, ext] = stem_and_ext(basename);
  auto [original_file, original_ext] = stem_and_ext(original);
  return {std::move(original_file), std::move(original_ext), std::move(file), std::move(ext)};
}

RenamedName format_rename_pattern(std::string_view pattern, const RenameVariables& v) {
  const std::array<std::pair<std::string_view, const std::string*>, 4> fields{
      {{"original_file", &v.original_file}, {"original_ext", &v.original_ext}, {"file", &v.file}, {"ext", &v.ext}}};
  std::string out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if ((c == '{' || c == '}') && i + 1 < pattern.size() && pattern[i + 1] == c) {
      out += c;  // "{{" and "}}" are literal braces
      ++i;
    } else if (c == '}') {
      return {{}, "a single '}' in the rename pattern (write '}}' for a literal brace)"};
    } else if (c == '{') {
      const std::size_t end = pattern.find('}', i);
      if (end == std::string_view::npos) return {{}, "a '{' without its '}' in the rename pattern"};
      const std::string_view field = pattern.substr(i + 1, end - i - 1);
      const auto* f = std::find_if(fields.begin(), fields.end(), [&](const auto& p) { return p.first == field; });
      if (f == fields.end()) {
        return {{},
                "the rename pattern's field {" + std::string(field) +
                    "} is not one of {original_file}, {original_ext}, {file}, {ext}"};
      }
      out += *f->second;
      i = end;
    } else {
      out += c;
    }
  }
  return {std::move(out), {}};
}

std::string unusable_new_name(std::string_view name, bool is_dir) {
  if (name.empty() || name == "." || name == "..") return "the new name \"" + std::string(name) + "\" is not a name";
  if (name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
    return "the new name \"" + std::string(name) + "\" is not one file name (it holds a '/')";
  }
  if (name.size() > 255) return "the new name is longer than 255 bytes";
  if (is_dir ? !zarr_name(name) : !has_image_extension(name)) {
    return "the new name \"" + std::string(name) + "\" has no image extension" + (is_dir ? " (.zarr)" : "") +
           ", so it would not be imported";
  }
  return {};
}

RenameReport rename_results(const fs::path& root, std::string_view pattern) {
  Candidates found;
  collect(root, found);
  std::vector<fs::path> all = std::move(found.files);
  all.insert(all.end(), found.zarrs.begin(), found.zarrs.end());
  RenameReport report;
  for (const auto& path : all) {
    const std::string old_name = path.filename().string();
    const auto keep = [&](const std::string& why) {
      report.warnings.push_back("kept \"" + path.lexically_relative(root).string() + "\": " + why);
    };
    RenamedName renamed = format_rename_pattern(pattern, rename_variables(old_name));
    if (!renamed.error.empty()) {
      keep(renamed.error);
      continue;
    }
    if (renamed.name == old_name) continue;
    if (std::string why = unusable_new_name(renamed.name, fs::is_directory(fs::symlink_status(path))); !why.empty()) {
      keep(why);
      continue;
    }
    const fs::path dir = path.parent_path();
    const std::string name = first_free_name(renamed.name, [&](const std::string& n) { return taken(dir / n); });
    if (!rename_no_replace(path, dir / name)) {
      keep(std::string("rename failed: ") + std::strerror(errno));
      continue;
    }
    report.renamed.emplace_back(path, dir / name);
  }
  return report;
}

}  // namespace biomero_reactor

namespace biomero_reactor {

LabelRenames name_label_zarrs(const fs::path& root) {
  std::vector<fs::path> zarrs;
  collect_zarrs(root, zarrs);
  // Deepest first: renaming an outer zarr's labels never moves a zarr still to be visited.
  std::sort(zarrs.begin(), zarrs.end(), [](const fs::path& a, const fs::path& b) {
    const auto depth = [](const fs::path& p) { return std::distance(p.begin(), p.end()); };
    return depth(a) != depth(b) ? depth(a) > depth(b) : a < b;
  });
  LabelRenames out;
  for (const auto& zarr : zarrs) {
    const fs::path labels = zarr / "labels";
    if (!fs::is_directory(fs::symlink_status(labels))) continue;
    std::vector<fs::path> children;
    for (const auto& e : fs::directory_iterator(labels)) children.push_back(e.path());
    std::sort(children.begin(), children.end());
    const fs::path attrs =
        fs::is_regular_file(fs::symlink_status(labels / "zarr.json")) ? labels / "zarr.json" : labels / ".zattrs";
    std::optional<boost::json::value> doc;
    bool changed = false;
    for (const auto& child : children) {
      const std::string name = child.filename().string();
      if (name.ends_with(".zarr") || !fs::is_directory(fs::symlink_status(child)) || !is_zarr_group(child)) continue;
      const fs::path to = labels / (name + ".zarr");
      std::error_code ec;
      if (fs::exists(fs::symlink_status(to, ec)) || !rename_no_replace(child, to)) {
        out.warnings.push_back("label \"" + child.lexically_relative(root).string() + "\" kept its name: " +
                               (fs::exists(fs::symlink_status(to, ec)) ? "\"" + name + ".zarr\" exists"
                                                                       : std::string(std::strerror(errno))));
        continue;
      }
      out.renamed.emplace_back(child, to);
      if (!doc && fs::is_regular_file(fs::symlink_status(attrs))) {
        try {
          doc = boost::json::parse(read_attrs(attrs));
        } catch (const std::exception& e) {
          out.warnings.push_back("the labels list " + attrs.lexically_relative(root).string() +
                                 " was not updated: " + e.what());
          doc = boost::json::value();  // not JSON: left as it is
        }
      }
      if (doc) {
        changed |= rename_in_list(at_path(*doc, {"labels"}), name, name + ".zarr");
        changed |= rename_in_list(at_path(*doc, {"attributes", "ome", "labels"}), name, name + ".zarr");
      }
    }
    if (changed) {
      write_file_durable(attrs, boost::json::serialize(*doc) + "\n");
      out.rewritten.push_back(attrs);
    }
  }
  return out;
}

}  // namespace biomero_reactor
