// rename_label_images against the OMERO.web stand-in: the images of a labels order get
// BIOMERO's "<parent> [<label>]" names, as the workflow's user, and only once.
#include <boost/test/unit_test.hpp>

#include "biomero_reactor/omero_job.hpp"
#include "omero_test_run.hpp"
#include "omero_web_standin.hpp"

using namespace biomero_reactor;
using biomero_reactor::test::OmeroWebStandin;
using biomero_reactor::test::run_coroutine;

namespace {

constexpr const char* admin_password = "s3cret-Admin-pw";
constexpr const char* labels_uuid = "0e2b8f5c-3333-4c6e-9a55-6f1a2b3c4d5e";
constexpr const char* images_uuid = "0e2b8f5c-4444-4c6e-9a55-6f1a2b3c4d5e";
constexpr const char* savename = "/webclient/action/savename/image/";

struct Fixture {
  OmeroWebStandin web;
  std::int64_t lab = web.add_group("lab");
  std::int64_t root = web.add_user("root", admin_password, true, {lab});
  std::int64_t alice = web.add_user("alice", "alice-pw", false, {lab});
  std::int64_t dataset = web.add_container("dataset", "Imported_Results", alice, lab);

  OmeroWebSettings settings() const {
    OmeroWebSettings s;
    s.url = web.url();
    s.username = "root";
    s.password = admin_password;
    s.timeout = std::chrono::milliseconds(5000);
    return s;
  }

  // An image as BIOMERO.importer leaves it: named after the file, carrying the order uuid.
  std::int64_t imported(const std::string& name, const char* uuid) {
    const std::int64_t id = web.add_child("image", dataset, name);
    web.add_map_annotation("image", id, "biomero.import", {{"UUID", uuid}}, root);
    return id;
  }

  std::string name_of(std::int64_t id) const {
    for (const auto& o : web.objects("image")) {
      if (o.id == id) return o.name;
    }
    return "(none)";
  }

  RenameLabelsOutcome rename(std::vector<LabelOrder> orders) {
    return run_coroutine(
        rename_label_images(settings(), "alice", {ContainerKind::dataset, dataset}, std::move(orders)));
  }
};

const std::string job = "/data/lab/.analyzed/wf/1234";

}  // namespace

BOOST_FIXTURE_TEST_SUITE(omero_label_rename_test, Fixture)

BOOST_AUTO_TEST_CASE(a_labels_orders_images_are_renamed_as_the_user_and_a_second_run_sends_nothing) {
  const std::int64_t a = imported("nuclei", labels_uuid);
  const std::int64_t b = imported("nuclei", labels_uuid);
  const std::int64_t other = imported("nuclei", images_uuid);  // another order's: untouched
  const LabelOrder order{labels_uuid, {job + "/a.zarr/labels/nuclei", job + "/b.zarr/labels/nuclei"}};

  const RenameLabelsOutcome first = rename({order});
  BOOST_TEST(first.images == 2u);
  BOOST_TEST(first.renamed == 2u);
  BOOST_TEST(name_of(a) == "a [nuclei]");
  BOOST_TEST(name_of(b) == "b [nuclei]");
  BOOST_TEST(name_of(other) == "nuclei");
  BOOST_TEST(web.requests("POST", savename) == 2u);
  for (const auto& o : web.objects("image")) BOOST_TEST(o.owner == alice);
  BOOST_TEST(web.live_omero_sessions() == 0);

  const RenameLabelsOutcome second = rename({order});
  BOOST_TEST(second.images == 2u);
  BOOST_TEST(second.renamed == 0u);
  BOOST_TEST(web.requests("POST", savename) == 2u);
}

BOOST_AUTO_TEST_CASE(a_rename_failing_with_a_5xx_is_transient_and_the_retry_finishes_the_rest) {
  const std::int64_t a = imported("n", labels_uuid);
  const std::int64_t b = imported("n", labels_uuid);
  const LabelOrder order{labels_uuid, {job + "/a.zarr/labels/n", job + "/b.zarr/labels/n"}};
  web.inject("POST", savename, OmeroWebStandin::Fault::status_503, 1, 1);
  try {
    rename({order});
    BOOST_FAIL("no error");
  } catch (const OmeroWebError& e) {
    BOOST_TEST(e.transient());
  }
  BOOST_TEST(name_of(a) == "a [n]");
  BOOST_TEST(name_of(b) == "n");
  const RenameLabelsOutcome retry = rename({order});
  BOOST_TEST(retry.renamed == 1u);
  BOOST_TEST(name_of(b) == "b [n]");
}

BOOST_AUTO_TEST_CASE(the_stand_in_answers_404_for_an_unknown_image_and_refuses_an_empty_name) {
  const std::int64_t a = imported("n", labels_uuid);
  auto attempt = [&](std::int64_t id, std::string name) {
    return run_coroutine([&]() -> boost::asio::awaitable<int> {
      OmeroWebSession session(settings());
      int status = 0;
      try {
        co_await session.login();
        co_await session.su("alice");
        co_await session.rename_image(id, name);
      } catch (const OmeroWebError& e) {
        status = e.status();
        BOOST_TEST(!e.transient());
      }
      co_await session.logout();
      co_return status;
    }());
  };
  BOOST_TEST(attempt(a + 1000, "x") == 404);
  BOOST_TEST(attempt(a, "") == 200);  // the form's {"bad": "true"}
  BOOST_TEST(name_of(a) == "n");
  BOOST_TEST(attempt(a, "fine") == 0);
  BOOST_TEST(name_of(a) == "fine");
}

BOOST_AUTO_TEST_CASE(no_labels_order_or_a_screen_asks_nothing) {
  imported("n", labels_uuid);
  BOOST_TEST(rename({}).images == 0u);
  const RenameLabelsOutcome on_screen = run_coroutine(rename_label_images(
      settings(), "alice", {ContainerKind::screen, dataset}, {LabelOrder{labels_uuid, {job + "/a.zarr/labels/n"}}}));
  BOOST_TEST(on_screen.images == 0u);
  BOOST_TEST(web.requests("", "/") == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
