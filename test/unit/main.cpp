#define BOOST_TEST_MODULE biomero_reactor_unit
#include <boost/test/unit_test.hpp>
