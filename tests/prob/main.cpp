#define BOOST_TEST_MODULE dsae_prob
#include <boost/test/unit_test.hpp>
