#include "biomero_reactor/label_names.hpp"

#include <boost/test/unit_test.hpp>

using namespace biomero_reactor;

namespace {

const std::string job = "/data/lab/.analyzed/wf/1234";

}  // namespace

namespace biomero_reactor {
std::ostream& operator<<(std::ostream& os, const NamedImage& i) {
  return os << i.id << ":" << i.name;
}
}  // namespace biomero_reactor

BOOST_AUTO_TEST_SUITE(label_names_test)

BOOST_AUTO_TEST_CASE(the_name_is_parent_stem_and_label_stem_without_zarr) {
  BOOST_TEST(*label_image_name(job + "/cells.zarr/labels/nuclei.zarr") == "cells [nuclei]");
  BOOST_TEST(*label_image_name(job + "/cells.zarr/labels/nuclei") == "cells [nuclei]");
  BOOST_TEST(*label_image_name("cells/labels/a.zarr.zarr") == "cells [a.zarr]");  // one suffix off only
  // Split at the first "/labels/": the label side's last component names it.
  BOOST_TEST(*label_image_name("/x/cells.zarr/labels/deep/labels/n.zarr") == "cells [n]");
  BOOST_TEST(!label_image_name(job + "/cells.tif"));
  BOOST_TEST(!label_image_name(job + "/cells.zarr/labelsX/n"));
}

BOOST_AUTO_TEST_CASE(equal_counts_pair_files_in_order_with_ids_ascending) {
  const std::vector<std::string> files = {job + "/a.zarr/labels/nuclei", job + "/b.zarr/labels/nuclei"};
  // Listed out of order: the ids decide, not the listing.
  const auto out = label_renames(files, {{12, "nuclei"}, {11, "nuclei"}});
  const std::vector<NamedImage> want = {{11, "a [nuclei]"}, {12, "b [nuclei]"}};
  BOOST_TEST(out == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(unequal_counts_fall_back_to_the_first_file_whose_label_stem_is_in_the_name) {
  const std::vector<std::string> files = {job + "/a.zarr/labels/nuclei", job + "/a.zarr/labels/cells",
                                          job + "/b.zarr/labels/membrane"};
  const auto out = label_renames(files, {{5, "cells"}, {6, "x membrane y"}});
  const std::vector<NamedImage> want = {{5, "a [cells]"}, {6, "b [membrane]"}};
  BOOST_TEST(out == want, boost::test_tools::per_element());
  // An image no label stem matches keeps its name; an empty stem matches nothing (as in
  // BIOMERO, where "" is falsy).
  BOOST_TEST(label_renames(files, {{7, "other"}}).empty());
  BOOST_TEST(label_renames({job + "/a.zarr/labels/.zarr", job + "/b.zarr/labels/x"}, {{8, "other"}}).empty());
}

BOOST_AUTO_TEST_CASE(paths_without_labels_are_left_out_but_keep_their_place) {
  const std::vector<std::string> files = {job + "/a.tif", job + "/b.zarr/labels/n"};
  const auto out = label_renames(files, {{1, "a.tif"}, {2, "n"}});
  const std::vector<NamedImage> want = {{2, "b [n]"}};
  BOOST_TEST(out == want, boost::test_tools::per_element());
  BOOST_TEST(label_renames({job + "/a.tif"}, {{1, "a.tif"}}).empty());
  BOOST_TEST(label_renames({}, {}).empty());
}

BOOST_AUTO_TEST_CASE(images_already_renamed_are_not_renamed_again) {
  const std::vector<std::string> files = {job + "/a.zarr/labels/n", job + "/b.zarr/labels/n"};
  // Equal counts: one done before a crash, one left.
  const auto out = label_renames(files, {{1, "a [n]"}, {2, "n"}});
  const std::vector<NamedImage> want = {{2, "b [n]"}};
  BOOST_TEST(out == want, boost::test_tools::per_element());
  BOOST_TEST(label_renames(files, {{1, "a [n]"}, {2, "b [n]"}}).empty());
  // Fallback: the renamed name still holds the label stem and maps to itself.
  BOOST_TEST(label_renames({job + "/a.zarr/labels/n"}, {{1, "a [n]"}, {2, "a [n]"}}).empty());
}

BOOST_AUTO_TEST_SUITE_END()
