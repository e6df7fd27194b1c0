// "Rename imported files?": the pattern's variables as BIOMERO's import script computes
// them (expected values printed by the script's own functions under python3), the
// pattern's Python formatting, collisions, names that would leave the directory or the
// import, and a whole job directory built with a pattern.
#include "biomero_reactor/rename_pattern.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>
#include <set>

#include "biomero_reactor/checksums.hpp"
#include "biomero_reactor/images.hpp"
#include "biomero_reactor/job_dir.hpp"
#include "support/test_support.hpp"

using namespace biomero_reactor;
using namespace biomero_reactor::test;

namespace {

std::string renamed(std::string_view basename, std::string_view pattern = default_rename_pattern) {
  return format_rename_pattern(pattern, rename_variables(basename)).name;
}

std::string error_of(std::string_view pattern) {
  return format_rename_pattern(pattern, rename_variables("a.tif")).error;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(rename_pattern_test)

BOOST_AUTO_TEST_CASE(the_variables_split_names_as_pythons_pathlib_does) {
  BOOST_TEST((rename_variables("a.ome.tiff") == RenameVariables{"a", "ome.tiff", "a", "ome.tiff"}));
  BOOST_TEST(
      (rename_variables("Cells Apoptotic.png_merged_z01_t01.tiff") ==
       RenameVariables{"Cells Apoptotic", "png_merged_z01_t01.tiff", "Cells Apoptotic", "png_merged_z01_t01.tiff"}));
  BOOST_TEST((rename_variables(".hidden.tif") == RenameVariables{".hidden", "tif", ".hidden", "tif"}));
  BOOST_TEST((rename_variables("a..b.tif") == RenameVariables{"a", ".b.tif", "a", ".b.tif"}));
}

BOOST_AUTO_TEST_CASE(a_zarrs_original_name_is_its_name_without_zarr) {
  BOOST_TEST((rename_variables("cells.tif.zarr") == RenameVariables{"cells", "tif", "cells", "tif.zarr"}));
  BOOST_TEST((rename_variables("plate.ome.zarr") == RenameVariables{"plate", "ome", "plate", "ome.zarr"}));
  BOOST_TEST((rename_variables("x.zarr.zarr") == RenameVariables{"x", "", "x", "zarr.zarr"}));
  // One pass, as str.replace: what the removal joins is not removed again.
  BOOST_TEST(rename_variables("a.zar.zarrr.zarr").original_file == "a");
  BOOST_TEST(rename_variables("a.zar.zarrr.zarr").original_ext == "zarr");
}

BOOST_AUTO_TEST_CASE(biomeros_default_pattern_keeps_double_extensions_together) {
  BOOST_TEST(renamed("nuclei_mask.tif") == "nuclei_mask_IMPORTED.tif");
  BOOST_TEST(renamed("a.ome.tiff") == "a_IMPORTED.ome.tiff");
  BOOST_TEST(renamed("cells.tif.zarr") == "cells_IMPORTED.tif.zarr");
  BOOST_TEST(renamed("Cells Apoptotic.png_merged_z01_t01.tiff") == "Cells Apoptotic_IMPORTED.png_merged_z01_t01.tiff");
}

BOOST_AUTO_TEST_CASE(every_field_and_literal_braces_format_as_in_python) {
  BOOST_TEST(renamed("a.ome.tiff", "{original_file}-{original_ext}-{file}-{ext}") == "a-ome.tiff-a-ome.tiff");
  BOOST_TEST(renamed("a.tif", "{{run}}_{file}NucleiLabels.{ext}") == "{run}_aNucleiLabels.tif");
  BOOST_TEST(renamed("a.tif", "fixed.tif") == "fixed.tif");
}

BOOST_AUTO_TEST_CASE(pattern_errors_are_named_not_guessed_at) {
  BOOST_TEST(error_of("{nope}.{ext}").find("{nope} is not one of") != std::string::npos);
  BOOST_TEST(error_of("{}.tif").find("{} is not one of") != std::string::npos);
  BOOST_TEST(error_of("{file:>9}.tif").find("{file:>9} is not one of") != std::string::npos);
  BOOST_TEST(error_of("{file.tif").find("without its '}'") != std::string::npos);
  BOOST_TEST(error_of("a}.tif").find("single '}'") != std::string::npos);
  BOOST_TEST(error_of("{file}.{ext}").empty());
}

BOOST_AUTO_TEST_CASE(a_taken_name_gets_a_counter_before_its_first_dot) {
  const std::set<std::string> taken{"r.ome.tiff", "r_2.ome.tiff", "plain", "_2.tif"};
  const auto is_taken = [&](const std::string& n) { return taken.contains(n); };
  BOOST_TEST(first_free_name("r.ome.tiff", is_taken) == "r_3.ome.tiff");
  BOOST_TEST(first_free_name("plain", is_taken) == "plain_2");
  BOOST_TEST(first_free_name(".tif", [&](const std::string& n) { return n == ".tif" || taken.contains(n); }) ==
             "_3.tif");
  BOOST_TEST(first_free_name("free.tif", is_taken) == "free.tif");
}

BOOST_AUTO_TEST_CASE(names_that_leave_the_directory_or_the_import_are_refused) {
  BOOST_TEST(!unusable_new_name("../escape.tif", false).empty());
  BOOST_TEST(!unusable_new_name("sub/dir.tif", false).empty());
  BOOST_TEST(!unusable_new_name("..", true).empty());
  BOOST_TEST(!unusable_new_name("", false).empty());
  BOOST_TEST(!unusable_new_name(std::string(252, 'a') + ".tif", false).empty());
  BOOST_TEST(unusable_new_name("no extension", false).find("not be imported") != std::string::npos);
  BOOST_TEST(unusable_new_name("plate.tif", true).find("(.zarr)") != std::string::npos);
  BOOST_TEST(unusable_new_name("plate_IMPORTED.ome.zarr", true).empty());
  BOOST_TEST(unusable_new_name("x_IMPORTED.TIF", false).empty());
}

BOOST_AUTO_TEST_CASE(a_tree_is_renamed_files_first_then_whole_zarrs_and_nothing_else) {
  TempTree t;
  t.write("out/x.tif", "x");
  t.write("out/y.tif", "y");
  t.write("out/sub/b.ome.tiff", "b");
  t.write("out/table.csv", "c");
  t.write("out/plate.zarr/.zattrs", "{}");
  t.write("out/plate.zarr/labels/nuclei/.zattrs", "{}");
  t.write("out/plate.zarr/inner.tif", "inside a zarr: never renamed on its own");
  const RenameReport r = rename_results(t.path() / "out", "result.{ext}");
  BOOST_TEST(r.warnings.empty());
  BOOST_TEST(r.renamed.size() == 4U);
  const std::vector<std::string> expected{"result.tif",
                                          "result.zarr/",
                                          "result.zarr/.zattrs",
                                          "result.zarr/inner.tif",
                                          "result.zarr/labels/",
                                          "result.zarr/labels/nuclei/",
                                          "result.zarr/labels/nuclei/.zattrs",
                                          "result_2.tif",
                                          "sub/",
                                          "sub/result.ome.tiff",
                                          "table.csv"};
  BOOST_TEST(t.listing("out") == expected, boost::test_tools::per_element());
  BOOST_TEST(test::read_file(t.path() / "out/result.tif") == "x");
  BOOST_TEST(test::read_file(t.path() / "out/result_2.tif") == "y");
  BOOST_TEST(test::read_file(t.path() / "out/sub/result.ome.tiff") == "b");
  BOOST_TEST(fs::is_regular_file(t.path() / "out/result.zarr/labels/nuclei/.zattrs"));
  BOOST_TEST(!fs::exists(t.path() / "out/plate.zarr"));
  BOOST_TEST(fs::exists(t.path() / "out/table.csv"));
}

BOOST_AUTO_TEST_CASE(directories_imported_whole_are_never_entered_whatever_their_case) {
  TempTree t;
  t.write("out/Plate.ZARR/0/inner.tif", "z");
  t.write("out/stack.tif/page.tif", "p");
  const RenameReport r = rename_results(t.path() / "out", default_rename_pattern);
  BOOST_TEST(r.warnings.empty());
  BOOST_REQUIRE_EQUAL(r.renamed.size(), 1U);
  BOOST_TEST(r.renamed[0].second.filename() == "Plate_IMPORTED.ZARR");
  BOOST_TEST(fs::is_regular_file(t.path() / "out/Plate_IMPORTED.ZARR/0/inner.tif"));
  BOOST_TEST(fs::is_regular_file(t.path() / "out/stack.tif/page.tif"));
}

BOOST_AUTO_TEST_CASE(an_unusable_pattern_keeps_every_name_and_says_why_once_per_file) {
  TempTree t;
  t.write("out/a.tif", "a");
  t.write("out/b.tif", "b");
  const RenameReport bad_field = rename_results(t.path() / "out", "{user}.{ext}");
  BOOST_TEST(bad_field.renamed.empty());
  BOOST_REQUIRE_EQUAL(bad_field.warnings.size(), 2U);
  BOOST_TEST(bad_field.warnings[0].find("kept \"a.tif\": the rename pattern's field {user}") == 0U,
             bad_field.warnings[0]);
  const RenameReport escape = rename_results(t.path() / "out", "../{file}.{ext}");
  BOOST_TEST(escape.renamed.empty());
  BOOST_TEST(escape.warnings.size() == 2U);
  BOOST_TEST(!fs::exists(t.path() / "a.tif"));
  BOOST_TEST(fs::exists(t.path() / "out/a.tif"));
}

BOOST_AUTO_TEST_CASE(a_job_directory_built_with_a_pattern_lists_and_hashes_the_new_names) {
  TempTree t;
  t.write("results/data/out/cells.tif", "tiff bytes");
  t.write("results/data/out/cells.ome.zarr/.zattrs", "{}");
  t.write("results/data/out/cells.ome.zarr/0/.zarray", "{}");
  t.write("results/data/out/measurements.csv", "a,b\n");
  JobSources sources;
  sources.dir = t.path() / "results";
  const Uuid wf = *Uuid::parse("6f3c1b4e-9a2d-4c1b-8e7f-1234567890ab");
  const JobDir built = build_job_dir(
      t.path() / "group", wf, "7", sources, ExtractLimits{},
      JobDirOptions{.metadata_csv = "Key,Value\n", .rename_pattern = std::string(default_rename_pattern)});
  BOOST_TEST(built.renamed == 2U);
  BOOST_REQUIRE_EQUAL(built.images.images.size(), 2U);
  BOOST_TEST(built.images.images[0].filename() == "cells_IMPORTED.ome.zarr");
  BOOST_TEST(built.images.images[1].filename() == "cells_IMPORTED.tif");
  const std::string sums = test::read_file(built.path / "SHA256SUMS");
  BOOST_TEST(sums.find("7_out/data/out/cells_IMPORTED.tif\n") != std::string::npos, sums);
  BOOST_TEST(sums.find("7_out/data/out/cells_IMPORTED.ome.zarr/0/.zarray\n") != std::string::npos, sums);
  BOOST_TEST(sums.find("cells.tif") == std::string::npos, sums);
  BOOST_TEST(verify_job_dir(built.path, 1).problems.empty());
}

BOOST_AUTO_TEST_CASE(label_groups_get_their_zarr_name_and_the_labels_list_follows) {
  TempTree t;
  t.write("out/cells.ome.zarr/.zattrs", "{}");
  t.write("out/cells.ome.zarr/labels/.zattrs", R"({"labels": ["nuclei", "cells.zarr"], "other": 1})");
  t.write("out/cells.ome.zarr/labels/nuclei/.zattrs", "{}");
  t.write("out/cells.ome.zarr/labels/nuclei/0/.zarray", "{}");
  t.write("out/cells.ome.zarr/labels/cells.zarr/.zgroup", "{}");
  t.write("out/cells.ome.zarr/labels/notes/readme.txt", "not a zarr group");
  const LabelRenames r = name_label_zarrs(t.path() / "out");
  BOOST_TEST(r.warnings.empty());
  BOOST_REQUIRE_EQUAL(r.renamed.size(), 1U);
  BOOST_TEST(r.renamed[0].second == t.path() / "out/cells.ome.zarr/labels/nuclei.zarr");
  BOOST_TEST(fs::is_regular_file(t.path() / "out/cells.ome.zarr/labels/nuclei.zarr/0/.zarray"));
  BOOST_TEST(fs::is_directory(t.path() / "out/cells.ome.zarr/labels/notes"));
  BOOST_REQUIRE_EQUAL(r.rewritten.size(), 1U);
  const auto attrs = boost::json::parse(test::read_file(t.path() / "out/cells.ome.zarr/labels/.zattrs"));
  BOOST_TEST(boost::json::serialize(attrs) == R"({"labels":["nuclei.zarr","cells.zarr"],"other":1})");
  // The finder takes zarr groups only, now under their new names.
  const ImageSet found = find_importable_images(t.path() / "out");
  BOOST_REQUIRE_EQUAL(found.label_images.size(), 2U);
  BOOST_TEST(found.label_images[0].filename() == "cells.zarr");
  BOOST_TEST(found.label_images[1].filename() == "nuclei.zarr");
}

BOOST_AUTO_TEST_CASE(ome_zarr_0_5_labels_live_under_attributes_ome_and_are_renamed_there) {
  TempTree t;
  t.write("out/a.zarr/zarr.json", R"({"zarr_format":3,"node_type":"group"})");
  t.write("out/a.zarr/labels/zarr.json",
          R"({"zarr_format":3,"node_type":"group","attributes":{"ome":{"version":"0.5","labels":["seg"]}}})");
  t.write("out/a.zarr/labels/seg/zarr.json", R"({"zarr_format":3,"node_type":"group"})");
  const LabelRenames r = name_label_zarrs(t.path() / "out");
  BOOST_TEST(r.renamed.size() == 1U);
  const auto attrs = boost::json::parse(test::read_file(t.path() / "out/a.zarr/labels/zarr.json"));
  BOOST_TEST(boost::json::serialize(attrs.at_pointer("/attributes/ome/labels")) == R"(["seg.zarr"])");
}

BOOST_AUTO_TEST_CASE(a_taken_zarr_name_or_a_broken_labels_list_is_reported_not_forced) {
  TempTree t;
  t.write("out/b.zarr/labels/.zattrs", "{not json");
  t.write("out/b.zarr/labels/x/.zattrs", "{}");
  t.write("out/b.zarr/labels/x.zarr/.zattrs", "{}");
  t.write("out/b.zarr/labels/y/.zattrs", "{}");
  const LabelRenames r = name_label_zarrs(t.path() / "out");
  BOOST_TEST(r.renamed.size() == 1U);  // y
  BOOST_TEST(r.rewritten.empty());
  BOOST_REQUIRE_EQUAL(r.warnings.size(), 2U);
  BOOST_TEST(r.warnings[0].find("\"x.zarr\" exists") != std::string::npos, r.warnings[0]);
  BOOST_TEST(r.warnings[1].find("was not updated") != std::string::npos, r.warnings[1]);
  BOOST_TEST(test::read_file(t.path() / "out/b.zarr/labels/.zattrs") == "{not json");
  BOOST_TEST(fs::is_directory(t.path() / "out/b.zarr/labels/x"));
}

BOOST_AUTO_TEST_CASE(a_job_directory_hashes_the_renamed_labels_and_the_rewritten_list) {
  TempTree t;
  t.write("results/data/out/img.ome.zarr/.zattrs", "{}");
  t.write("results/data/out/img.ome.zarr/labels/.zattrs", R"({"labels":["nuclei"]})");
  t.write("results/data/out/img.ome.zarr/labels/nuclei/.zattrs", "{}");
  t.write("results/data/out/img.ome.zarr/labels/nuclei/0/0", "chunk");
  JobSources sources;
  sources.dir = t.path() / "results";
  const Uuid wf = *Uuid::parse("6f3c1b4e-9a2d-4c1b-8e7f-1234567890ac");
  const JobDir built =
      build_job_dir(t.path() / "group", wf, "8", sources, ExtractLimits{}, JobDirOptions{.metadata_csv = "K,V\n"});
  BOOST_TEST(built.labels_renamed == 1U);
  BOOST_REQUIRE_EQUAL(built.images.label_images.size(), 1U);
  BOOST_TEST(built.images.label_images[0].filename() == "nuclei.zarr");
  const std::string sums = test::read_file(built.path / "SHA256SUMS");
  BOOST_TEST(sums.find("8_out/data/out/img.ome.zarr/labels/nuclei.zarr/0/0\n") != std::string::npos, sums);
  BOOST_TEST(verify_job_dir(built.path, 1).problems.empty());
  // Off when labels are not imported: names as extracted.
  const JobDir plain = build_job_dir(t.path() / "group2", wf, "8", sources, ExtractLimits{},
                                     JobDirOptions{.metadata_csv = "K,V\n", .name_label_zarrs = false});
  BOOST_TEST(plain.labels_renamed == 0U);
  BOOST_TEST(fs::is_directory(plain.path / "8_out/data/out/img.ome.zarr/labels/nuclei"));
}

BOOST_AUTO_TEST_SUITE_END()
