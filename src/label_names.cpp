#include "biomero_reactor/label_names.hpp"

#include <algorithm>

namespace biomero_reactor {

namespace {

constexpr std::string_view labels_marker = "/labels/";

// os.path.basename, then the trailing ".zarr" off, as BIOMERO does.
std::string stem(std::string_view path) {
  const auto slash = path.rfind('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  if (base.ends_with(".zarr")) base.remove_suffix(5);
  return std::string(base);
}

struct LabelFile {
  std::string label_stem;
  std::string new_name;
};

}  // namespace

std::optional<std::string> label_image_name(std::string_view path) {
  const auto at = path.find(labels_marker);
  if (at == std::string_view::npos) return std::nullopt;
  return stem(path.substr(0, at)) + " [" + stem(path.substr(at + labels_marker.size())) + "]";
}

std::vector<NamedImage> label_renames(const std::vector<std::string>& files, std::vector<NamedImage> images) {
  // Files without "/labels/" are skipped but keep their place for the pairing by
  // position, as in BIOMERO's loop (zip over all files, `continue` on the others).
  std::vector<std::optional<LabelFile>> label_files;
  for (const std::string& f : files) {
    if (const auto name = label_image_name(f)) {
      const std::string_view after = std::string_view(f).substr(f.find(labels_marker) + labels_marker.size());
      label_files.push_back(LabelFile{stem(after), *name});
    } else {
      label_files.push_back(std::nullopt);
    }
  }
  std::sort(images.begin(), images.end(), [](const NamedImage& a, const NamedImage& b) { return a.id < b.id; });
  std::vector<NamedImage> out;
  const auto rename = [&out](const NamedImage& image, const std::string& name) {
    if (image.name != name) out.push_back({image.id, name});
  };
  if (images.size() == files.size()) {
    for (std::size_t i = 0; i < images.size(); ++i) {
      if (label_files[i]) rename(images[i], label_files[i]->new_name);
    }
    return out;
  }
  for (const NamedImage& image : images) {
    for (const auto& lf : label_files) {
      if (lf && !lf->label_stem.empty() && image.name.find(lf->label_stem) != std::string::npos) {
        rename(image, lf->new_name);
        break;
      }
    }
  }
  return out;
}

}  // namespace biomero_reactor
