// SHA256SUMS: the digests (known vectors), the file format coreutils reads and writes,
// and verify_job_dir finding each kind of damage on real files.
#include "biomero_reactor/checksums.hpp"

#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <fstream>

#include "support/test_support.hpp"

using namespace biomero_reactor;
using namespace biomero_reactor::test;
using Kind = VerifyProblem::Kind;

namespace {

// A job directory as build_job_dir leaves it, with SHA256SUMS written by the same code.
struct JobTree {
  TempTree tree;
  fs::path dir = tree.path() / "job";
  JobTree() {
    tree.write("job/1234_out.zip", "PK\x05\x06" + std::string(18, '\0'));
    tree.write("job/1234_out/data/out/result image.tiff", std::string(3 << 20, 'x'));
    tree.write("job/1234_out/metadata.csv", "Key,Value\n");
    tree.write("job/omero-1234.log", "log line\n");
    std::vector<FileDigest> digests;
    for (const auto& rel : tree.listing("job")) {
      if (rel.ends_with("/")) continue;
      digests.push_back({rel, sha256_file_hex(dir / rel)});
    }
    tree.write("job/SHA256SUMS", sha256sums_text(digests));
  }
  bool coreutils_agrees() const {
    return std::system(
               ("cd '" + dir.string() + "' && sha256sum --quiet --strict -c SHA256SUMS >/dev/null 2>&1").c_str()) == 0;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(checksums_test)

BOOST_AUTO_TEST_CASE(digests_match_the_published_test_vectors) {
  BOOST_TEST(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  BOOST_TEST(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 streamed;
  for (int i = 0; i < 1000; ++i) streamed.update("a", 1);
  BOOST_TEST(streamed.hex_digest() == sha256_hex(std::string(1000, 'a')));
}

BOOST_AUTO_TEST_CASE(the_text_is_sorted_and_round_trips_including_escaped_names) {
  const std::vector<FileDigest> files{
      {"b.tiff", std::string(64, 'b')}, {"a dir/x\\y.tiff", std::string(64, 'a')}, {"c\nd.tiff", std::string(64, 'c')}};
  const std::string text = sha256sums_text(files);
  BOOST_TEST(text == "\\" + std::string(64, 'a') + "  a dir/x\\\\y.tiff\n" + std::string(64, 'b') + "  b.tiff\n" +
                         "\\" + std::string(64, 'c') + "  c\\nd.tiff\n");
  auto back = parse_sha256sums(text);
  BOOST_REQUIRE_EQUAL(back.size(), 3U);
  BOOST_TEST(back[0].path == "a dir/x\\y.tiff");
  BOOST_TEST(back[2].path == "c\nd.tiff");
  BOOST_CHECK_THROW((void)parse_sha256sums("nothex  a\n"), std::invalid_argument);
  BOOST_CHECK_THROW((void)parse_sha256sums(std::string(64, 'a') + "  ../../etc/passwd\n"), std::invalid_argument);
  BOOST_CHECK_THROW((void)parse_sha256sums(std::string(64, 'a') + "  /etc/passwd\n"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(coreutils_reads_what_is_written_even_for_a_name_with_a_backslash) {
  TempTree t;
  t.write("job/odd\\name.tiff", "data");
  t.write("job/SHA256SUMS", sha256sums_text({{"odd\\name.tiff", sha256_hex("data")}}));
  BOOST_TEST(
      std::system(("cd '" + (t.path() / "job").string() + "' && sha256sum --quiet --strict -c SHA256SUMS").c_str()) ==
      0);
}

BOOST_FIXTURE_TEST_CASE(an_intact_directory_verifies, JobTree) {
  BOOST_REQUIRE(coreutils_agrees());
  const VerifyReport report = verify_job_dir(dir, 2);
  BOOST_TEST(report.problems.empty());
  BOOST_TEST(report.files == 4U);
  BOOST_TEST(report.bytes > (3U << 20));
}

BOOST_FIXTURE_TEST_CASE(a_flipped_byte_a_deleted_file_and_an_extra_file_are_each_reported, JobTree) {
  {
    std::fstream f(dir / "1234_out/data/out/result image.tiff", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1 << 20);
    f.put('y');
  }
  fs::remove(dir / "omero-1234.log");
  tree.write("job/1234_out/added.txt", "not archived by the reactor");
  BOOST_TEST(!coreutils_agrees());
  const VerifyReport report = verify_job_dir(dir, 2);
  BOOST_REQUIRE_EQUAL(report.problems.size(), 3U);
  BOOST_TEST(report.problems[0].path == "1234_out/added.txt");
  BOOST_TEST((report.problems[0].kind == Kind::extra));
  BOOST_TEST(report.problems[1].path == "1234_out/data/out/result image.tiff");
  BOOST_TEST((report.problems[1].kind == Kind::changed));
  BOOST_TEST(report.problems[2].path == "omero-1234.log");
  BOOST_TEST((report.problems[2].kind == Kind::missing));
}

BOOST_FIXTURE_TEST_CASE(a_directory_without_sums_or_with_a_file_replaced_by_a_link_is_reported, JobTree) {
  fs::remove(dir / "1234_out/metadata.csv");
  fs::create_symlink("/etc/hostname", dir / "1234_out/metadata.csv");
  VerifyReport report = verify_job_dir(dir, 1);
  BOOST_REQUIRE_EQUAL(report.problems.size(), 1U);
  BOOST_TEST((report.problems[0].kind == Kind::changed));
  fs::remove(dir / "SHA256SUMS");
  report = verify_job_dir(dir, 1);
  BOOST_REQUIRE_EQUAL(report.problems.size(), 1U);
  BOOST_TEST(report.problems[0].path == "SHA256SUMS");
  BOOST_TEST((report.problems[0].kind == Kind::missing));
}

BOOST_AUTO_TEST_SUITE_END()
