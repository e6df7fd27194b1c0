// Finding what BIOMERO.importer can import in an extracted result directory: files or
// directories whose name ends with one of BIOMERO's image extensions. A zarr
// is one image (never searched inside); its label images are the groups in `labels/`.
#pragma once

#include <filesystem>
#include <string_view>
#include <vector>

namespace biomero_reactor {

struct ImageSet {
  std::vector<std::filesystem::path> images;        // sorted
  std::vector<std::filesystem::path> label_images;  // `<zarr>/labels/<name>` zarr groups, sorted
};

// True when `name` ends (ASCII case-insensitively) with one of BIOMERO's extensions.
[[nodiscard]] bool has_image_extension(std::string_view name) noexcept;

// True when `dir` is a zarr group of its own (.zattrs, .zgroup or zarr.json in it).
[[nodiscard]] bool is_zarr_group(const std::filesystem::path& dir);

// Walks `root` without following symlinks (a symlink is neither reported nor entered).
// Paths are `root / relative`. Throws std::filesystem::filesystem_error on I/O errors.
[[nodiscard]] ImageSet find_importable_images(const std::filesystem::path& root);

// The distinct directories that directly hold one of `set.images`, sorted.
[[nodiscard]] std::vector<std::filesystem::path> directories_holding_images(const ImageSet& set);

}  // namespace biomero_reactor
