// Upload order planning and the order rows' JSON, without a database.
#include "biomero_reactor/orders.hpp"

#include <boost/test/unit_test.hpp>

using namespace biomero_reactor;

namespace {
const Uuid wf = *Uuid::parse("a3b6c9d2-1e4f-4a5b-8c7d-0e1f2a3b4c5d");
ImageSet set(std::vector<std::string> images, std::vector<std::string> labels) {
  ImageSet s;
  for (auto& i : images) s.images.emplace_back(i);
  for (auto& l : labels) s.label_images.emplace_back(l);
  return s;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(orders_test)

BOOST_AUTO_TEST_CASE(order_uuids_are_frozen_uuidv5_names) {
  // Deployments hold these ids in the importer's table: they must never change.
  BOOST_TEST(order_uuid(wf, "1234", "images", 1).str() == uuid5(order_namespace(), wf.str() + "/1234/images/1").str());
  BOOST_TEST(order_namespace().str() == uuid5(*Uuid::parse("6ba7b811-9dad-11d1-80b4-00c04fd430c8"),
                                              "biomero-reactor/order")
                                            .str());
  BOOST_TEST(order_uuid(wf, "1234", "images", 1) != order_uuid(wf, "1234", "images", 2));
  BOOST_TEST(order_uuid(wf, "1234", "images", 1) != order_uuid(wf, "1234", "labels", 1));
}

BOOST_AUTO_TEST_CASE(images_only_make_one_images_order) {
  const auto orders = plan_orders(wf, "7", 1, set({"/d/a.tif", "/d/b.tif"}, {}), LabelsMode::labels_only_when_present);
  BOOST_TEST_REQUIRE(orders.size() == 1U);
  BOOST_TEST(orders[0].kind == "images");
  BOOST_TEST((orders[0].files == std::vector<std::string>{"/d/a.tif", "/d/b.tif"}));
}

BOOST_AUTO_TEST_CASE(with_labels_present_only_the_labels_are_imported_by_default) {
  const auto s = set({"/d/x.zarr"}, {"/d/x.zarr/labels/0"});
  const auto orders = plan_orders(wf, "7", 1, s, LabelsMode::labels_only_when_present);
  BOOST_TEST_REQUIRE(orders.size() == 1U);
  BOOST_TEST(orders[0].kind == "labels");
  BOOST_TEST(plan_orders(wf, "7", 1, s, LabelsMode::images_and_labels).size() == 2U);
  const auto images = plan_orders(wf, "7", 1, s, LabelsMode::images_only);
  BOOST_TEST_REQUIRE(images.size() == 1U);
  BOOST_TEST(images[0].kind == "images");
}

BOOST_AUTO_TEST_CASE(nothing_to_import_plans_no_order) {
  BOOST_TEST(plan_orders(wf, "7", 1, set({}, {}), LabelsMode::images_and_labels).empty());
}

BOOST_AUTO_TEST_CASE(file_lists_are_written_as_python_json_dumps_does) {
  BOOST_TEST(python_json_list({}) == "[]");
  BOOST_TEST(python_json_list({"/d/a b.tif", "/d/\"q\".tif"}) == R"(["/d/a b.tif", "/d/\"q\".tif"])");
}

BOOST_AUTO_TEST_SUITE_END()
