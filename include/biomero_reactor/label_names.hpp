// BIOMERO's import script renames each imported label image "<parent> [<label>]" so that
// users can tell which image it belongs to: a label group `cells.zarr/labels/nuclei`
// arrives in OMERO under a name of its own, with no trace of `cells`. The rule is kept
// here as a pure function; omero_job.cpp finds the images and sends the renames.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace biomero_reactor {

struct NamedImage {
  std::int64_t id = 0;
  std::string name;
  bool operator==(const NamedImage&) const = default;
};

// "<parent stem> [<label stem>]" for a path holding "/labels/" (split at the first one;
// each side's last component, minus a trailing ".zarr"); nothing otherwise.
[[nodiscard]] std::optional<std::string> label_image_name(std::string_view path);

// The renames for one labels order: its files (in order) and the images carrying its
// uuid. With as many images as files they are paired by position, image ids ascending:
// the importer imports the files in order, so OMERO hands out ascending ids (BIOMERO's
// own query has no ORDER BY and relies on the same). Otherwise each image takes the
// name of the first file whose label stem is part of its current name. Only images
// whose name would change are returned, so running it again renames nothing.
[[nodiscard]] std::vector<NamedImage> label_renames(const std::vector<std::string>& files,
                                                    std::vector<NamedImage> images);

}  // namespace biomero_reactor
