#define BOOST_TEST_MODULE dsae data
#include <boost/test/unit_test.hpp>
