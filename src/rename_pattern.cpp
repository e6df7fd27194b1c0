#include "biomero_reactor/rename_pattern.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

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
  std::string name(basename);
  if (!name.ends_with(".zarr")) return name;
  for (std::size_t at; (at = name.find(".zarr")) != std::string::npos;) name.erase(at, 5);
  return name;
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
    if (name.ends_with(".zarr")) {
      out.zarrs.push_back(child);
    } else {
      subdirs.push_back(child);
    }
  }
  for (const auto& d : subdirs) collect(d, out);
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
  if (is_dir ? !name.ends_with(".zarr") : !has_image_extension(name)) {
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
    if (::rename(path.c_str(), (dir / name).c_str()) != 0) {
      keep(std::string("rename failed: ") + std::strerror(errno));
      continue;
    }
    report.renamed.emplace_back(path, dir / name);
  }
  return report;
}

}  // namespace biomero_reactor
