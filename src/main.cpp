// biomero-reactor: imports BIOMERO workflow results through BIOMERO.importer, event-driven.
#include "biomero_reactor/archive.hpp"
#include "biomero_reactor/commands.hpp"

int main(int argc, char** argv) {
  biomero_reactor::read_local_timezone_once();
  return biomero_reactor::main_with_args(argc, argv);
}
