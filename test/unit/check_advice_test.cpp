// check's warnings about settings without which jobs fail later, and its description of
// what the storage probe created.
#include "biomero_reactor/check_advice.hpp"

#include <boost/test/unit_test.hpp>

using namespace biomero_reactor;

namespace {

bool any_has(const std::vector<std::string>& lines, const std::string& what) {
  for (const auto& l : lines) {
    if (l.find(what) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(check_advice_test)

BOOST_AUTO_TEST_CASE(the_defaults_warn_about_user_names_and_destination) {
  const auto w = setup_warnings(default_config());
  BOOST_TEST(w.size() == 2U);
  BOOST_TEST(any_has(w, "no way to get OMERO user names"));
  BOOST_TEST(any_has(w, "no destination for a job whose workflow names no Dataset_ID/Screen_ID"));
}

BOOST_AUTO_TEST_CASE(omero_web_gives_both) {
  Config cfg = default_config();
  cfg.omero.web.url = "http://omeroweb:4080";
  BOOST_TEST(setup_warnings(cfg).empty());
}

BOOST_AUTO_TEST_CASE(names_users_and_destination_id_silence_them) {
  Config cfg = default_config();
  cfg.names.users[52] = "alice";
  cfg.destination.id = "51";
  BOOST_TEST(setup_warnings(cfg).empty());
}

BOOST_AUTO_TEST_CASE(destination_groups_alone_cover_only_their_groups) {
  Config cfg = default_config();
  cfg.names.users[52] = "alice";
  cfg.destination.groups["team-a"] = Destination{"Dataset", "1201"};
  cfg.destination.groups["screening"] = Destination{"Screen", ""};
  const auto w = setup_warnings(cfg);
  BOOST_REQUIRE(w.size() == 1U);
  BOOST_TEST(
      w[0].find("only in the groups of destination.groups (team-a); in any other group it fails") != std::string::npos,
      w[0]);
  BOOST_TEST(w[0].find("destination.id") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_probe_line_names_every_directory_created_removed_or_left) {
  ProbeResult p{"/data/g/.analyzed", true, "", {}, {"/data/g", "/data/g/.analyzed"}};
  BOOST_TEST(describe_probe("g", p) ==
             "group g: /data/g/.analyzed is writable (a probe file was created, read back and removed; "
             "created and removed /data/g, /data/g/.analyzed)");
  p.removed = {"/data/g/.analyzed"};
  p.created = {"/data/g"};
  BOOST_TEST(describe_probe("g", p).find("created and left /data/g: remove it if the group is not used") !=
             std::string::npos);
  p.created.clear();
  p.removed.clear();
  BOOST_TEST(describe_probe("g", p) ==
             "group g: /data/g/.analyzed is writable (a probe file was created, read back and removed; no "
             "directory created)");
  const ProbeResult failed{"/ro/g/.analyzed", false, "cannot create /ro/g/.analyzed: Permission denied", {}, {}};
  BOOST_TEST(describe_probe("g", failed) ==
             "group g: /ro/g/.analyzed: cannot create /ro/g/.analyzed: Permission denied");
}

BOOST_AUTO_TEST_SUITE_END()
