// A password in a connection string must never reach a message, whatever libpq makes of
// the string. Real libpq calls (no server is needed: each string fails while libpq parses
// it or connects to nowhere), through the program's own pg layer.
#include <libpq-fe.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "biomero_reactor/pg.hpp"

using namespace biomero_reactor;

namespace {

// The message connecting with `conninfo` fails with.
std::string connect_error(const std::string& conninfo) {
  boost::asio::io_context io;
  std::string message = "(connected)";
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        pg::Connection c(io.get_executor(), std::chrono::milliseconds(2000));
        co_await c.connect(conninfo);
      },
      [&](std::exception_ptr e) {
        try {
          if (e) std::rethrow_exception(e);
        } catch (const std::exception& error) {
          message = error.what();
        }
      });
  io.run();
  return message;
}

// What PQconninfoParse (the config check's parser) says about `conninfo`, redacted.
std::string parse_error(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options != nullptr) PQconninfoFree(options);
  std::string raw = error != nullptr ? error : "(parsed)";
  PQfreemem(error);
  return pg::redact_secrets(raw, conninfo);
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

struct Case {
  std::string conninfo;
  std::vector<std::string> secrets;  // none of these may appear
  std::string kept;                  // and this part of libpq's message must
};

const std::vector<Case> cases{
    {"postgresql://alice:s3cr%zzet@localhost/db", {"s3cr", "zzet"}, "invalid percent-encoded token"},
    {"postgresql://alice:s3cretpw@[::1/db", {"s3cretpw"}, "IPv6 host address"},
    {"postgresql://alice:p@ss%wordy@host/db", {"ss%wordy", "p@ss"}, "invalid percent-encoded token"},
    {"postgresql://alice@localhost/db?password=s3cr%zz", {"s3cr"}, "invalid percent-encoded token"},
    {"postgresql://alice:s3cretpw@localhost/db?sslmode=bogus", {"s3cretpw"}, "\"bogus\""},
    {"postgres://alice:hunter2%@db/biomero", {"hunter2"}, "invalid percent-encoded token"},
    {"host=/nonexistent-dir port=1 password='s3cr et%'", {"s3cr"}, "/nonexistent-dir"},
};

}  // namespace

BOOST_AUTO_TEST_SUITE(hostile_pg_test)

BOOST_AUTO_TEST_CASE(connecting_never_echoes_the_password) {
  for (const Case& c : cases) {
    const std::string message = connect_error(c.conninfo);
    BOOST_TEST_MESSAGE(message);
    BOOST_TEST(contains(message, "cannot connect to PostgreSQL"), message);
    BOOST_TEST(contains(message, c.kept), c.conninfo << " -> " << message);
    for (const std::string& secret : c.secrets) {
      BOOST_TEST(!contains(message, secret), c.conninfo << " -> " << message);
    }
  }
}

BOOST_AUTO_TEST_CASE(the_conninfo_parser_message_is_redacted_too) {
  for (const Case& c : cases) {
    const std::string message = parse_error(c.conninfo);
    for (const std::string& secret : c.secrets) {
      BOOST_TEST(!contains(message, secret), c.conninfo << " -> " << message);
    }
  }
  // Messages without a password are left as they are.
  BOOST_TEST(pg::redact_secrets("could not translate host name \"db\" to address", "postgresql://alice@db/x") ==
             "could not translate host name \"db\" to address");
}

BOOST_AUTO_TEST_SUITE_END()
