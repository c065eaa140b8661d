#define BOOST_TEST_MODULE dsae_thrust
#include <boost/test/unit_test.hpp>
