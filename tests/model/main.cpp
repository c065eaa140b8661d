#define BOOST_TEST_MODULE dsae_model
#include <boost/test/unit_test.hpp>
