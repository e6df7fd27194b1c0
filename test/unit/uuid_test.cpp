#include "biomero_reactor/uuid.hpp"

#include <boost/test/unit_test.hpp>
#include <string>

using biomero_reactor::Uuid;

namespace {

// Python: uuid.NAMESPACE_DNS, uuid.NAMESPACE_URL
const Uuid namespace_dns = *Uuid::parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8");
const Uuid namespace_url = *Uuid::parse("6ba7b811-9dad-11d1-80b4-00c04fd430c8");

}  // namespace

BOOST_AUTO_TEST_SUITE(uuid_test)

BOOST_AUTO_TEST_CASE(hyphenated_and_32_hex_forms_parse_to_the_same_bytes) {
  const auto hyphenated = Uuid::parse("da9e05d2-1741-4302-a188-311267647bcc");
  const auto hex = Uuid::parse("da9e05d217414302a188311267647bcc");
  BOOST_TEST_REQUIRE(hyphenated.has_value());
  BOOST_TEST_REQUIRE(hex.has_value());
  BOOST_TEST(*hyphenated == *hex);
  BOOST_TEST(hyphenated->bytes[0] == 0xda);
  BOOST_TEST(hyphenated->bytes[15] == 0xcc);
}

BOOST_AUTO_TEST_CASE(upper_case_input_is_written_back_lowercase) {
  const auto id = Uuid::parse("DA9E05D2-1741-4302-A188-311267647BCC");
  BOOST_TEST_REQUIRE(id.has_value());
  BOOST_TEST(id->str() == "da9e05d2-1741-4302-a188-311267647bcc");
  BOOST_TEST(id->hex() == "da9e05d217414302a188311267647bcc");
}

BOOST_AUTO_TEST_CASE(anything_but_the_two_strict_forms_is_rejected) {
  for (const std::string text : {
           "",
           "{da9e05d2-1741-4302-a188-311267647bcc}",
           "urn:uuid:da9e05d2-1741-4302-a188-311267647bcc",
           "da9e05d2-1741-4302-a188-311267647bc",
           "da9e05d2-1741-4302-a188-311267647bccc",
           "da9e05d21-741-4302-a188-311267647bcc",
           "da9e05d2-1741-4302-a188-311267647bcg",
           "da9e05d2-17414302a188311267647bcc",
           "da9e05d217414302a188311267647bc",
           "da9e05d217414302a188311267647bcc0",
           " da9e05d217414302a188311267647bc",
           "da9e05d2-1741-4302-a188-311267647bcc\n",
           "../../../../../../etc/passwd/aaaaaa",
           "da9e05d2+1741+4302+a188+311267647bcc",
       }) {
    BOOST_TEST(!Uuid::parse(text).has_value(), "accepted: '" << text << "'");
  }
  BOOST_TEST(!Uuid::parse(std::string("da9e05d217414302a188311267647bc\0", 32)).has_value());
}

BOOST_AUTO_TEST_CASE(uuid5_matches_python) {
  // uuid.uuid5(uuid.NAMESPACE_DNS, 'python.org')
  BOOST_TEST(biomero_reactor::uuid5(namespace_dns, "python.org").str() == "886313e1-3b8a-5372-9b90-0c9aee199e5d");
  // uuid.uuid5(uuid.NAMESPACE_URL, 'https://github.com/NL-BioImaging/biomero/é'): the name's UTF-8 bytes count
  BOOST_TEST(biomero_reactor::uuid5(namespace_url, "https://github.com/NL-BioImaging/biomero/\xc3\xa9").str() ==
             "76dcce54-519f-57fa-806c-7695d6c39ba2");
}

BOOST_AUTO_TEST_CASE(random_uuid4_has_version_4_variant_bits_and_differs_each_call) {
  const Uuid first = biomero_reactor::random_uuid4();
  const Uuid second = biomero_reactor::random_uuid4();
  BOOST_TEST(first != second);
  for (const Uuid& id : {first, second}) {
    BOOST_TEST(id.str()[14] == '4');
    BOOST_TEST((id.bytes[8] & 0xc0) == 0x80);
  }
}

BOOST_AUTO_TEST_CASE(ordering_follows_the_bytes) {
  const Uuid low = *Uuid::parse("00000000-0000-0000-0000-0000000000ff");
  const Uuid high = *Uuid::parse("00000000-0000-0000-0000-000000000100");
  BOOST_TEST((low < high));
  BOOST_TEST((high > low));
  BOOST_TEST(std::is_eq(low <=> low));
}

BOOST_AUTO_TEST_SUITE_END()
