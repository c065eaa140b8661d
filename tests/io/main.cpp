#define BOOST_TEST_MODULE dsae_io
#include <boost/test/unit_test.hpp>
