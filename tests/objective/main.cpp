#define BOOST_TEST_MODULE dsae_objective
#include <boost/test/unit_test.hpp>
