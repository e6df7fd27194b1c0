// Normal archives: extraction reproduces the files byte for byte, zip_directory builds
// zips that round-trip, and the durable file helpers do what their names promise.
#include "biomero_reactor/archive.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <system_error>

#include "biomero_reactor/fs_util.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using namespace biomero_reactor;
using test::read_file;
using test::TempTree;

namespace {

std::string random_bytes(std::size_t size, unsigned seed) {
  std::mt19937 generator(seed);
  std::string bytes(size, '\0');
  for (char& c : bytes) {
    c = static_cast<char>(generator() & 0xFF);
  }
  return bytes;
}

// Every file (relative path → content) and directory (relative path → "<dir>") below root.
std::map<std::string, std::string> tree(const fs::path& root) {
  std::map<std::string, std::string> result;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    const std::string name = entry.path().lexically_relative(root).generic_string();
    result[name] = entry.is_directory() ? "<dir>" : read_file(entry.path());
  }
  return result;
}

// A sample results tree like a SLURM job's output.
std::map<std::string, std::string> write_results(TempTree& temp) {
  temp.write("results/data/out/result_image.tiff", random_bytes(3 << 20, 1));
  temp.write("results/data/out/measurements.csv", "label,area\n1,42\n2,17\n");
  temp.write("results/data/out/deeper/still/mask.png", random_bytes(70000, 2));
  temp.write("results/log.txt", "");
  fs::create_directories(temp.path() / "results/data/empty");
  return tree(temp.path() / "results");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(archive_test)

BOOST_AUTO_TEST_CASE(a_zipped_results_tree_extracts_to_identical_files_in_nested_directories) {
  TempTree temp;
  const auto original = write_results(temp);
  const std::uint64_t zip_size = zip_directory(temp.path() / "results", temp.path() / "1_out.zip");
  BOOST_TEST(zip_size == fs::file_size(temp.path() / "1_out.zip"));

  fs::create_directory(temp.path() / "extracted");
  const ExtractStats stats = extract_archive(temp.path() / "1_out.zip", temp.path() / "extracted", ExtractLimits{});

  BOOST_TEST(tree(temp.path() / "extracted") == original);
  BOOST_TEST(stats.entries == original.size());
  BOOST_TEST(stats.bytes == (3U << 20) + 70000U + 21U);
}

BOOST_AUTO_TEST_CASE(a_zip_extracted_by_one_two_or_four_threads_gives_the_same_files) {
  TempTree temp;
  for (unsigned i = 0; i < 24; ++i) {
    // Large and small entries mixed, so threads take entries of different lengths.
    const std::size_t size = i % 5 == 0 ? (std::size_t{2} << 20) + i : 1000 * i;
    temp.write("results/data/" + std::to_string(i % 3) + "/image" + std::to_string(i) + ".tif",
               random_bytes(size, 100 + i));
  }
  const auto original = tree(temp.path() / "results");
  static_cast<void>(zip_directory(temp.path() / "results", temp.path() / "1_out.zip"));
  for (const std::size_t threads : {1, 2, 4}) {
    BOOST_TEST_CONTEXT("threads = " << threads) {
      const fs::path target = temp.path() / ("extracted-" + std::to_string(threads));
      fs::create_directory(target);
      ExtractLimits limits;
      limits.threads = threads;
      const ExtractStats stats = extract_archive(temp.path() / "1_out.zip", target, limits);
      BOOST_TEST(tree(target) == original);
      BOOST_TEST(stats.entries == original.size());
      BOOST_TEST(stats.threads == threads);
    }
  }
}

BOOST_AUTO_TEST_CASE(zip_directory_writes_a_zip_that_unzip_accepts) {
  TempTree temp;
  write_results(temp);
  static_cast<void>(zip_directory(temp.path() / "results", temp.path() / "out.zip"));

  const std::string command = "unzip -tqq '" + (temp.path() / "out.zip").string() + "'";
  BOOST_TEST(std::system(command.c_str()) == 0);
}

BOOST_AUTO_TEST_CASE(zip_directory_refuses_a_symlink_and_leaves_no_zip) {
  TempTree temp;
  temp.write("results/a.tif", "image");
  fs::create_symlink("/etc/passwd", temp.path() / "results/passwd");

  try {
    static_cast<void>(zip_directory(temp.path() / "results", temp.path() / "out.zip"));
    BOOST_FAIL("zip_directory accepted a symlink");
  } catch (const ArchiveError& error) {
    BOOST_TEST(error.entry == "passwd");
    BOOST_TEST(std::string(error.what()).find("symbolic links") != std::string::npos);
  }
  BOOST_TEST(!fs::exists(temp.path() / "out.zip"));
}

BOOST_AUTO_TEST_CASE(zip_directory_never_overwrites_an_existing_zip) {
  TempTree temp;
  temp.write("results/a.tif", "image");
  temp.write("out.zip", "keep me");

  BOOST_CHECK_THROW(static_cast<void>(zip_directory(temp.path() / "results", temp.path() / "out.zip")),
                    std::system_error);
  BOOST_TEST(read_file(temp.path() / "out.zip") == "keep me");
}

BOOST_AUTO_TEST_CASE(a_gzipped_tar_is_recognised_by_its_content_and_extracted) {
  TempTree temp;
  const std::string content = random_bytes(200000, 3);
  {
    archive* writer = archive_write_new();
    archive_write_set_format_pax_restricted(writer);
    archive_write_add_filter_gzip(writer);
    BOOST_REQUIRE(archive_write_open_filename(writer, (temp.path() / "results.bin").c_str()) == ARCHIVE_OK);
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, "job/out/cells.ome.tiff");
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0600);
    archive_entry_set_size(entry, static_cast<la_int64_t>(content.size()));
    BOOST_REQUIRE(archive_write_header(writer, entry) == ARCHIVE_OK);
    BOOST_REQUIRE(archive_write_data(writer, content.data(), content.size()) ==
                  static_cast<la_ssize_t>(content.size()));
    archive_entry_free(entry);
    archive_write_close(writer);
    archive_write_free(writer);
  }
  fs::create_directory(temp.path() / "extracted");

  const ExtractStats stats = extract_archive(temp.path() / "results.bin", temp.path() / "extracted", ExtractLimits{});

  BOOST_TEST(stats.entries == 1U);
  BOOST_TEST(read_file(temp.path() / "extracted/job/out/cells.ome.tiff") == content);
  // Modes from the archive are not kept: the importer (another user) must read the file.
  const auto perms = fs::status(temp.path() / "extracted/job/out/cells.ome.tiff").permissions();
  BOOST_TEST(((perms & fs::perms::others_read) != fs::perms::none));
}

BOOST_AUTO_TEST_CASE(copy_file_durable_copies_every_byte) {
  TempTree temp;
  const std::string content = random_bytes((5 << 20) + 123, 4);
  temp.write("omero-7.log", content);

  const std::uint64_t copied = copy_file_durable(temp.path() / "omero-7.log", temp.path() / "copy.log");

  BOOST_TEST(copied == content.size());
  BOOST_TEST(read_file(temp.path() / "copy.log") == content);
}

BOOST_AUTO_TEST_CASE(copy_file_durable_refuses_to_overwrite_and_keeps_the_target) {
  TempTree temp;
  temp.write("new.log", "new");
  temp.write("old.log", "old");

  try {
    static_cast<void>(copy_file_durable(temp.path() / "new.log", temp.path() / "old.log"));
    BOOST_FAIL("copy_file_durable overwrote a file");
  } catch (const std::system_error& error) {
    BOOST_TEST(error.code().value() == EEXIST);
    BOOST_TEST(std::string(error.what()).find("old.log") != std::string::npos);
  }
  BOOST_TEST(read_file(temp.path() / "old.log") == "old");
}

BOOST_AUTO_TEST_CASE(copy_file_durable_from_a_missing_source_creates_nothing) {
  TempTree temp;
  BOOST_CHECK_THROW(static_cast<void>(copy_file_durable(temp.path() / "missing.log", temp.path() / "copy.log")),
                    std::system_error);
  BOOST_TEST(!fs::exists(temp.path() / "copy.log"));
}

BOOST_AUTO_TEST_CASE(write_file_durable_writes_and_replaces_content) {
  TempTree temp;
  write_file_durable(temp.path() / "metadata.csv", "Job_ID,1\nImport_Type,SLURM_Results\n");
  BOOST_TEST(read_file(temp.path() / "metadata.csv") == "Job_ID,1\nImport_Type,SLURM_Results\n");
  write_file_durable(temp.path() / "metadata.csv", "Job_ID,2\n");
  BOOST_TEST(read_file(temp.path() / "metadata.csv") == "Job_ID,2\n");
}

BOOST_AUTO_TEST_CASE(write_file_durable_does_not_write_through_a_symlink) {
  TempTree temp;
  temp.write("victim", "untouched");
  fs::create_symlink(temp.path() / "victim", temp.path() / "metadata.csv");

  BOOST_CHECK_THROW(write_file_durable(temp.path() / "metadata.csv", "x"), std::system_error);
  BOOST_TEST(read_file(temp.path() / "victim") == "untouched");
}

BOOST_AUTO_TEST_CASE(fsync_path_syncs_files_and_directories_and_names_a_missing_path) {
  TempTree temp;
  temp.write("a.txt", "a");
  BOOST_CHECK_NO_THROW(fsync_path(temp.path() / "a.txt"));
  BOOST_CHECK_NO_THROW(fsync_path(temp.path()));
  try {
    fsync_path(temp.path() / "missing");
    BOOST_FAIL("fsync_path accepted a missing path");
  } catch (const std::system_error& error) {
    BOOST_TEST(std::string(error.what()).find((temp.path() / "missing").string()) != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(safe_components_are_job_ids_and_uuids_only) {
  BOOST_TEST(is_safe_component("4242"));
  BOOST_TEST(is_safe_component("7ca5b1b2-0c38-4d1f-9f0b-2a8e9d6b8c01"));
  BOOST_TEST(is_safe_component("job_12.array-3"));
  BOOST_TEST(is_safe_component(std::string(128, 'a')));

  BOOST_TEST(!is_safe_component(""));
  BOOST_TEST(!is_safe_component("."));
  BOOST_TEST(!is_safe_component(".."));
  BOOST_TEST(!is_safe_component(".hidden"));
  BOOST_TEST(!is_safe_component("../etc"));
  BOOST_TEST(!is_safe_component("a/b"));
  BOOST_TEST(!is_safe_component("a b"));
  BOOST_TEST(!is_safe_component("caf\xC3\xA9"));
  BOOST_TEST(!is_safe_component(std::string_view("a\0b", 3)));
  BOOST_TEST(!is_safe_component(std::string(129, 'a')));
}

BOOST_AUTO_TEST_SUITE_END()
