// Finding importable images in an extracted results tree.
#include "biomero_reactor/images.hpp"

#include <boost/test/unit_test.hpp>
#include <fstream>
#include <string>
#include <vector>

#include "support/test_support.hpp"

namespace fs = std::filesystem;
using namespace biomero_reactor;
using test::TempTree;

namespace {

void touch(const fs::path& path) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << "x";
}

std::vector<std::string> relative(const std::vector<fs::path>& paths, const fs::path& root) {
  std::vector<std::string> names;
  for (const fs::path& path : paths) {
    names.push_back(path.lexically_relative(root).generic_string());
  }
  return names;
}

// A job's output with images, a zarr with labels, and things that are not images.
void write_job_output(const fs::path& root) {
  touch(root / "data/out/result_image.tiff");
  touch(root / "data/out/measurements.csv");
  touch(root / "data/out/Stack.OME.TIFF");
  touch(root / "data/out/nested/mask.PNG");
  touch(root / "data/out/nested/notes.txt");
  touch(root / "data/out/cells.ome.zarr/.zattrs");
  touch(root / "data/out/cells.ome.zarr/0/.zarray");
  touch(root / "data/out/cells.ome.zarr/0/0.0.0");
  touch(root / "data/out/cells.ome.zarr/inside.tif");
  touch(root / "data/out/cells.ome.zarr/labels/.zattrs");
  touch(root / "data/out/cells.ome.zarr/labels/nuclei/.zattrs");
  touch(root / "data/out/cells.ome.zarr/labels/nuclei/0/0.0.0");
  touch(root / "data/out/cells.ome.zarr/labels/cells/.zattrs");
  touch(root / "metadata.csv");
  touch(root / "image.tif.bak");
  touch(root / "tif");
  touch(root / "b.Jpg");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(images_test)

BOOST_AUTO_TEST_CASE(images_are_found_by_extension_whatever_the_case_and_sorted) {
  const TempTree temp;
  write_job_output(temp.path());

  const ImageSet found = find_importable_images(temp.path());

  const std::vector<std::string> expected{
      "b.Jpg",
      "data/out/Stack.OME.TIFF",
      "data/out/cells.ome.zarr",
      "data/out/nested/mask.PNG",
      "data/out/result_image.tiff",
  };
  BOOST_TEST(relative(found.images, temp.path()) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_zarr_is_one_image_and_its_label_groups_are_label_images) {
  const TempTree temp;
  write_job_output(temp.path());

  const ImageSet found = find_importable_images(temp.path());

  const std::vector<std::string> labels{"data/out/cells.ome.zarr/labels/cells",
                                        "data/out/cells.ome.zarr/labels/nuclei"};
  BOOST_TEST(relative(found.label_images, temp.path()) == labels, boost::test_tools::per_element());
  for (const fs::path& image : found.images) {
    BOOST_TEST(image.string().find("inside.tif") == std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(a_tree_without_images_yields_nothing) {
  const TempTree temp;
  touch(temp.path() / "results/table.csv");
  touch(temp.path() / "results/log.txt");
  touch(temp.path() / "metadata.csv");

  const ImageSet found = find_importable_images(temp.path());

  BOOST_TEST(found.images.empty());
  BOOST_TEST(found.label_images.empty());
}

BOOST_AUTO_TEST_CASE(symlinks_are_neither_reported_nor_followed) {
  const TempTree temp;
  touch(temp.path() / "elsewhere/secret.tif");
  touch(temp.path() / "job/real.tif");
  fs::create_symlink(temp.path() / "job/real.tif", temp.path() / "job/alias.tif");
  fs::create_directory_symlink(temp.path() / "elsewhere", temp.path() / "job/linked");

  const ImageSet found = find_importable_images(temp.path() / "job");

  BOOST_TEST(relative(found.images, temp.path() / "job") == std::vector<std::string>{"real.tif"},
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(the_order_does_not_depend_on_creation_order) {
  const TempTree temp;
  const std::vector<std::string> names{"z.tif", "a/b.png", "m.czi", "a/a.nd2", "B.lif"};
  for (const std::string& name : names) {
    touch(temp.path() / "forward" / name);
  }
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    touch(temp.path() / "backward" / *it);
  }

  const auto forward = relative(find_importable_images(temp.path() / "forward").images, temp.path() / "forward");
  const auto backward = relative(find_importable_images(temp.path() / "backward").images, temp.path() / "backward");

  const std::vector<std::string> expected{"B.lif", "a/a.nd2", "a/b.png", "m.czi", "z.tif"};
  BOOST_TEST(forward == expected, boost::test_tools::per_element());
  BOOST_TEST(backward == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(every_biomero_extension_matches_in_any_case) {
  for (const char* ext :
       {".tif",   ".tiff",     ".ome.tif", ".ome.tiff",  ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".lsm",  ".czi",
        ".nd2",   ".oib",      ".oif",     ".vsi",       ".scn", ".svs", ".ims",  ".lif", ".pic", ".flex", ".zvi",
        ".zarr",  ".ome.zarr", ".dm3",     ".dm4",       ".ser", ".img", ".hdr",  ".sdt", ".psd", ".fits", ".dcm",
        ".dicom", ".stk",      ".lei",     ".mrc",       ".rec", ".st",  ".mvd2", ".afi", ".exp", ".ipw",  ".raw",
        ".nrrd",  ".nhdr",     ".am",      ".amiramesh", ".avi", ".mov", ".flv",  ".swf"}) {
    std::string upper = std::string("image") + ext;
    for (char& c : upper) {
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    BOOST_TEST(has_image_extension(std::string("image") + ext), ext);
    BOOST_TEST(has_image_extension(upper), upper);
  }
  BOOST_TEST(!has_image_extension("table.csv"));
  BOOST_TEST(!has_image_extension("image.tif.bak"));
  BOOST_TEST(!has_image_extension("tif"));
  BOOST_TEST(!has_image_extension("archive.zip"));
  BOOST_TEST(!has_image_extension("omero-42.log"));
}

BOOST_AUTO_TEST_CASE(directories_holding_images_are_the_distinct_parents) {
  const TempTree temp;
  write_job_output(temp.path());

  const auto directories = directories_holding_images(find_importable_images(temp.path()));

  const std::vector<std::string> expected{"", "data/out", "data/out/nested"};
  std::vector<std::string> actual = relative(directories, temp.path());
  for (std::string& name : actual) {
    if (name == ".") {
      name.clear();
    }
  }
  BOOST_TEST(actual == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
