#include "biomero_reactor/event_codec.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace biomero_reactor;
using namespace std::chrono;
using namespace std::string_literals;

namespace {

std::vector<StoredEvent> fixture_events() {
  std::ifstream in(BIOMERO_TEST_FIXTURES "/events.tsv", std::ios::binary);
  BOOST_TEST_REQUIRE(in.good());
  std::vector<StoredEvent> events;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    std::vector<std::string> columns;
    std::istringstream fields(line);
    for (std::string column; std::getline(fields, column, '\t');) columns.push_back(column);
    BOOST_TEST_REQUIRE(columns.size() == 5u);
    events.push_back(
        {std::stoll(columns[0]), *Uuid::parse(columns[1]), std::stoll(columns[2]), columns[3], columns[4]});
  }
  return events;
}

// The message of the CodecError that decoding `state` throws.
std::string rejection(std::string_view state) {
  try {
    (void)decode_state(state);
  } catch (const CodecError& error) {
    return error.what();
  }
  BOOST_FAIL("decode_state accepted " << state);
  return "";
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

std::string encoded(double number) {
  return encode_value(boost::json::value(number));
}

const TimePoint fixture_completed_at = sys_days(2026y / 11 / 29) + 21h + 37min + 3s + 549420us;

}  // namespace

BOOST_AUTO_TEST_SUITE(event_codec_test)

BOOST_AUTO_TEST_CASE(every_stored_biomero_event_reencodes_byte_identical) {
  const std::vector<StoredEvent> events = fixture_events();
  BOOST_TEST_REQUIRE(events.size() == 18u);
  for (const StoredEvent& event : events) {
    BOOST_TEST(encode_state(decode_state(event.state)) == event.state, "event " << event.id);
  }
}

BOOST_AUTO_TEST_CASE(typed_values_of_a_stored_event_read_back) {
  const std::vector<StoredEvent> events = fixture_events();
  const boost::json::object task_created = decode_state(events.at(1).state);
  BOOST_TEST(get_uuid(task_created, "workflow_id").value() == *Uuid::parse("da9e05d2-1741-4302-a188-311267647bcc"));
  const boost::json::object workflow_completed = decode_state(events.at(17).state);
  BOOST_TEST((get_datetime(workflow_completed, "timestamp") == fixture_completed_at));
  BOOST_TEST(encode_value(typed_datetime(fixture_completed_at)) ==
             R"({"_type_":"datetime_iso","_data_":"2026-11-29T21:37:03.549420+00:00"})");
}

BOOST_AUTO_TEST_CASE(zlib_compressed_state_is_rejected_as_not_json) {
  const std::string message = rejection("\x78\x9c\xab\x56\x4a\x54\xb2\x32\xac\x05\x00"s);
  BOOST_TEST(contains(message, "not JSON (compressed or binary?)"), message);
  BOOST_TEST(contains(message, "zlib"), message);
}

BOOST_AUTO_TEST_CASE(state_that_is_not_json_is_rejected_with_where_it_breaks) {
  const std::string garbage = rejection(
      "\x01\x02"
      "binary");
  BOOST_TEST(contains(garbage, "not JSON (compressed or binary?)"), garbage);
  BOOST_TEST(contains(garbage, "\\x01\\x02binary"), garbage);
  const std::string truncated = rejection(R"({"status":"RUNN)");
  BOOST_TEST(contains(truncated, "not JSON"), truncated);
  const std::string trailing_comma = rejection(R"({"a":1,})");
  BOOST_TEST(contains(trailing_comma, "at byte 7"), trailing_comma);
  const std::string python_nan = rejection(R"({"x":NaN})");
  BOOST_TEST(contains(python_nan, "near 'NaN}'"), python_nan);
  BOOST_TEST(contains(rejection(""), "empty"));
  BOOST_TEST(contains(rejection("{\"a\":\"\xff\"}"), "not JSON"));
}

BOOST_AUTO_TEST_CASE(json_that_is_not_an_object_is_rejected) {
  const std::string message = rejection("[1,2]");
  BOOST_TEST(contains(message, "not an object"), message);
}

BOOST_AUTO_TEST_CASE(a_malformed_typed_value_is_rejected_naming_its_field) {
  const std::string uuid =
      rejection(R"({"task_id":{"_type_":"uuid_hex","_data_":"9990f41e6c024db49a54fb25db29f2cz"}})");
  BOOST_TEST(contains(uuid, "'task_id'"), uuid);
  BOOST_TEST(contains(uuid, "not a UUID"), uuid);
  const std::string nested = rejection(R"({"p":{"list":[1,{"_type_":"uuid_hex","_data_":7}]}})");
  BOOST_TEST(contains(nested, "'p.list[1]'"), nested);
  const std::string date = rejection(R"({"timestamp":{"_type_":"datetime_iso","_data_":"2026-02-30T10:00:00+00:00"}})");
  BOOST_TEST(contains(date, "'timestamp'"), date);
  const std::string naive = rejection(R"({"timestamp":{"_type_":"datetime_iso","_data_":"2026-02-03T10:00:00"}})");
  BOOST_TEST(contains(naive, "UTC offset"), naive);
  BOOST_TEST(contains(rejection(R"({"d":{"_type_":"decimal_str","_data_":1.5}})"), "'d'"));
}

BOOST_AUTO_TEST_CASE(unknown_typed_values_and_deep_nesting_pass_through) {
  const std::string unknown =
      R"({"x":{"_type_":"result_dict","_data_":{"stdout":""}},"d":{"_type_":"decimal_str","_data_":"1.50"}})";
  BOOST_TEST(encode_state(decode_state(unknown)) == unknown);
  std::string deep = R"({"a":)" + std::string(200, '[') + std::string(200, ']') + "}";
  BOOST_TEST(encode_state(decode_state(deep)) == deep);
}

BOOST_AUTO_TEST_CASE(python_isoformat_without_fraction_decodes_to_whole_seconds) {
  const auto state = decode_state(R"({"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-29T21:37:03+00:00"}})");
  BOOST_TEST((get_datetime(state, "timestamp") == sys_days(2026y / 11 / 29) + 21h + 37min + 3s));
}

BOOST_AUTO_TEST_CASE(z_and_other_offsets_name_the_same_instant) {
  BOOST_TEST((parse_datetime("2026-11-29T21:37:03.549420Z") == fixture_completed_at));
  BOOST_TEST((parse_datetime("2026-11-29T23:37:03.549420+02:00") == fixture_completed_at));
  BOOST_TEST((parse_datetime("2026-11-29T16:07:03.549420-05:30") == fixture_completed_at));
  BOOST_TEST((parse_datetime("2026-11-30T00:00:00.5+02:00") == sys_days(2026y / 11 / 29) + 22h + 500ms));
}

BOOST_AUTO_TEST_CASE(malformed_datetimes_are_rejected) {
  for (const char* text :
       {"2026-11-29 21:37:03+00:00", "2026-11-29T21:37:03", "2026-11-29T24:00:00+00:00", "2026-11-29T21:37:03.+00:00",
        "2026-11-29T21:37:03.1234567+00:00", "2026-11-29T21:37:03+0000", "2026-13-01T00:00:00Z",
        "2026-11-29T21:37:03Z ", "2026-11-29T21:37:60Z", "26-11-29T21:37:03Z", "2026-11-29T21:37:03+24:00", ""}) {
    BOOST_TEST(!parse_datetime(text).has_value(), "accepted: '" << text << "'");
  }
}

BOOST_AUTO_TEST_CASE(the_reactor_writes_six_fraction_digits_in_utc) {
  BOOST_TEST(format_datetime(sys_days(2026y / 1 / 2) + 3h + 4min + 5s) == "2026-01-02T03:04:05.000000+00:00");
  BOOST_TEST(format_datetime(sys_days(1969y / 12 / 31) + 23h + 59min + 59s + 999999us) ==
             "1969-12-31T23:59:59.999999+00:00");
  const TimePoint before = floor<microseconds>(system_clock::now());
  const TimePoint now = now_us();
  BOOST_TEST((before <= now && now <= floor<microseconds>(system_clock::now())));
  BOOST_TEST((parse_datetime(format_datetime(now)) == now));
}

BOOST_AUTO_TEST_CASE(typed_uuid_is_the_two_key_hex_object) {
  const Uuid id = *Uuid::parse("9990f41e-6c02-4db4-9a54-fb25db29f2cd");
  BOOST_TEST(encode_value(typed_uuid(id)) == R"({"_type_":"uuid_hex","_data_":"9990f41e6c024db49a54fb25db29f2cd"})");
  boost::json::object state{{"task_id", typed_uuid(id)}, {"plain", id.hex()}, {"gone", nullptr}};
  BOOST_TEST(get_uuid(state, "task_id").value() == id);
  BOOST_TEST(!get_uuid(state, "missing").has_value());
  BOOST_TEST(!get_uuid(state, "gone").has_value());
  BOOST_CHECK_THROW((void)get_uuid(state, "plain"), CodecError);
  BOOST_CHECK_THROW((void)get_datetime(state, "task_id"), CodecError);
}

BOOST_AUTO_TEST_CASE(floats_are_written_as_python_repr) {
  // Expected strings are json.dumps(x) from Python 3.11.
  BOOST_TEST(encoded(1.5) == "1.5");
  BOOST_TEST(encoded(100.0) == "100.0");
  BOOST_TEST(encoded(0.0) == "0.0");
  BOOST_TEST(encoded(-0.0) == "-0.0");
  BOOST_TEST(encoded(1e-05) == "1e-05");
  BOOST_TEST(encoded(0.0001) == "0.0001");
  BOOST_TEST(encoded(-12.25e-5) == "-0.0001225");
  BOOST_TEST(encoded(2.5e-07) == "2.5e-07");
  BOOST_TEST(encoded(1e15) == "1000000000000000.0");
  BOOST_TEST(encoded(9999999999999998.0) == "9999999999999998.0");
  BOOST_TEST(encoded(1e16) == "1e+16");
  BOOST_TEST(encoded(1e22) == "1e+22");
  BOOST_TEST(encoded(123456789012345678.0) == "1.2345678901234568e+17");
  BOOST_TEST(encoded(1.5e300) == "1.5e+300");
  BOOST_TEST(encoded(1.7976931348623157e308) == "1.7976931348623157e+308");
  BOOST_TEST(encoded(5e-324) == "5e-324");
  BOOST_TEST(encoded(0.1) == "0.1");
  BOOST_TEST(encoded(1.0 / 3.0) == "0.3333333333333333");
  BOOST_TEST(encoded(0.1 + 0.2) == "0.30000000000000004");
  BOOST_TEST(encoded(1234.5678) == "1234.5678");
  BOOST_TEST(encoded(std::numeric_limits<double>::quiet_NaN()) == "NaN");
  BOOST_TEST(encoded(std::numeric_limits<double>::infinity()) == "Infinity");
  BOOST_TEST(encoded(-std::numeric_limits<double>::infinity()) == "-Infinity");
  BOOST_TEST(encode_state(decode_state(R"({"a":1E5,"b":1e400,"c":-0,"d":1.0})")) ==
             R"({"a":100000.0,"b":Infinity,"c":0,"d":1.0})");
}

BOOST_AUTO_TEST_CASE(strings_are_escaped_like_python_json_with_raw_utf8) {
  // json.dumps(s, ensure_ascii=False) escapes only " \ and control characters;
  // DEL, non-ASCII and U+2028 go out as raw UTF-8.
  const std::string text = "q\"b\\s/\n\r\t\b\f\0\x01\x1f\x7f \xc3\xa9\xe2\x98\x83\xf0\x9f\x98\x80\xe2\x80\xa8"s;
  const std::string python = R"("q\"b\\s/\n\r\t\b\f\u0000\u0001\u001f)"
                             "\x7f \xc3\xa9\xe2\x98\x83\xf0\x9f\x98\x80\xe2\x80\xa8\"";
  BOOST_TEST(encode_value(boost::json::value(text)) == python);
  boost::json::object keyed;
  keyed[text] = 1;
  BOOST_TEST(encode_state(keyed) == "{" + python + ":1}");
  BOOST_TEST(encode_state(decode_state("{" + python + ":1}")) == "{" + python + ":1}");
}

BOOST_AUTO_TEST_CASE(key_order_and_integers_are_kept) {
  const std::string python =
      R"({"z":1,"a":[true,false,null,-3,18446744073709551615,-9223372036854775808],"m":{"k":"v"}})";
  BOOST_TEST(encode_state(decode_state(python)) == python);
  const boost::json::object built{{"z", 1}, {"a", 2}, {"m", boost::json::object{}}};
  BOOST_TEST(encode_state(built) == R"({"z":1,"a":2,"m":{}})");
}

BOOST_AUTO_TEST_SUITE_END()
