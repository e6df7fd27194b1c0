#include "biomero_reactor/images.hpp"

#include <algorithm>
#include <array>
#include <system_error>

namespace biomero_reactor {

namespace fs = std::filesystem;

namespace {

// BIOMERO's list of importable extensions (52 entries).
constexpr std::array<std::string_view, 52> image_extensions{
    ".tif",   ".tiff",     ".ome.tif", ".ome.tiff",  ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".lsm",  ".czi",
    ".nd2",   ".oib",      ".oif",     ".vsi",       ".scn", ".svs", ".ims",  ".lif", ".pic", ".flex", ".zvi",
    ".zarr",  ".ome.zarr", ".dm3",     ".dm4",       ".ser", ".img", ".hdr",  ".sdt", ".psd", ".fits", ".dcm",
    ".dicom", ".stk",      ".lei",     ".mrc",       ".rec", ".st",  ".mvd2", ".afi", ".exp", ".ipw",  ".raw",
    ".nrrd",  ".nhdr",     ".am",      ".amiramesh", ".avi", ".mov", ".flv",  ".swf"};
static_assert(std::none_of(image_extensions.begin(), image_extensions.end(),
                           [](std::string_view ext) { return ext.empty(); }),
              "every slot holds an extension");

char ascii_lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool ends_with_ignoring_case(std::string_view name, std::string_view suffix) noexcept {
  if (name.size() < suffix.size()) {
    return false;
  }
  const std::string_view tail = name.substr(name.size() - suffix.size());
  return std::equal(tail.begin(), tail.end(), suffix.begin(), [](char a, char b) { return ascii_lower(a) == b; });
}

std::vector<fs::path> sorted_children(const fs::path& dir) {
  std::vector<fs::path> children;
  for (const fs::directory_entry& child : fs::directory_iterator(dir)) {
    children.push_back(child.path());
  }
  std::sort(children.begin(), children.end());
  return children;
}

void collect_labels(const fs::path& zarr, ImageSet& set) {
  const fs::path labels = zarr / "labels";
  if (!fs::is_directory(fs::symlink_status(labels))) {
    return;
  }
  for (const fs::path& child : sorted_children(labels)) {
    // A label image is a zarr group of its own, as BIOMERO requires.
    if (fs::is_directory(fs::symlink_status(child)) && is_zarr_group(child)) {
      set.label_images.push_back(child);
    }
  }
}

void walk(const fs::path& dir, ImageSet& set) {
  for (const fs::path& child : sorted_children(dir)) {
    const fs::file_status status = fs::symlink_status(child);
    const bool directory = fs::is_directory(status);
    if (!directory && !fs::is_regular_file(status)) {
      continue;  // symlinks and special files are neither images nor searched
    }
    const std::string name = child.filename().string();
    if (!has_image_extension(name)) {
      if (directory) {
        walk(child, set);
      }
      continue;
    }
    // A matching directory is one image (a zarr in practice): the importer takes it
    // whole, so nothing inside it is a separate image.
    set.images.push_back(child);
    if (directory && ends_with_ignoring_case(name, ".zarr")) {
      collect_labels(child, set);
    }
  }
}

}  // namespace

bool is_zarr_group(const fs::path& dir) {
  constexpr std::array<const char*, 3> markers{".zattrs", ".zgroup", "zarr.json"};
  return std::any_of(markers.begin(), markers.end(),
                     [&](const char* marker) { return fs::is_regular_file(fs::symlink_status(dir / marker)); });
}

bool has_image_extension(std::string_view name) noexcept {
  return std::any_of(image_extensions.begin(), image_extensions.end(),
                     [name](std::string_view ext) { return ends_with_ignoring_case(name, ext); });
}

ImageSet find_importable_images(const fs::path& root) {
  ImageSet set;
  walk(root, set);
  return set;
}

std::vector<fs::path> directories_holding_images(const ImageSet& set) {
  std::vector<fs::path> directories;
  for (const fs::path& image : set.images) {
    directories.push_back(image.parent_path());
  }
  std::sort(directories.begin(), directories.end());
  directories.erase(std::unique(directories.begin(), directories.end()), directories.end());
  return directories;
}

}  // namespace biomero_reactor
