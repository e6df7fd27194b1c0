#pragma once
// "Rename imported files?" with its pattern, as BIOMERO's import script applies it to the
// results in the importer's storage before the upload order is written (Dataset
// destinations only): every image file and every `.zarr` directory gets the name
// `pattern.format(original_file=, original_ext=, file=, ext=)`, with Python's rules for
// splitting a name into stem and suffixes, and `_2`, `_3`, ... before the first dot when
// the new name is taken.
//
// Where the reactor is stricter than the script (each keeps the file under its old name
// and says why): a new name that is not one path component (a `/`, `.`, `..`, empty, over
// 255 bytes) would leave the job directory; one without an image extension (or a zarr
// renamed to something not ending in `.zarr`) would silently drop out of the import; a
// pattern field other than the four names (a format spec, an index, `{}`) is reported,
// not guessed at. Files are taken in sorted order, so collisions number the same way on
// every retry.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace biomero_reactor {

inline constexpr std::string_view default_rename_pattern = "{original_file}_IMPORTED.{ext}";

// The pattern's four variables for a result file or zarr directory named `basename`.
struct RenameVariables {
  std::string original_file, original_ext, file, ext;
  bool operator==(const RenameVariables&) const = default;
};
[[nodiscard]] RenameVariables rename_variables(std::string_view basename);

// `pattern` formatted as Python's str.format with the four names. On a pattern error,
// `name` is empty and `error` says what is wrong.
struct RenamedName {
  std::string name;
  std::string error;
};
[[nodiscard]] RenamedName format_rename_pattern(std::string_view pattern, const RenameVariables& v);

// Why `name` cannot be the new name of a file (is_dir: a zarr directory); empty when it can.
[[nodiscard]] std::string unusable_new_name(std::string_view name, bool is_dir);

// `name`, or `name` with `_2`, `_3`, ... inserted before its first dot: the first that
// `taken` says is free.
template <class Taken>
[[nodiscard]] std::string first_free_name(const std::string& name, Taken taken) {
  if (!taken(name)) return name;
  const std::size_t dot = name.find('.');
  const std::string base = name.substr(0, dot);
  const std::string rest = dot == std::string::npos ? std::string() : name.substr(dot);
  for (unsigned n = 2;; ++n) {
    std::string candidate = base + "_" + std::to_string(n) + rest;
    if (!taken(candidate)) return candidate;
  }
}

struct RenameReport {
  std::vector<std::pair<std::filesystem::path, std::filesystem::path>> renamed;  // (old, new), absolute
  std::vector<std::string> warnings;                                             // one per file kept under its old name
};

// Renames the images under `root` by `pattern` (blocking; on the worker pool). Walks
// without following symlinks; regular files with one of BIOMERO's image extensions (as
// images.hpp matches them, so whatever is imported is renamed) first, then the `.zarr`
// directories, which are renamed whole and never entered. A file that cannot be renamed stays as it is, with
// a warning; I/O errors other than those of one rename(2) propagate.
RenameReport rename_results(const std::filesystem::path& root, std::string_view pattern);

// BIOMERO's naming of label images, done before the label order is made: every
// `labels/<name>` directory of a `.zarr` that is itself a zarr group (`.zattrs`, `.zgroup`
// or `zarr.json`) and does not end in `.zarr` becomes `labels/<name>.zarr`, and the zarr's
// list of labels follows (`labels/zarr.json`, else `labels/.zattrs`: the top-level
// "labels" list as BIOMERO edits it, and OME-Zarr 0.5's attributes.ome.labels too).
struct LabelRenames {
  std::vector<std::pair<std::filesystem::path, std::filesystem::path>> renamed;  // (old, new), absolute
  std::vector<std::filesystem::path> rewritten;                                  // the labels lists changed
  std::vector<std::string> warnings;                                             // left as they were, and why
};
LabelRenames name_label_zarrs(const std::filesystem::path& root);

}  // namespace biomero_reactor
