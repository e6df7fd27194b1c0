#define BOOST_TEST_MODULE biomero_reactor_integration
#include <boost/test/unit_test.hpp>
