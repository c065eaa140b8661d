#define BOOST_TEST_MODULE dsae_train
#include <boost/test/unit_test.hpp>
