#define BOOST_TEST_MODULE dsae audio
#include <boost/test/unit_test.hpp>
