// Where a workflow's results go, read from BIOMERO's import script parameters.
#include "biomero_reactor/output_settings.hpp"

#include <boost/test/unit_test.hpp>

using namespace biomero_reactor;

BOOST_AUTO_TEST_SUITE(output_settings_test)

BOOST_AUTO_TEST_CASE(inputs_without_output_keys_say_nothing) {
  BOOST_TEST(!output_settings_from({{"alpha", 1}}).has_value());
}

BOOST_AUTO_TEST_CASE(a_new_dataset_name_and_the_duplicate_flag_are_taken) {
  const auto s = output_settings_from(
      {{"Output - Add as new images in NEW dataset", true}, {"New Dataset", "Run 7"}, {"Allow duplicate?", true}});
  BOOST_REQUIRE(s.has_value());
  BOOST_TEST(*s == (OutputSettings{"Dataset", std::nullopt, "Run 7", true}));
}

BOOST_AUTO_TEST_CASE(an_empty_name_becomes_imported_results) {
  const auto s = output_settings_from({{"Output - Add as new images in NEW dataset", true}, {"New Dataset", ""}});
  BOOST_TEST(s->name == "Imported_Results");
  BOOST_TEST(!s->allow_duplicate);
}

BOOST_AUTO_TEST_CASE(a_screen_is_chosen_only_without_the_dataset_choice) {
  const auto screen = output_settings_from({{"Output - Add as new images in NEW screen", true},
                                            {"New Screen", "Plates"},
                                            {"Allow duplicate screen name?", "True"},
                                            {"Screen_ID", "42"}});
  BOOST_TEST(*screen == (OutputSettings{"Screen", std::string("42"), "Plates", true}));
  const auto both = output_settings_from(
      {{"Output - Add as new images in NEW screen", true}, {"Output - Add as new images in NEW dataset", true}});
  BOOST_TEST(both->type == "Dataset");
}

BOOST_AUTO_TEST_CASE(an_explicit_dataset_id_is_kept_as_a_list_of_one_or_a_number) {
  BOOST_TEST(*output_settings_from({{"Dataset_ID", boost::json::array{17}}})->id == "17");
  BOOST_TEST(*output_settings_from({{"Dataset_ID", 18}})->id == "18");
}

BOOST_AUTO_TEST_CASE(the_detached_pollers_nested_output_settings_are_read) {
  const boost::json::object params{{"output_settings", boost::json::object{{"New Dataset", "nested"}}}};
  BOOST_TEST(output_settings_from(params)->name == "nested");
}

BOOST_AUTO_TEST_CASE(the_analysis_task_wins_and_the_default_is_imported_results) {
  Workflow wf;
  Task other, analysis;
  other.id = random_uuid4();
  other.params = {{"New Dataset", "other"}};
  analysis.id = random_uuid4();
  analysis.params = {{"New Dataset", "mine"}};
  wf.tasks = {other, analysis};
  BOOST_TEST(output_settings_of(wf, analysis.id).name == "mine");
  BOOST_TEST(output_settings_of(wf, std::nullopt).name == "other");
  BOOST_TEST(output_settings_of(Workflow{}, std::nullopt) == OutputSettings{});
}

BOOST_AUTO_TEST_CASE(rename_takes_the_users_pattern_or_biomeros_default_and_only_for_datasets) {
  const auto mine = output_settings_from({{"Rename imported files?", true}, {"Rename", "{file}NucleiLabels.{ext}"}});
  BOOST_TEST(*mine->rename_pattern == "{file}NucleiLabels.{ext}");
  const auto ticked = output_settings_from({{"Rename imported files?", "True"}});
  BOOST_TEST(*ticked->rename_pattern == "{original_file}_IMPORTED.{ext}");
  const auto emptied = output_settings_from({{"Rename imported files?", true}, {"Rename", ""}});
  BOOST_TEST(*emptied->rename_pattern == "");
  BOOST_TEST(!output_settings_from({{"Rename imported files?", false}, {"Rename", "x.{ext}"}})->rename_pattern);
  BOOST_TEST(!output_settings_from({{"New Dataset", "d"}, {"Rename", "x.{ext}"}})->rename_pattern);
  const auto screen =
      output_settings_from({{"Output - Add as new images in NEW screen", true}, {"Rename imported files?", true}});
  BOOST_TEST(!screen->rename_pattern);
}

BOOST_AUTO_TEST_SUITE_END()
