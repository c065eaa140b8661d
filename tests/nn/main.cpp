#define BOOST_TEST_MODULE dsae_nn
#include <boost/test/unit_test.hpp>
