// biomero-reactor: imports BIOMERO workflow results through BIOMERO.importer, event-driven.
#include "biomero_reactor/archive.hpp"
#include "biomero_reactor/commands.hpp"
#include "biomero_reactor/reload_signal.hpp"

int main(int argc, char** argv) {
  biomero_reactor::read_local_timezone_once();
  // Before any other thread: SIGHUP must never end the daemon.
  biomero_reactor::install_reload_signal();
  return biomero_reactor::main_with_args(argc, argv);
}
