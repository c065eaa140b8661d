#define BOOST_TEST_MODULE dsae_testing
#include <boost/test/unit_test.hpp>
