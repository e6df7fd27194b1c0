#include "biomero_reactor/errors.hpp"

#include "biomero_reactor/config.hpp"
#include "biomero_reactor/event_codec.hpp"
#include "biomero_reactor/group_storage.hpp"

namespace biomero_reactor {

bool is_permanent(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const PermanentError&) {
    return true;
  } catch (const ConfigError&) {
    return true;
  } catch (const GroupStorageError&) {
    return true;
  } catch (const CodecError&) {
    return true;
  } catch (...) {
    return false;
  }
}

bool is_unavailable(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const ServiceUnavailable&) {
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace biomero_reactor
