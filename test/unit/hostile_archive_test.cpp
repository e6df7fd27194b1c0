// Hostile archives, each generated here (libarchive's writer, or bytes patched after it):
// every one is refused with an ArchiveError naming the entry and the reason, and nothing
// appears outside the target directory.
#include <archive.h>
#include <archive_entry.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "biomero_reactor/archive.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using namespace biomero_reactor;
using test::TempTree;

namespace {

enum class Format { zip, stored_zip, ustar, tar_gz };

struct Item {
  std::string name;
  std::string data;
  unsigned type = AE_IFREG;
  std::string symlink;   // for AE_IFLNK
  std::string hardlink;  // makes the entry a hard link
};

Item file(std::string name, std::string data) {
  return {std::move(name), std::move(data), AE_IFREG, "", ""};
}

void write_archive(const fs::path& path, Format format, const std::vector<Item>& items) {
  const std::unique_ptr<archive, decltype(&archive_write_free)> writer(archive_write_new(), archive_write_free);
  archive* a = writer.get();
  switch (format) {
    case Format::zip:
      archive_write_set_format_zip(a);
      archive_write_zip_set_compression_deflate(a);
      break;
    case Format::stored_zip:
      archive_write_set_format_zip(a);
      archive_write_zip_set_compression_store(a);
      break;
    case Format::ustar:
      archive_write_set_format_ustar(a);
      break;
    case Format::tar_gz:
      archive_write_set_format_ustar(a);
      archive_write_add_filter_gzip(a);
      break;
  }
  archive_write_set_bytes_in_last_block(a, 1);
  BOOST_REQUIRE(archive_write_open_filename(a, path.c_str()) == ARCHIVE_OK);
  for (const Item& item : items) {
    const std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(), archive_entry_free);
    archive_entry* e = entry.get();
    archive_entry_set_pathname(e, item.name.c_str());
    archive_entry_set_filetype(e, item.type);
    archive_entry_set_perm(e, 0644);
    if (item.type == AE_IFLNK) {
      archive_entry_set_symlink(e, item.symlink.c_str());
    }
    if (item.type == AE_IFCHR) {
      archive_entry_set_rdev(e, makedev(1, 3));  // /dev/null
    }
    if (!item.hardlink.empty()) {
      archive_entry_set_hardlink(e, item.hardlink.c_str());
    }
    archive_entry_set_size(
        e, item.type == AE_IFREG && item.hardlink.empty() ? static_cast<la_int64_t>(item.data.size()) : 0);
    // Non-UTF-8 names are written raw with a warning: exactly what a hostile archive holds.
    BOOST_REQUIRE(archive_write_header(a, e) >= ARCHIVE_WARN);
    if (!item.data.empty()) {
      BOOST_REQUIRE(archive_write_data(a, item.data.data(), item.data.size()) ==
                    static_cast<la_ssize_t>(item.data.size()));
    }
  }
  BOOST_REQUIRE(archive_write_close(a) == ARCHIVE_OK);
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::uint64_t bytes_below(const fs::path& dir) {
  std::uint64_t total = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (fs::is_regular_file(entry.symlink_status())) {
      total += entry.file_size();
    }
  }
  return total;
}

// Rewrites every occurrence of the 32-bit size `real` in the zip (its local header,
// central directory and data descriptor) to declare 1000 bytes instead. Returns how many.
int declare_1000_bytes_instead_of(const fs::path& zip, std::uint32_t real_size) {
  std::string bytes = test::read_file(zip);
  char real[4];
  std::memcpy(real, &real_size, 4);  // zip is little-endian, like this machine
  int patched = 0;
  for (std::size_t at = bytes.find(std::string(real, 4)); at != std::string::npos;
       at = bytes.find(std::string(real, 4), at + 4)) {
    const std::uint32_t lie = 1000;
    std::memcpy(&bytes[at], &lie, 4);
    ++patched;
  }
  write_bytes(zip, bytes);
  return patched;
}

// The whole playground: an archive, an empty target beside it, and everything else that
// must stay as it was.
struct Playground {
  TempTree temp;
  fs::path archive = temp.path() / "job" / "1_out.archive";
  fs::path target = temp.path() / "job" / "1_out";
  Playground() { fs::create_directories(target); }

  // Everything below the temp dir except inside the target, symlinks not followed.
  [[nodiscard]] std::vector<std::string> outside() const {
    std::vector<std::string> listing;
    for (auto it = fs::recursive_directory_iterator(temp.path()); it != fs::recursive_directory_iterator(); ++it) {
      if (it->path() == target) {
        it.disable_recursion_pending();
        continue;
      }
      listing.push_back(it->path().string());
    }
    std::sort(listing.begin(), listing.end());
    return listing;
  }

  // The refusal extracting the archive ends with, if any.
  [[nodiscard]] std::optional<ArchiveError> refusal(const ExtractLimits& limits) const {
    try {
      static_cast<void>(extract_archive(archive, target, limits));
    } catch (const ArchiveError& error) {
      return error;
    }
    return std::nullopt;
  }

  // Extracts, expecting a refusal that names `entry` and contains `reason`; checks that
  // nothing changed outside the target and that no `x` or `evil` escaped anywhere.
  void expect_refused(const std::string& entry, const std::string& reason,
                      const ExtractLimits& limits = ExtractLimits{}) const {
    const std::vector<std::string> before = outside();
    const std::string archive_bytes = test::read_file(archive);
    const std::optional<ArchiveError> refused = refusal(limits);
    BOOST_REQUIRE_MESSAGE(refused, "extract_archive accepted the archive");
    const std::string message = refused->what();
    BOOST_TEST_MESSAGE(message);
    BOOST_TEST(refused->entry == entry);
    // A file that is no readable archive at all has no entry to name.
    const std::string named = entry.empty() ? "archive: " : "\"" + entry + "\"";
    BOOST_TEST(message.find(named) != std::string::npos, message);
    BOOST_TEST(message.find(reason) != std::string::npos, message);

    BOOST_TEST(outside() == before, "something changed outside the target directory");
    BOOST_TEST(test::read_file(archive) == archive_bytes);
    for (const char* name : {"x", "evil", "passwd"}) {
      BOOST_TEST(!fs::exists(fs::symlink_status(temp.path() / name)), name);
      BOOST_TEST(!fs::exists(fs::symlink_status(temp.path() / "job" / name)), name);
    }
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(hostile_archive_test)

BOOST_AUTO_TEST_CASE(a_zip_slip_entry_fails_with_its_name) {
  const Playground p;
  write_archive(p.archive, Format::zip, {file("ok.txt", "fine"), file("../x", "escaped")});
  p.expect_refused("../x", "path escapes the job directory");
}

BOOST_AUTO_TEST_CASE(a_dotdot_hidden_inside_a_path_fails) {
  const Playground p;
  write_archive(p.archive, Format::ustar, {file("a/b/../../../x", "escaped")});
  p.expect_refused("a/b/../../../x", "path escapes the job directory");
}

BOOST_AUTO_TEST_CASE(an_absolute_path_fails) {
  const Playground p;
  const std::string absolute = (p.temp.path() / "x").string();
  write_archive(p.archive, Format::zip, {file(absolute, "escaped")});
  p.expect_refused(absolute, "absolute paths are not allowed");
}

BOOST_AUTO_TEST_CASE(a_symlink_to_the_root_then_a_file_through_it_fails_at_the_link) {
  const Playground p;
  const std::string escape = p.temp.path().string();
  write_archive(p.archive, Format::zip, {{"link", "", AE_IFLNK, escape, ""}, file("link/evil", "through the link")});
  p.expect_refused("link", "symbolic links are not allowed");
  BOOST_TEST(!fs::exists(fs::symlink_status(p.target / "link")));
}

BOOST_AUTO_TEST_CASE(a_symlink_to_the_parent_fails_in_a_tar_too) {
  const Playground p;
  write_archive(p.archive, Format::ustar, {{"up", "", AE_IFLNK, "..", ""}, file("up/evil", "through the link")});
  p.expect_refused("up", "symbolic links are not allowed");
}

BOOST_AUTO_TEST_CASE(a_symlink_planted_on_disk_is_never_followed) {
  const Playground p;
  fs::create_directory(p.temp.path() / "elsewhere");
  fs::create_directory_symlink(p.temp.path() / "elsewhere", p.target / "data");
  write_archive(p.archive, Format::zip, {file("data/evil", "through the planted link")});
  p.expect_refused("data/evil", "\"data\" is not a directory");
  BOOST_TEST(fs::is_empty(p.temp.path() / "elsewhere"));
}

BOOST_AUTO_TEST_CASE(a_hardlink_to_etc_passwd_fails) {
  const Playground p;
  write_archive(p.archive, Format::ustar, {{"passwd", "", AE_IFREG, "", "/etc/passwd"}});
  p.expect_refused("passwd", "hard links are not allowed");
  BOOST_TEST(!fs::exists(p.target / "passwd"));
}

BOOST_AUTO_TEST_CASE(a_hardlink_to_a_path_outside_fails) {
  const Playground p;
  write_archive(p.archive, Format::ustar, {{"inside", "", AE_IFREG, "", "../x"}});
  p.expect_refused("inside", "hard links are not allowed");
}

BOOST_AUTO_TEST_CASE(a_character_device_fails) {
  const Playground p;
  write_archive(p.archive, Format::ustar, {{"null", "", AE_IFCHR, "", ""}});
  p.expect_refused("null", "device files are not allowed");
  BOOST_TEST(!fs::exists(fs::symlink_status(p.target / "null")));
}

BOOST_AUTO_TEST_CASE(a_fifo_fails) {
  const Playground p;
  write_archive(p.archive, Format::ustar, {{"pipe", "", AE_IFIFO, "", ""}});
  p.expect_refused("pipe", "FIFOs are not allowed");
  BOOST_TEST(!fs::exists(fs::symlink_status(p.target / "pipe")));
}

BOOST_AUTO_TEST_CASE(a_zip_bomb_by_ratio_fails_before_writing_its_data) {
  const Playground p;
  write_archive(p.archive, Format::zip, {file("zeros.bin", std::string(50 << 20, '\0'))});
  ExtractLimits limits;
  limits.max_ratio = 100;
  p.expect_refused("zeros.bin", "compression ratio exceeds limits.max_ratio (100)", limits);
  BOOST_TEST(bytes_below(p.target) == 0U);
}

BOOST_AUTO_TEST_CASE(a_zip_bomb_that_lies_about_its_size_stops_at_the_ratio_limit) {
  const Playground p;
  const std::string zeros(50 << 20, '\0');
  write_archive(p.archive, Format::zip, {file("zeros.bin", zeros)});
  // Declare 1000 bytes instead of 50 MiB in both the local and the central header.
  BOOST_REQUIRE(declare_1000_bytes_instead_of(p.archive, 50U << 20) >= 2);
  const auto archive_size = fs::file_size(p.archive);

  ExtractLimits limits;
  limits.max_ratio = 100;
  const std::optional<ArchiveError> refusal = p.refusal(limits);
  BOOST_REQUIRE(refusal);
  BOOST_TEST_MESSAGE(refusal->what());
  BOOST_TEST(refusal->entry == "zeros.bin");
  // Either the ratio cap or libarchive's own size check stops it; never 50 MiB on disk.
  BOOST_TEST(bytes_below(p.target) <= 100 * archive_size);
}

BOOST_AUTO_TEST_CASE(an_archive_over_the_total_size_limit_fails_at_the_entry_that_crosses_it) {
  const Playground p;
  const std::string chunk(700 << 10, 'a');
  write_archive(p.archive, Format::stored_zip, {file("a.bin", chunk), file("b.bin", chunk), file("c.bin", chunk)});
  ExtractLimits limits;
  limits.max_total_bytes = 1 << 20;
  p.expect_refused("b.bin", "uncompressed size exceeds limits.max_total_bytes (1048576 bytes)", limits);
  BOOST_TEST(bytes_below(p.target) <= limits.max_total_bytes);
}

BOOST_AUTO_TEST_CASE(too_many_entries_fail_at_the_first_one_over) {
  const Playground p;
  std::vector<Item> items;
  for (int i = 0; i < 11; ++i) {
    items.push_back(file("f" + std::to_string(i), "x"));
  }
  write_archive(p.archive, Format::zip, items);
  ExtractLimits limits;
  limits.max_entries = 10;
  p.expect_refused("f10", "more than 10 entries", limits);
}

BOOST_AUTO_TEST_CASE(deep_paths_count_the_directories_they_imply_against_the_entry_limit) {
  const Playground p;
  // Two entries, 300 directories deep each: few entries, but 600 directories to make.
  std::string deep;
  for (int i = 0; i < 300; ++i) deep += "d/";
  write_archive(p.archive, Format::zip, {file(deep + "a.tif", "x"), file("e/" + deep + "b.tif", "y")});
  ExtractLimits limits;
  limits.max_entries = 500;
  p.expect_refused("e/" + deep + "b.tif", "more than 500 files and directories in the archive", limits);
  std::size_t directories = 0;
  for (auto it = fs::recursive_directory_iterator(p.target); it != fs::recursive_directory_iterator(); ++it) {
    directories += it->is_directory() ? 1 : 0;
  }
  BOOST_TEST(directories <= 500U);
}

BOOST_AUTO_TEST_CASE(a_zip_cut_in_half_fails) {
  const Playground p;
  write_archive(p.archive, Format::zip,
                {file("a.txt", std::string(100000, 'a')), file("b.txt", std::string(100000, 'b'))});
  const std::string bytes = test::read_file(p.archive);
  write_bytes(p.archive, bytes.substr(0, bytes.size() / 2));
  // Without its central directory nothing names the entries: the refusal says why.
  p.expect_refused("", "truncated, or not an archive");
  BOOST_TEST(fs::is_empty(p.target));
}

BOOST_AUTO_TEST_CASE(a_truncated_tar_gz_fails_at_the_entry_it_cuts) {
  const Playground p;
  std::string noise(300000, '\0');
  unsigned state = 7;
  for (char& c : noise) {
    state = state * 1103515245U + 12345U;
    c = static_cast<char>(state >> 24);
  }
  write_archive(p.archive, Format::tar_gz, {file("first.bin", "small"), file("second.bin", noise)});
  const std::string bytes = test::read_file(p.archive);
  write_bytes(p.archive, bytes.substr(0, bytes.size() / 2));
  p.expect_refused("second.bin", "runcated");
}

BOOST_AUTO_TEST_CASE(a_crc_error_in_a_stored_entry_fails) {
  const Playground p;
  const std::string marker = "the original content of this stored entry";
  write_archive(p.archive, Format::stored_zip, {file("data.csv", marker)});
  std::string bytes = test::read_file(p.archive);
  const std::size_t at = bytes.find(marker);
  BOOST_REQUIRE(at != std::string::npos);
  bytes[at + 5] ^= 0x01;
  write_bytes(p.archive, bytes);
  p.expect_refused("data.csv", "CRC");
}

BOOST_AUTO_TEST_CASE(a_crc_error_in_one_of_many_entries_fails_with_several_threads) {
  const Playground p;
  std::vector<Item> items;
  for (int i = 0; i < 8; ++i) {
    items.push_back(file("e" + std::to_string(i), std::string(1 << 20, static_cast<char>('a' + i))));
  }
  write_archive(p.archive, Format::stored_zip, items);
  std::string bytes = test::read_file(p.archive);
  const std::size_t at = bytes.find(std::string(1 << 20, 'f'));  // the data of e5
  BOOST_REQUIRE(at != std::string::npos);
  bytes[at + 1000] = 'X';
  write_bytes(p.archive, bytes);
  ExtractLimits limits;
  limits.threads = 4;
  p.expect_refused("e5", "CRC", limits);
}

BOOST_AUTO_TEST_CASE(entries_that_lie_about_their_size_stop_at_the_total_limit_across_threads) {
  const Playground p;
  std::vector<Item> items;
  // Each entry alone is over the limit, so the limit stops it before libarchive's own
  // end-of-entry size check can, however the threads interleave.
  for (int i = 0; i < 4; ++i) {
    items.push_back(file("zeros" + std::to_string(i), std::string(16 << 20, '\0')));
  }
  write_archive(p.archive, Format::zip, items);
  // Each entry declares 1000 bytes instead of 16 MiB, in both headers.
  BOOST_REQUIRE(declare_1000_bytes_instead_of(p.archive, 16U << 20) >= 8);

  ExtractLimits limits;
  limits.threads = 4;
  limits.max_total_bytes = 10 << 20;
  limits.max_ratio = 1e6;
  const std::optional<ArchiveError> refusal = p.refusal(limits);
  BOOST_REQUIRE(refusal);
  BOOST_TEST_MESSAGE(refusal->what());
  BOOST_TEST(refusal->entry.starts_with("zeros"));
  BOOST_TEST(std::string(refusal->what()).find("exceeds limits.max_total_bytes") != std::string::npos);
  // The threads reserve every block before writing it: the limit holds across them.
  BOOST_TEST(bytes_below(p.target) <= limits.max_total_bytes);
}

BOOST_AUTO_TEST_CASE(an_empty_zip_extracts_nothing_and_is_not_an_error) {
  const Playground p;
  write_archive(p.archive, Format::zip, {});
  const ExtractStats stats = extract_archive(p.archive, p.target, ExtractLimits{});
  BOOST_TEST(stats.entries == 0U);
  BOOST_TEST(stats.bytes == 0U);
  BOOST_TEST(fs::is_empty(p.target));
}

BOOST_AUTO_TEST_CASE(an_empty_file_extracts_nothing_and_is_not_an_error) {
  const Playground p;
  write_bytes(p.archive, "");
  const ExtractStats stats = extract_archive(p.archive, p.target, ExtractLimits{});
  BOOST_TEST(stats.entries == 0U);
  BOOST_TEST(fs::is_empty(p.target));
}

// A zip name without the UTF-8 flag that is not UTF-8 is CP437, the zip format's own
// charset (hostile_names_test has the rule in full): never refused, never raw bytes.
BOOST_AUTO_TEST_CASE(a_non_utf8_name_in_a_zip_is_read_as_cp437) {
  const Playground p;
  write_archive(p.archive, Format::zip, {file("bad\xFF\xFEname.tif", "x")});
  static_cast<void>(extract_archive(p.archive, p.target, ExtractLimits{}));
  BOOST_TEST(test::read_file(p.target / "bad\u00A0\u25A0name.tif") == "x");
}

BOOST_AUTO_TEST_CASE(a_non_utf8_name_in_a_tar_fails_with_the_bytes_escaped) {
  const Playground p;
  write_archive(p.archive, Format::ustar, {file("dir\xC0\xAF/evil", "overlong slash")});
  p.expect_refused("dir\\xC0\\xAF/evil", "not valid UTF-8");
  BOOST_TEST(fs::is_empty(p.target));
}

BOOST_AUTO_TEST_CASE(a_duplicate_entry_fails_instead_of_overwriting) {
  const Playground p;
  write_archive(p.archive, Format::zip, {file("a.txt", "first"), file("a.txt", "second")});
  p.expect_refused("a.txt", "duplicate entry");
  // A zip's headers are all checked before any of its data is written.
  BOOST_TEST(!fs::exists(p.target / "a.txt"));
}

BOOST_AUTO_TEST_CASE(a_duplicate_entry_in_a_tar_fails_instead_of_overwriting) {
  const Playground p;
  write_archive(p.archive, Format::ustar, {file("a.txt", "first"), file("a.txt", "second")});
  p.expect_refused("a.txt", "duplicate entry");
  // A tar is one stream: the first copy was written before the second header was read.
  BOOST_TEST(test::read_file(p.target / "a.txt") == "first");
}

BOOST_AUTO_TEST_CASE(a_file_used_as_a_directory_fails) {
  const Playground p;
  write_archive(p.archive, Format::zip, {file("a", "file"), file("a/b", "below a file")});
  p.expect_refused("a/b", "\"a\" is not a directory");
}

BOOST_AUTO_TEST_CASE(an_mtree_manifest_cannot_copy_local_files_in) {
  const Playground p;
  write_bytes(p.archive, "#mtree\n./passwd type=file contents=/etc/passwd\n");
  p.expect_refused("", "Unrecognized archive format");
  BOOST_TEST(fs::is_empty(p.target));
}

BOOST_AUTO_TEST_CASE(a_file_that_is_no_archive_fails) {
  const Playground p;
  write_bytes(p.archive, std::string(5000, 'z'));
  p.expect_refused("", "Unrecognized archive format");
}

BOOST_AUTO_TEST_SUITE_END()
