// `biomero-reactor omero-check <user>` as an operator runs it: the shipped binary, a
// config file with the password in its own file, and OMERO.web (the stand-in) on
// loopback. Each step it passes is printed; the first failure is named with the advice
// that fixes it, the exit is non-zero, and the password is printed nowhere.
#include <boost/test/unit_test.hpp>

#include "omero_web_standin.hpp"
#include "test_support.hpp"

using namespace biomero_reactor;
using namespace biomero_reactor::test;

namespace {

constexpr std::string_view admin_password = "s3cret-Adm1n-pw";

struct OmeroCheckCommand {
  TestDb db;
  TempTree tree;
  OmeroWebStandin web;
  std::int64_t lab = web.add_group("Demo");
  std::int64_t root = web.add_user("root", std::string(admin_password), true, {lab});
  std::int64_t alice = web.add_user("alice", "alice-pw", false, {lab});
  std::string output;

  // The pipeline's config with an omero section, as the daemon would run with it.
  fs::path config(const std::string& url, const std::string& username, const std::string& password) {
    const fs::path pw = tree.write("omero-password", password + "\n");
    const std::string omero = "omero:\n  web:\n    url: " + url + "\n    username: " + username +
                              "\n    password_file: " + pw.string() + "\n    timeout: 5s\n";
    return write_reactor_config(tree.path(), db.conninfo(), pipeline_yaml(tree.path()) + omero);
  }

  // Runs the command and keeps its output; the exit code is returned.
  int check(const fs::path& cfg, const std::string& test_user, const std::string& password) {
    const int code = run_reactor(cfg, {"omero-check", test_user}, &output);
    BOOST_TEST_MESSAGE(output);
    BOOST_TEST(output.find(password) == std::string::npos, "the password was printed");
    return code;
  }

  [[nodiscard]] bool printed(const std::string& text) const { return output.find(text) != std::string::npos; }

  // A failed check leaves no scratch dataset or annotation behind, and no OMERO session.
  void nothing_left_behind() {
    BOOST_TEST(web.objects("dataset").empty());
    BOOST_TEST(web.annotations().empty());
    BOOST_TEST(web.live_omero_sessions() == 0);
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(omero_check_command_test)

BOOST_FIXTURE_TEST_CASE(every_step_is_printed_and_the_exit_is_zero, OmeroCheckCommand) {
  const auto cfg = config(web.url(), "root", std::string(admin_password));
  BOOST_REQUIRE_EQUAL(check(cfg, "alice", std::string(admin_password)), 0);
  for (const std::string& step :
       {"[ok] OMERO.web at " + web.url() + " serves OMERO server 1\n",
        std::string("[ok] logged in as administrator root\n"),
        std::string("[ok] su to alice (user id " + std::to_string(alice) + ", group " + std::to_string(lab) + ")\n"),
        std::string("[ok] created scratch dataset "), std::string("[ok] wrote map annotation "),
        std::string("[ok] read it back: same keys and values, owned by alice\n"),
        std::string("[ok] deleted the annotation and the scratch dataset\n"), std::string("[ok] logged out\n")}) {
    BOOST_TEST(printed(step), step);
  }
  BOOST_TEST(!printed("FAILED"));
  // The write, and its deletion (annotate_map with an empty map).
  BOOST_TEST(web.requests("POST", "/webclient/annotate_map/") == 2U);
  nothing_left_behind();
}

BOOST_FIXTURE_TEST_CASE(a_bad_password_fails_at_login_with_the_advice, OmeroCheckCommand) {
  const std::string wrong = "not-the-Adm1n-pw";
  const auto cfg = config(web.url(), "root", wrong);
  BOOST_TEST(check(cfg, "alice", wrong) == 1);
  BOOST_TEST(printed("[ok] OMERO.web at "));
  BOOST_TEST(printed("[FAILED] login: "));
  BOOST_TEST(printed("  fix: check omero.web.username and the password file"));
  BOOST_TEST(!printed("[ok] logged in"));
  nothing_left_behind();
}

BOOST_FIXTURE_TEST_CASE(a_user_who_is_not_an_administrator_is_told_to_use_one, OmeroCheckCommand) {
  const auto cfg = config(web.url(), "alice", "alice-pw");
  BOOST_TEST(check(cfg, "alice", "alice-pw") == 1);
  BOOST_TEST(printed("[FAILED] login: OMERO user alice is not an OMERO administrator"));
  BOOST_TEST(printed("  fix: omero.web.username must be an OMERO administrator"));
  BOOST_TEST(web.requests("POST", "/webgateway/su/") == 0U);
  nothing_left_behind();
}

BOOST_FIXTURE_TEST_CASE(an_unknown_test_user_is_named_with_the_advice, OmeroCheckCommand) {
  const auto cfg = config(web.url(), "root", std::string(admin_password));
  BOOST_TEST(check(cfg, "nobody", std::string(admin_password)) == 1);
  BOOST_TEST(printed("[ok] logged in as administrator root"));
  BOOST_TEST(printed("[FAILED] su: no OMERO user named nobody"));
  BOOST_TEST(printed("  fix: the test user does not exist in OMERO: pass an existing omeName"));
  nothing_left_behind();
}

BOOST_FIXTURE_TEST_CASE(an_unreachable_url_says_to_check_the_url, OmeroCheckCommand) {
  // A loopback port nobody listens on: the connection is refused at once.
  const std::string url = "http://127.0.0.1:" + free_local_port();
  const auto cfg = config(url, "root", std::string(admin_password));
  BOOST_TEST(check(cfg, "alice", std::string(admin_password)) == 1);
  BOOST_TEST(printed("[FAILED] servers: "));
  BOOST_TEST(printed("  fix: check omero.web.url (scheme, host, port, prefix), that OMERO.web is running"));
  BOOST_TEST(!printed("[ok]"));
}

BOOST_FIXTURE_TEST_CASE(without_a_url_it_says_the_key_is_not_set, OmeroCheckCommand) {
  const auto cfg = write_reactor_config(tree.path(), db.conninfo(), pipeline_yaml(tree.path()));
  BOOST_TEST(run_reactor(cfg, {"omero-check", "alice"}, &output) == 78);
  BOOST_TEST(printed("omero.web.url is not set in the config"), output);
}

BOOST_AUTO_TEST_SUITE_END()
