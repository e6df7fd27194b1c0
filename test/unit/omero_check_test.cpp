#include "biomero_reactor/omero_check.hpp"

#include <boost/test/unit_test.hpp>
#include <sstream>

#include "omero_test_run.hpp"
#include "omero_web_standin.hpp"

using namespace biomero_reactor;
using biomero_reactor::test::OmeroWebStandin;
using biomero_reactor::test::run_coroutine;

namespace {

struct CheckFixture {
  OmeroWebStandin web;
  std::int64_t lab = web.add_group("lab");
  std::int64_t root = web.add_user("root", "root-Pw-123", true, {lab});
  std::int64_t alice = web.add_user("alice", "alice-pw", false, {lab});
  std::ostringstream out;

  OmeroWebSettings settings() const {
    OmeroWebSettings s;
    s.url = web.url();
    s.username = "root";
    s.password = "root-Pw-123";
    s.timeout = std::chrono::milliseconds(2000);
    return s;
  }
  bool check(const OmeroWebSettings& s, const std::string& user) {
    const bool ok = run_coroutine(omero_check(s, user, out));
    BOOST_TEST_MESSAGE(out.str());
    BOOST_TEST(out.str().find(s.password) == std::string::npos);
    return ok;
  }
  bool printed(const std::string& text) const { return out.str().find(text) != std::string::npos; }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(omero_check_test, CheckFixture)

BOOST_AUTO_TEST_CASE(every_step_passes_and_nothing_is_left_behind) {
  BOOST_TEST(check(settings(), "alice"));
  BOOST_TEST(printed("[ok] su to alice"));
  BOOST_TEST(printed("[ok] read it back: same keys and values, owned by alice"));
  BOOST_TEST(printed("[ok] logged out"));
  BOOST_TEST(!printed("FAILED"));
  BOOST_TEST(web.objects("dataset").empty());
  BOOST_TEST(web.annotations().empty());
  BOOST_TEST(web.live_omero_sessions() == 0);
}

BOOST_AUTO_TEST_CASE(an_unreachable_url_says_to_check_the_url) {
  OmeroWebSettings s = settings();
  s.url = "http://127.0.0.1:1";
  BOOST_TEST(!check(s, "alice"));
  BOOST_TEST(printed("[FAILED] servers"));
  BOOST_TEST(printed("fix: check omero.web.url"));
}

BOOST_AUTO_TEST_CASE(a_wrong_server_id_is_named) {
  OmeroWebSettings s = settings();
  s.server_id = 2;
  BOOST_TEST(!check(s, "alice"));
  BOOST_TEST(printed("[FAILED] servers: OMERO.web has no server 2"));
}

BOOST_AUTO_TEST_CASE(bad_credentials_say_to_check_the_user_and_password_file) {
  OmeroWebSettings s = settings();
  s.password = "not-the-password";
  BOOST_TEST(!check(s, "alice"));
  BOOST_TEST(printed("[FAILED] login"));
  BOOST_TEST(printed("check omero.web.username and the password file"));
}

BOOST_AUTO_TEST_CASE(a_non_administrator_is_told_to_use_one) {
  OmeroWebSettings s = settings();
  s.username = "alice";
  s.password = "alice-pw";
  BOOST_TEST(!check(s, "alice"));
  BOOST_TEST(printed("[FAILED] login: OMERO user alice is not an OMERO administrator"));
}

BOOST_AUTO_TEST_CASE(an_unknown_test_user_is_named) {
  BOOST_TEST(!check(settings(), "nobody"));
  BOOST_TEST(printed("[FAILED] su: no OMERO user named nobody"));
  BOOST_TEST(printed("the test user does not exist"));
}

BOOST_AUTO_TEST_CASE(a_server_error_at_login_points_at_omero_webs_log) {
  web.inject("POST", "/api/v0/login/", OmeroWebStandin::Fault::status_503);
  BOOST_TEST(!check(settings(), "alice"));
  BOOST_TEST(printed("[FAILED] login"));
  BOOST_TEST(printed("OMERO.web or OMERO failed"));
}

BOOST_AUTO_TEST_CASE(a_failure_after_creating_the_dataset_reports_what_was_left) {
  web.inject("POST", "/webclient/annotate_map/", OmeroWebStandin::Fault::status_503);
  BOOST_TEST(!check(settings(), "alice"));
  BOOST_TEST(printed("[FAILED] annotate"));
  BOOST_TEST(printed("left behind: scratch dataset"));
}

BOOST_AUTO_TEST_SUITE_END()
