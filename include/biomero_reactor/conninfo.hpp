#pragma once
// PostgreSQL connection strings as BIOMERO deployments write them: turned into what libpq
// reads, compared, and shown without their passwords.
#include <string>
#include <string_view>

#include "biomero_reactor/config.hpp"

namespace biomero_reactor {

// A libpq connection string from what BIOMERO deployments set: SQLAlchemy URLs
// (`postgresql+psycopg2://u:p@host:5432/db`) lose their `+driver`; libpq URIs and keyword
// strings (`host=db dbname=biomero`) pass through; "" stays "" (libpq's PG* defaults).
// Anything else (mysql://, sqlite://, a malformed string) is a ConfigError naming `key`
// (and `origin`, e.g. "environment SQLALCHEMY_URL", when given) whose message never holds
// the password, even where libpq's own reason would echo it.
[[nodiscard]] std::string libpq_conninfo(std::string_view url, std::string_view key = "database.events_url",
                                         std::string_view origin = {});

// The same string with its password (URI userinfo, `password=` in a keyword string or
// a URI query) replaced by ***. Fit for logs and error messages.
[[nodiscard]] std::string redact_conninfo(std::string_view conninfo);

// Whether the importer's database is the events database: the two connection strings
// name the same libpq parameters once normalised (SQLAlchemy or libpq URI or keywords).
// An empty importer_url means the events database. Throws ConfigError for a malformed URL.
[[nodiscard]] bool same_database(const Config& config);

}  // namespace biomero_reactor
