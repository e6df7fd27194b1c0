#include "biomero_reactor/omero_web.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>
#include <chrono>

#include "biomero_reactor/omero_job.hpp"
#include "omero_test_run.hpp"
#include "omero_web_standin.hpp"

using namespace biomero_reactor;
using biomero_reactor::test::OmeroWebStandin;
using biomero_reactor::test::run_coroutine;
namespace json = boost::json;
using Fault = OmeroWebStandin::Fault;

namespace {

constexpr const char* admin_password = "s3cret-Admin-pw";
constexpr const char* order_uuid = "0e2b8f5c-1111-4c6e-9a55-6f1a2b3c4d5e";
constexpr const char* old_order_uuid = "7d1c0b2a-2222-4c6e-9a55-6f1a2b3c4d5e";

TimePoint at(const char* iso) {
  return *parse_datetime(iso);
}

// A workflow with one SLURM task (one job) and the import task: four annotation sets.
std::vector<MapAnnotation> sample_sets() {
  Workflow wf;
  wf.id = *Uuid::parse("da9e05d2-1741-4302-a188-311267647bcc");
  wf.name = "cellexpansion";
  wf.description = "Run cellexpansion 1.2.3";
  wf.created_on = at("2026-11-29T21:37:02.956582+00:00");
  wf.modified_on = at("2026-11-29T21:37:03.401948+00:00");
  Task slurm;
  slurm.id = *Uuid::parse("9990f41e-6c02-4db4-9a54-fb25db29f2cd");
  slurm.name = "cellexpansion";
  slurm.version = "v1.0";
  slurm.input_data = json::parse(R"({"IDs":[101,102]})");
  slurm.params = json::parse(R"({"alpha":1,"nested":{"a":[1,2]}})").as_object();
  slurm.status = "COMPLETED";
  slurm.job_ids = {"1234"};
  slurm.results.push_back(json::parse(R"({"command":"sbatch job.sh","env":{"DATA_PATH":"/data/x"}})"));
  slurm.result_message = "Job 1234 done";
  slurm.created_on = at("2026-11-29T21:37:03.030745+00:00");
  slurm.modified_on = at("2026-11-29T21:37:03.340540+00:00");
  wf.tasks.push_back(slurm);
  Task import;
  import.id = *Uuid::parse("6ba96eac-f026-42a4-8d62-3e558a427830");
  import.name = "SLURM_Import_Results.py";
  import.version = "v2.0.0";
  import.input_data = json::parse(R"({"IDs":[101,102]})");
  import.status = "IMPORTING";
  import.created_on = at("2026-11-29T21:37:03.369987+00:00");
  import.modified_on = at("2026-11-29T21:37:03.458972+00:00");
  return workflow_annotations(wf, import);
}

struct OmeroFixture {
  OmeroWebStandin web;
  std::int64_t lab = web.add_group("lab");
  std::int64_t other_lab = web.add_group("other lab");
  std::int64_t root = web.add_user("root", admin_password, true, {lab});
  std::int64_t alice = web.add_user("alice", "alice-pw", false, {lab});
  std::int64_t bob = web.add_user("bob", "bob-pw", false, {lab, other_lab});

  OmeroWebSettings settings(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) const {
    OmeroWebSettings s;
    s.url = web.url();
    s.username = "root";
    s.password = admin_password;
    s.timeout = timeout;
    return s;
  }

  // A dataset of alice's with `imported` images of this order and two of an earlier run.
  struct Seeded {
    std::int64_t dataset;
    std::vector<std::int64_t> imported, decoys;
  };
  Seeded seed(int imported) {
    Seeded s{web.add_container("dataset", "Imported_Results", alice, lab), {}, {}};
    for (int i = 0; i < imported; ++i) {
      const std::int64_t image = web.add_child("image", s.dataset, "result_" + std::to_string(i) + ".tif");
      web.add_map_annotation("image", image, "biomero.import", {{"UUID", order_uuid}, {"Filepath", "/x"}}, root);
      s.imported.push_back(image);
    }
    for (int i = 0; i < 2; ++i) {
      const std::int64_t image = web.add_child("image", s.dataset, "old_" + std::to_string(i) + ".tif");
      web.add_map_annotation("image", image, "biomero.import", {{"UUID", old_order_uuid}}, root);
      s.decoys.push_back(image);
    }
    return s;
  }

  AnnotateJobOutcome annotate(const Seeded& s, OmeroWebSettings with) {
    return run_coroutine(annotate_job(with, "alice", {ContainerKind::dataset, s.dataset}, {order_uuid}, sample_sets()));
  }

  // Every image carries each set exactly once, with its values, owned by alice.
  void check_exactly_one_set(const std::vector<std::int64_t>& images) {
    const std::vector<MapAnnotation> sets = sample_sets();
    for (const std::int64_t image : images) {
      const auto on = web.annotations_on("image", image);
      for (const MapAnnotation& set : sets) {
        int found = 0;
        for (const auto& a : on) {
          if (a.ns == set.ns && a.values == set.values) {
            ++found;
            BOOST_TEST(a.owner == alice);
            BOOST_TEST(a.link_owner == alice);
            BOOST_TEST(a.group == lab);
          }
        }
        BOOST_TEST(found == 1, "image " << image << " has " << found << " of " << set.ns);
      }
      BOOST_TEST(on.size() == sets.size() + 1);  // and the importer's own
    }
  }
};

template <typename F>
OmeroWebError error_of(F f) {
  try {
    f();
  } catch (const OmeroWebError& e) {
    return e;
  }
  BOOST_FAIL("no OmeroWebError thrown");
  throw std::logic_error("unreachable");
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(omero_web_test, OmeroFixture)

BOOST_AUTO_TEST_CASE(user_and_group_names_come_from_the_json_api_and_are_cached) {
  OmeroNameCache cache(std::chrono::seconds(60));
  const OmeroNames names = run_coroutine(cache.names(settings(), alice, lab));
  BOOST_TEST(names.user == "alice");
  BOOST_TEST(names.group == "lab");
  const std::size_t asked = web.requests("GET", "/api/v0/m/");
  const OmeroNames again = run_coroutine(cache.names(settings(), alice, lab));
  BOOST_TEST(again.user == "alice");
  BOOST_TEST(web.requests("GET", "/api/v0/m/") == asked);
  BOOST_TEST(web.live_omero_sessions() == 0);  // logged out
}

BOOST_AUTO_TEST_CASE(an_unknown_user_id_is_a_permanent_error_naming_it) {
  OmeroNameCache cache;
  const OmeroWebError e = error_of([&] { run_coroutine(cache.names(settings(), 999, lab)); });
  BOOST_TEST(!e.transient());
  BOOST_TEST(std::string(e.what()) == "no OMERO user with id 999");
}

BOOST_AUTO_TEST_CASE(a_dataset_is_created_as_the_user_and_found_again_the_second_time) {
  const std::string description = destination_description("1234", "da9e05d2-1741-4302-a188-311267647bcc");
  const auto resolve = [&] {
    return run_coroutine(resolve_destination_by_name(settings(), "alice", ContainerKind::dataset, lab, "My results",
                                                     description, false));
  };
  const std::int64_t first = resolve();
  const std::int64_t second = resolve();
  BOOST_TEST(first == second);
  const auto datasets = web.objects("dataset");
  BOOST_TEST_REQUIRE(datasets.size() == 1u);
  BOOST_TEST(datasets[0].owner == alice);
  BOOST_TEST(datasets[0].group == lab);
  BOOST_TEST(datasets[0].name == "My results");
  BOOST_TEST(datasets[0].description == "Images from SLURM job 1234 (Workflow da9e05d2-1741-4302-a188-311267647bcc)");
  BOOST_TEST(web.requests("POST", "/api/v0/m/save/") == 1u);
}

BOOST_AUTO_TEST_CASE(the_exact_name_is_found_past_the_first_page_and_only_among_the_users_own) {
  for (int i = 0; i < 620; ++i) web.add_container("dataset", "batch " + std::to_string(1000 + i), alice, lab);
  web.add_container("dataset", "imported_results", alice, lab);  // not the same name
  web.add_container("dataset", "Imported_Results", bob, lab);    // not alice's
  const std::int64_t mine = web.add_container("dataset", "Imported_Results", alice, lab);
  const std::int64_t found = run_coroutine(resolve_destination_by_name(settings(), "alice", ContainerKind::dataset, lab,
                                                                       "Imported_Results", "other description", false));
  BOOST_TEST(found == mine);
  BOOST_TEST(web.requests("GET", "/api/v0/m/datasets/") == 2u);  // 500 + the rest
}

BOOST_AUTO_TEST_CASE(allow_duplicate_creates_a_new_one_but_a_retry_after_a_crash_finds_it_by_description) {
  web.add_container("dataset", "Imported_Results", alice, lab);
  const auto resolve = [&] {
    return run_coroutine(resolve_destination_by_name(settings(), "alice", ContainerKind::dataset, lab,
                                                     "Imported_Results", "Images from SLURM job 9", true));
  };
  const std::int64_t created = resolve();
  BOOST_TEST(resolve() == created);
  BOOST_TEST(web.objects("dataset").size() == 2u);
}

BOOST_AUTO_TEST_CASE(the_orders_images_get_every_set_owned_by_the_user_and_decoys_stay_untouched) {
  const Seeded s = seed(3);
  const AnnotateJobOutcome outcome = annotate(s, settings());
  BOOST_TEST(outcome.objects == 3u);
  BOOST_TEST(!outcome.all_of_the_container);
  BOOST_TEST(outcome.annotations_written == 12u);
  BOOST_TEST(outcome.write_requests == 4u);  // one per namespace block
  check_exactly_one_set(s.imported);
  for (const std::int64_t decoy : s.decoys) BOOST_TEST(web.annotations_on("image", decoy).size() == 1u);
  BOOST_TEST(web.live_omero_sessions() == 0);
}

BOOST_AUTO_TEST_CASE(the_values_are_byte_exact_in_the_server) {
  const Seeded s = seed(1);
  annotate(s, settings());
  std::vector<std::string> task_values;
  for (const auto& a : web.annotations_on("image", s.imported[0])) {
    if (a.ns == "biomero/workflow/task/cellexpansion") {
      for (const auto& kv : a.values) task_values.push_back(kv.first + "=" + kv.second);
    }
  }
  const std::vector<std::string> expected{"Task_ID=9990f41e-6c02-4db4-9a54-fb25db29f2cd",
                                          "Workflow_ID=da9e05d2-1741-4302-a188-311267647bcc",
                                          "Workflow_Name=cellexpansion",
                                          "Name=cellexpansion",
                                          "Version=v1.0",
                                          "Created_On=2026-11-29T21:37:03.030745+00:00",
                                          "Modified_On=2026-11-29T21:37:03.340540+00:00",
                                          "Status=COMPLETED",
                                          "Input_Data={'IDs': [101, 102]}",
                                          "Job_IDs=1234",
                                          "Param_alpha=1",
                                          "Param_nested={'a': [1, 2]}"};
  BOOST_TEST(task_values == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(without_any_order_uuid_every_image_of_the_dataset_is_annotated) {
  const std::int64_t dataset = web.add_container("dataset", "Imported_Results", alice, lab);
  std::vector<std::int64_t> images;
  for (int i = 0; i < 3; ++i) images.push_back(web.add_child("image", dataset, "img" + std::to_string(i)));
  const AnnotateJobOutcome outcome =
      run_coroutine(annotate_job(settings(), "alice", {ContainerKind::dataset, dataset}, {order_uuid}, sample_sets()));
  BOOST_TEST(outcome.all_of_the_container);
  BOOST_TEST(outcome.objects == 3u);
  for (const std::int64_t image : images) BOOST_TEST(web.annotations_on("image", image).size() == 4u);
}

BOOST_AUTO_TEST_CASE(a_second_run_writes_nothing_more) {
  const Seeded s = seed(3);
  annotate(s, settings());
  const std::size_t writes = web.requests("POST", "/webclient/annotate_map/");
  const AnnotateJobOutcome again = annotate(s, settings());
  BOOST_TEST(again.annotations_written == 0u);
  BOOST_TEST(again.annotations_present == 12u);
  BOOST_TEST(web.requests("POST", "/webclient/annotate_map/") == writes);
  check_exactly_one_set(s.imported);
}

BOOST_AUTO_TEST_CASE(a_5xx_in_the_middle_of_writing_then_a_retry_ends_with_exactly_one_set) {
  const Seeded s = seed(3);
  // The second block is written by OMERO, but a proxy answers 502.
  web.inject("POST", "/webclient/annotate_map/", Fault::status_502_after, 1, 1);
  const OmeroWebError e = error_of([&] { annotate(s, settings()); });
  BOOST_TEST(e.transient());
  BOOST_TEST(e.status() == 502u);
  const AnnotateJobOutcome retry = annotate(s, settings());
  BOOST_TEST(retry.annotations_present == 6u);
  BOOST_TEST(retry.annotations_written == 6u);
  check_exactly_one_set(s.imported);
}

BOOST_AUTO_TEST_CASE(a_session_expired_between_two_requests_is_renewed_once_and_the_job_completes) {
  const Seeded s = seed(3);
  web.inject("POST", "/webclient/annotate_map/", Fault::expire_sessions_after, 1, 1);
  const AnnotateJobOutcome outcome = annotate(s, settings());
  BOOST_TEST(outcome.annotations_written == 12u);
  BOOST_TEST(web.requests("POST", "/webgateway/su/") == 2u);  // the su was redone
  check_exactly_one_set(s.imported);
}

BOOST_AUTO_TEST_CASE(a_su_session_dead_on_arrival_fails_permanently_after_one_renewal) {
  OmeroWebStandin::Options short_lived;
  short_lived.su_lifetime = std::chrono::milliseconds(0);
  OmeroWebStandin expiring(short_lived);
  const auto lab2 = expiring.add_group("lab");
  expiring.add_user("root", admin_password, true, {lab2});
  const auto carol = expiring.add_user("carol", "pw", false, {lab2});
  const auto dataset = expiring.add_container("dataset", "d", carol, lab2);
  expiring.add_child("image", dataset, "a");
  OmeroWebSettings s = settings();
  s.url = expiring.url();
  // Every su session is dead on arrival: one renewal does not help, and more would not either.
  const OmeroWebError e = error_of([&] {
    run_coroutine(annotate_job(s, "carol", {ContainerKind::dataset, dataset}, {order_uuid}, sample_sets()));
  });
  BOOST_TEST(!e.transient());
  BOOST_TEST(e.status() == 403u);
}

BOOST_AUTO_TEST_CASE(a_non_administrator_login_is_a_clear_permanent_error) {
  OmeroWebSettings s = settings();
  s.username = "bob";
  s.password = "bob-pw";
  const Seeded seeded = seed(1);
  const OmeroWebError e = error_of([&] { annotate(seeded, s); });
  BOOST_TEST(!e.transient());
  BOOST_TEST(std::string(e.what()).find("is not an OMERO administrator") != std::string::npos);
  BOOST_TEST(web.live_omero_sessions() == 0);  // its session was still ended
}

BOOST_AUTO_TEST_CASE(su_to_an_unknown_user_is_a_permanent_error) {
  const Seeded seeded = seed(1);
  const OmeroWebError e = error_of([&] {
    run_coroutine(
        annotate_job(settings(), "mallory", {ContainerKind::dataset, seeded.dataset}, {order_uuid}, sample_sets()));
  });
  BOOST_TEST(!e.transient());
  BOOST_TEST(std::string(e.what()) == "no OMERO user named mallory (su failed)");
}

BOOST_AUTO_TEST_CASE(bad_credentials_are_permanent_and_the_password_is_never_in_the_message) {
  OmeroWebSettings s = settings();
  s.password = "wrong-Pa55word";
  const Seeded seeded = seed(1);
  const OmeroWebError e = error_of([&] { annotate(seeded, s); });
  BOOST_TEST(!e.transient());
  BOOST_TEST(e.status() == 403u);
  const std::string text = e.what();
  BOOST_TEST(text.find("check your user name and password") != std::string::npos);
  BOOST_TEST(text.find("wrong-Pa55word") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(no_answer_hangs_and_drops_are_transient) {
  const Seeded seeded = seed(1);
  web.inject("GET", "/api/v0/m/datasets/", Fault::hang);
  const auto started = std::chrono::steady_clock::now();
  const OmeroWebError hung = error_of([&] { annotate(seeded, settings(std::chrono::milliseconds(300))); });
  BOOST_TEST(hung.transient());
  BOOST_TEST(std::string(hung.what()).find("did not answer") != std::string::npos);
  BOOST_TEST((std::chrono::steady_clock::now() - started < std::chrono::seconds(3)));

  web.inject("POST", "/webclient/annotate_map/", Fault::drop);
  BOOST_TEST(error_of([&] { annotate(seeded, settings()); }).transient());
  web.inject("GET", "/webclient/api/annotations/", Fault::status_503);
  BOOST_TEST(error_of([&] { annotate(seeded, settings()); }).transient());

  OmeroWebSettings closed = settings();
  closed.url = "http://127.0.0.1:1";
  BOOST_TEST(error_of([&] { annotate(seeded, closed); }).transient());
  // And the job still ends with one set once OMERO.web answers again.
  annotate(seeded, settings());
  check_exactly_one_set(seeded.imported);
}

BOOST_AUTO_TEST_CASE(writes_go_in_batches_of_at_most_500_per_namespace) {
  const Seeded s = seed(501);
  const std::vector<MapAnnotation> one{sample_sets().front()};
  const AnnotateJobOutcome outcome =
      run_coroutine(annotate_job(settings(), "alice", {ContainerKind::dataset, s.dataset}, {order_uuid}, one));
  BOOST_TEST(outcome.write_requests == 2u);
  BOOST_TEST(outcome.annotations_written == 501u);
}

BOOST_AUTO_TEST_CASE(a_screen_destination_annotates_the_plates_of_the_order) {
  const std::int64_t screen = web.add_container("screen", "Imported_Results", alice, lab);
  const std::int64_t plate = web.add_child("plate", screen, "plate 1");
  const std::int64_t old_plate = web.add_child("plate", screen, "plate 0");
  web.add_map_annotation("plate", plate, "biomero.import", {{"UUID", order_uuid}}, root);
  const AnnotateJobOutcome outcome =
      run_coroutine(annotate_job(settings(), "alice", {ContainerKind::screen, screen}, {order_uuid}, sample_sets()));
  BOOST_TEST(outcome.objects == 1u);
  BOOST_TEST(web.annotations_on("plate", plate).size() == 5u);
  BOOST_TEST(web.annotations_on("plate", old_plate).empty());
}

BOOST_AUTO_TEST_CASE(a_log_file_is_uploaded_to_the_dataset_as_the_user) {
  const std::int64_t dataset = web.add_container("dataset", "d", alice, lab);
  const auto upload = [&]() -> boost::asio::awaitable<std::int64_t> {
    OmeroWebSession session(settings());
    co_await session.login();
    co_await session.su("alice");
    const std::int64_t id = co_await session.annotate_file("dataset", dataset, "omero-1234.log", "line 1\n");
    co_await session.logout();
    co_return id;
  };
  const std::int64_t id = run_coroutine(upload());
  const auto on = web.annotations_on("dataset", dataset);
  BOOST_TEST_REQUIRE(on.size() == 1u);
  BOOST_TEST(on[0].id == id);
  BOOST_TEST(on[0].file_name == "omero-1234.log");
  BOOST_TEST(on[0].file_content == "line 1\n");
  BOOST_TEST(on[0].owner == alice);
}

BOOST_AUTO_TEST_CASE(attaching_a_file_the_user_already_attached_uploads_nothing) {
  const std::int64_t dataset = web.add_container("dataset", "d", alice, lab);
  const OmeroDestination destination{ContainerKind::dataset, dataset};
  const std::int64_t first =
      run_coroutine(attach_file(settings(), "alice", destination, "omero-1234.log", std::string("line 1\n")));
  // As after a crash between the upload and its record: the same file again.
  const std::int64_t again =
      run_coroutine(attach_file(settings(), "alice", destination, "omero-1234.log", std::string("line 1\n")));
  BOOST_TEST(again == first);
  BOOST_TEST(web.requests("POST", "/webclient/annotate_file/") == 1u);
  // Another name is another file.
  run_coroutine(attach_file(settings(), "alice", destination, "omero-5678.log", std::string("line 2\n")));
  const auto on = web.annotations_on("dataset", dataset);
  BOOST_TEST_REQUIRE(on.size() == 2u);
  BOOST_TEST(on[0].file_name == "omero-1234.log");
  BOOST_TEST(on[1].file_name == "omero-5678.log");
}

BOOST_AUTO_TEST_CASE(https_with_the_stand_ins_certificate_verifies_and_without_it_fails_permanently) {
  OmeroWebStandin::Options tls;
  tls.tls = true;
  tls.prefix = "/omero";
  OmeroWebStandin secure(tls);
  const auto g = secure.add_group("lab");
  secure.add_user("root", admin_password, true, {g});
  const auto u = secure.add_user("dave", "pw", false, {g});
  OmeroWebSettings s = settings();
  s.url = secure.url();
  s.ca_file = secure.ca_file();
  OmeroNameCache cache;
  BOOST_TEST(run_coroutine(cache.names(s, u, g)).user == "dave");  // CSRF with Referer over HTTPS

  s.ca_file.clear();
  OmeroNameCache fresh;
  const OmeroWebError e = error_of([&] { run_coroutine(fresh.names(s, u, g)); });
  BOOST_TEST_MESSAGE(e.what());
  BOOST_TEST(!e.transient());
  BOOST_TEST(std::string(e.what()).find("TLS") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_stand_in_refuses_posts_without_django_csrf) {
  HttpClient client(parse_web_url(web.url()), HttpOptions{});
  HttpRequest login{boost::beast::http::verb::post, "/api/v0/login/", 11};
  login.set(boost::beast::http::field::content_type, "application/x-www-form-urlencoded");
  login.body() = "server=1&username=root&password=x";
  const HttpResponse answer = run_coroutine(client.send(login));
  BOOST_TEST(answer.result_int() == 403u);
  BOOST_TEST(answer.body() == R"({"message":"CSRF Failed: CSRF cookie not set."})");
}

BOOST_AUTO_TEST_CASE(the_stand_in_wants_a_referer_over_https_as_django_does) {
  OmeroWebStandin::Options tls;
  tls.tls = true;
  OmeroWebStandin secure(tls);
  HttpClient client(parse_web_url(secure.url()), HttpOptions{secure.ca_file(), true, std::chrono::seconds(5)});
  const HttpRequest get_token{boost::beast::http::verb::get, "/api/v0/token/", 11};
  const HttpResponse token = run_coroutine(client.send(get_token));
  const std::string cookie(token[boost::beast::http::field::set_cookie]);
  const std::string masked(json::parse(token.body()).at("data").as_string());
  HttpRequest login{boost::beast::http::verb::post, "/api/v0/login/", 11};
  login.set(boost::beast::http::field::content_type, "application/x-www-form-urlencoded");
  login.set(boost::beast::http::field::cookie, cookie.substr(0, cookie.find(';')));
  login.set("X-CSRFToken", masked);
  login.body() = "server=1&username=root&password=x";
  const HttpResponse refused = run_coroutine(client.send(login));
  BOOST_TEST(refused.result_int() == 403u);
  BOOST_TEST(refused.body() == R"({"message":"CSRF Failed: Referer checking failed - no Referer."})");
  login.set(boost::beast::http::field::referer, secure.url() + "/");
  const HttpResponse checked = run_coroutine(client.send(login));  // past CSRF: now the credentials
  BOOST_TEST(checked.body() == R"({"message":"Connection not available, please check your user name and password."})");
}

BOOST_AUTO_TEST_SUITE_END()
