#define BOOST_TEST_MODULE dsae datasets
#include <boost/test/unit_test.hpp>
