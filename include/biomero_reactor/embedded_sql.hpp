#pragma once
// The files of sql/, compiled into the binary (see cmake/embed_sql.cmake).
#include <string_view>
#include <vector>

namespace biomero_reactor {

struct EmbeddedSql {
  std::string_view name;  // e.g. "001_schema.sql"
  std::string_view text;
};

// Sorted by name; the numeric prefix is the migration version.
const std::vector<EmbeddedSql>& embedded_sql();

}  // namespace biomero_reactor
