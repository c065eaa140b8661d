#define BOOST_TEST_MODULE dsae_backend
#include <boost/test/unit_test.hpp>
