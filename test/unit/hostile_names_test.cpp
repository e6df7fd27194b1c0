// Names in result archives as real tools write them: Python's zipfile (UTF-8 flag set
// for non-ASCII names), zips without the flag (CP437 or raw UTF-8 bytes), and the
// reactor's own zip of a results directory. The process runs in the "C" locale, as the
// daemon does: names must come out as UTF-8 whatever the locale.
#include <boost/test/unit_test.hpp>
#include <clocale>
#include <cstdlib>
#include <fstream>
#include <string>

#include "biomero_reactor/archive.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using namespace biomero_reactor;
using test::TempTree;

namespace {

// Runs python3 with `script` (argv[1] is `dir`); requires it to succeed.
void python(const std::string& script, const fs::path& dir) {
  const fs::path file = dir / "make.py";
  std::ofstream(file) << script;
  const std::string command = "python3 '" + file.string() + "' '" + dir.string() + "'";
  BOOST_REQUIRE_MESSAGE(std::system(command.c_str()) == 0, command);
}

std::string extract_message(const fs::path& zip, const fs::path& target) {
  try {
    static_cast<void>(extract_archive(zip, target, ExtractLimits{}));
  } catch (const ArchiveError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hostile_names_test)

BOOST_AUTO_TEST_CASE(utf8_names_from_python_zipfile_extract_as_they_are_in_the_c_locale) {
  BOOST_TEST(std::string(std::setlocale(LC_CTYPE, nullptr)) == "C");
  TempTree t;
  python(R"(import sys, zipfile
with zipfile.ZipFile(sys.argv[1] + "/r.zip", "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("Zellkern_5µm.tiff", b"nucleus")
    z.writestr("résultat/données_ß.tiff", b"result")
    z.writestr("日本語.tif", b"kanji")
)",
         t.path());
  const fs::path out = t.path() / "out";
  fs::create_directory(out);
  const ExtractStats stats = extract_archive(t.path() / "r.zip", out, ExtractLimits{});
  BOOST_TEST(stats.entries == 3u);
  BOOST_TEST(test::read_file(out / "Zellkern_5µm.tiff") == "nucleus");
  BOOST_TEST(test::read_file(out / "résultat" / "données_ß.tiff") == "result");
  BOOST_TEST(test::read_file(out / "日本語.tif") == "kanji");
  BOOST_TEST(std::string(std::setlocale(LC_CTYPE, nullptr)) == "C");  // the process locale is left alone
}

BOOST_AUTO_TEST_CASE(names_without_the_utf8_flag_are_utf8_when_valid_else_cp437) {
  TempTree t;
  // Placeholders of the right length, patched to raw bytes: the flag stays off.
  python(R"(import sys, zipfile
d = sys.argv[1]
with zipfile.ZipFile(d + "/raw.zip", "w") as z:
    z.writestr("r__sultat.tiff", b"utf8 bytes")
    z.writestr("Zellkern_5_m.tiff", b"cp437 bytes")
data = open(d + "/raw.zip", "rb").read()
assert not any(i.flag_bits & 0x800 for i in zipfile.ZipFile(d + "/raw.zip").infolist())
data = data.replace(b"r__sultat", "résultat".encode("utf-8"))
data = data.replace(b"Zellkern_5_m", "Zellkern_5µm".encode("cp437"))
open(d + "/raw.zip", "wb").write(data)
)",
         t.path());
  const fs::path out = t.path() / "out";
  fs::create_directory(out);
  const std::string message = extract_message(t.path() / "raw.zip", out);
  BOOST_TEST(message.empty(), message);
  BOOST_TEST(test::read_file(out / "résultat.tiff") == "utf8 bytes");
  BOOST_TEST(test::read_file(out / "Zellkern_5µm.tiff") == "cp437 bytes");
}

BOOST_AUTO_TEST_CASE(a_name_flagged_utf8_that_is_not_is_refused_clearly) {
  TempTree t;
  python(R"(import sys, zipfile
d = sys.argv[1]
with zipfile.ZipFile(d + "/bad.zip", "w") as z:
    z.writestr("é_bad.tif", b"x")
data = open(d + "/bad.zip", "rb").read().replace("é_bad".encode("utf-8"), b"\xff\xfe_bad")
open(d + "/bad.zip", "wb").write(data)
)",
         t.path());
  const fs::path out = t.path() / "out";
  fs::create_directory(out);
  const std::string message = extract_message(t.path() / "bad.zip", out);
  BOOST_TEST(message.find("not valid UTF-8") != std::string::npos, message);
  BOOST_TEST(fs::is_empty(out));
}

BOOST_AUTO_TEST_CASE(a_name_with_a_control_character_is_refused) {
  TempTree t;
  python(R"(import sys, zipfile
with zipfile.ZipFile(sys.argv[1] + "/ctl.zip", "w") as z:
    z.writestr("line\nbreak.tif", b"x")
)",
         t.path());
  const fs::path out = t.path() / "out";
  fs::create_directory(out);
  const std::string message = extract_message(t.path() / "ctl.zip", out);
  BOOST_TEST(message.find("control character") != std::string::npos, message);
}

BOOST_AUTO_TEST_CASE(a_results_directory_with_utf8_names_zips_and_extracts_round) {
  TempTree t;
  t.write("results/Zellkern_5µm.tiff", "a");
  t.write("results/résultat/b.tiff", "b");
  const fs::path zip = t.path() / "out.zip";
  static_cast<void>(zip_directory(t.path() / "results", zip));
  // What other tools read: the UTF-8 names, flagged.
  python(R"(import sys, zipfile
names = sorted(i.filename for i in zipfile.ZipFile(sys.argv[1] + "/out.zip").infolist())
assert names == ["Zellkern_5µm.tiff", "résultat/", "résultat/b.tiff"], names
)",
         t.path());
  const fs::path out = t.path() / "out";
  fs::create_directory(out);
  static_cast<void>(extract_archive(zip, out, ExtractLimits{}));
  BOOST_TEST(test::read_file(out / "Zellkern_5µm.tiff") == "a");
  BOOST_TEST(test::read_file(out / "résultat" / "b.tiff") == "b");
}

BOOST_AUTO_TEST_SUITE_END()
