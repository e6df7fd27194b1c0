// Who a job belongs to and where it is imported: pure decisions over workflow and config.
#include "biomero_reactor/destination.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include "biomero_reactor/errors.hpp"

using namespace biomero_reactor;

namespace {
boost::json::object params(const char* json) {
  return boost::json::parse(json).as_object();
}
Workflow with_tasks(std::vector<const char*> task_params) {
  Workflow wf;
  wf.id = *Uuid::parse("a3b6c9d2-1e4f-4a5b-8c7d-0e1f2a3b4c5d");
  wf.group_id = 3;
  wf.user_id = 2;
  for (const char* p : task_params) {
    Task t;
    t.id = random_uuid4();
    t.params = params(p);
    wf.tasks.push_back(t);
  }
  return wf;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(destination_test)

BOOST_AUTO_TEST_CASE(ids_come_as_numbers_decimal_strings_or_one_element_lists) {
  BOOST_TEST(*id_param(params(R"({"Dataset_ID": 51})"), "Dataset_ID") == "51");
  BOOST_TEST(*id_param(params(R"({"Dataset_ID": "51"})"), "Dataset_ID") == "51");
  BOOST_TEST(*id_param(params(R"({"Dataset_ID": [51]})"), "Dataset_ID") == "51");
  BOOST_TEST(*id_param(params(R"({"Dataset_ID": ["51"]})"), "Dataset_ID") == "51");
}

BOOST_AUTO_TEST_CASE(anything_else_is_no_id) {
  for (const char* bad : {R"({"Dataset_ID": 0})", R"({"Dataset_ID": -3})", R"({"Dataset_ID": "0"})",
                          R"({"Dataset_ID": "5 1"})", R"({"Dataset_ID": "51; DROP"})", R"({"Dataset_ID": [1, 2]})",
                          R"({"Dataset_ID": null})", R"({"Dataset_ID": "123456789012345678901"})", R"({})"}) {
    BOOST_TEST(!id_param(params(bad), "Dataset_ID").has_value(), bad);
  }
}

BOOST_AUTO_TEST_CASE(the_analysis_task_parameter_wins_then_any_task_then_the_config) {
  Workflow wf = with_tasks({R"({"Dataset_ID": 1})", R"({"Screen_ID": 2})"});
  Config cfg;
  BOOST_TEST((resolve_destination(cfg, wf, wf.tasks[1].id, "lab") == Destination{"Screen", "2"}));
  BOOST_TEST((resolve_destination(cfg, wf, std::nullopt, "lab") == Destination{"Dataset", "1"}));
  Workflow none = with_tasks({R"({})"});
  cfg.destination.id = "9";
  BOOST_TEST((resolve_destination(cfg, none, std::nullopt, "lab") == Destination{"Dataset", "9"}));
  cfg.destination.groups["lab"] = Destination{"Screen", "8"};
  BOOST_TEST((resolve_destination(cfg, none, std::nullopt, "lab") == Destination{"Screen", "8"}));
}

BOOST_AUTO_TEST_CASE(no_destination_at_all_names_the_settings_that_fix_it) {
  const Workflow none = with_tasks({R"({})"});
  try {
    (void)resolve_destination(Config{}, none, std::nullopt, "lab");
    BOOST_FAIL("expected PermanentError");
  } catch (const PermanentError& e) {
    BOOST_TEST(std::string(e.what()).find("destination.groups.lab.id nor destination.id") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(unknown_names_are_permanent_and_name_the_setting) {
  const Workflow wf = with_tasks({});
  StorageSettings storage;
  Config cfg;
  BOOST_CHECK_THROW((void)resolve_names(storage, cfg, wf), PermanentError);
  cfg.names.groups[3] = "lab";
  try {
    (void)resolve_names(storage, cfg, wf);
    BOOST_FAIL("expected PermanentError");
  } catch (const PermanentError& e) {
    BOOST_TEST(std::string(e.what()) == "unknown OMERO user id 2: add it to names.users in the reactor's config");
  }
  cfg.names.users[2] = "alice";
  const Names n = resolve_names(storage, cfg, wf);
  BOOST_TEST(n.group == "lab");
  BOOST_TEST(n.user == "alice");
}

BOOST_AUTO_TEST_SUITE_END()
